// Every error a user can cause is built here, so codes stay stable and messages stay uniform.
// Tests assert on `code`; the wording may change.

export type ErrorKind = 'usage' | 'config' | 'build' | 'internal';

export class NetbootError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  /** Extra lines printed under the message (log tail, hints). */
  readonly details: string[];
  constructor(code: string, kind: ErrorKind, message: string, details: string[] = [], cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'NetbootError';
    this.code = code;
    this.kind = kind;
    this.details = details;
  }
  /** 2 for usage and config errors, 1 for anything that failed while building. */
  get exitCode(): number {
    return this.kind === 'usage' || this.kind === 'config' ? 2 : 1;
  }
}

const make = (code: string, kind: ErrorKind) =>
  (message: string, details: string[] = [], cause?: unknown) => new NetbootError(code, kind, message, details, cause);

const usage = (code: string) => make(code, 'usage');
const config = (code: string) => make(code, 'config');
const build = (code: string) => make(code, 'build');

export const errors = {
  // usage
  unknownCommand: (name: string) => usage('UNKNOWN_COMMAND')(`unknown command "${name}" (see "netboot --help")`),
  badOption: (msg: string) => usage('BAD_OPTION')(msg),
  unknownHost: (name: string, known: string[]) =>
    usage('UNKNOWN_HOST')(`unknown host "${name}"; configured hosts: ${known.join(', ') || '(none)'}`),
  unknownStep: (host: string, step: string, known: string[]) =>
    usage('UNKNOWN_STEP')(`host ${host} has no step "${step}"; its steps: ${known.join(', ')}`),
  noHostsSelected: () => usage('NO_HOSTS')('name at least one host, or pass --all'),

  // config
  configNotFound: (from: string) =>
    config('CONFIG_NOT_FOUND')(`no netboot.config.ts (or .js/.mjs) found from ${from} upwards; pass --config PATH`),
  configLoad: (file: string, msg: string, cause?: unknown) =>
    config('CONFIG_LOAD')(`${file}: cannot load the config: ${msg}`, [], cause),
  configInvalid: (file: string, problems: string[]) =>
    config('CONFIG_INVALID')(`${file}: ${problems[0]}`, problems.slice(1)),
  badValue: (path: string, msg: string) => config('CONFIG_INVALID')(`${path}: ${msg}`),
  unknownRecipe: (path: string, name: string, known: string[]) =>
    config('UNKNOWN_RECIPE')(`${path}: unknown recipe "${name}"; known recipes: ${known.join(', ')}`),
  duplicateAddress: (what: 'MAC' | 'IP', value: string, a: string, b: string) =>
    config('DUPLICATE_ADDRESS')(`hosts.${b}.${what === 'MAC' ? 'mac' : 'ip'}: ${what} ${value} is already used by host ${a}`),
  duplicatePlugin: (name: string) => config('DUPLICATE_PLUGIN')(`plugins: two different plugins are named "${name}"; a plugin's name must be unique`),
  badHook: (path: string, msg: string) => config('BAD_HOOK')(`${path}: ${msg}`),
  recipeFailed: (host: string, recipe: string, msg: string, cause?: unknown) =>
    config('RECIPE_FAILED')(`host ${host}: recipe ${recipe} failed to declare its steps: ${msg}`, [], cause),
  cacheUnusable: (file: string, path: string, msg: string) => config('CACHE_UNUSABLE')(`${file}: cache: ${path} cannot be used: ${msg}`),
  pluginNameTaken: (name: string) => config('DUPLICATE_PLUGIN')(`plugins: "${name}" is the name of a built-in plugin; give yours another name`),

  // config values that reach the file system, a shell or a server config (issue 11: injection, SAN roots)
  sanRootUnsafe: (field: string, value: string, why: string) => config('SAN_ROOT_UNSAFE')(`${field}: "${value}" ${why}`),
  sanRootOverlap: (field: string, value: string, why: string) => config('SAN_ROOT_OVERLAP')(`${field}: "${value}" ${why}`),
  hostNameReserved: (field: string, why: string) => config('HOST_NAME_RESERVED')(`${field}: ${why}; choose another host name`),

  // graph (recipe bugs or hooks the user wrote): found before anything runs
  graphCycle: (host: string, cycle: string[]) =>
    config('GRAPH_CYCLE')(`host ${host}: the steps form a cycle: ${cycle.join(' -> ')}`),
  missingInput: (host: string, step: string, input: string, ref: string) =>
    config('MISSING_INPUT')(`host ${host}, step ${step}: input "${input}" refers to ${ref}, which no step produces`),
  duplicateStep: (host: string, step: string) => config('DUPLICATE_STEP')(`host ${host}: two steps are named "${step}"`),

  // build
  missingTool: (tool: string, pkg: string | undefined, host: string, step: string) =>
    build('MISSING_TOOL')(
      `host ${host}, step ${step}: host tool "${tool}" is not installed` + (pkg ? ` (Debian package ${pkg})` : ''),
    ),
  stepFailed: (host: string, step: string, msg: string, tail: string[], logPath: string | undefined, cause?: unknown) =>
    build('STEP_FAILED')(
      `host ${host}, step ${step} failed: ${msg}`,
      [...(tail.length ? ['last log lines:', ...tail.map((l) => '  ' + l)] : []), ...(logPath ? [`full log: ${logPath}`] : [])],
      cause,
    ),
  missingOutput: (host: string, step: string, output: string, kind: string) =>
    build('MISSING_OUTPUT')(`host ${host}, step ${step}: the plugin did not produce its ${kind} output "${output}"`),
  sourceChanged: (host: string, step: string, path: string) =>
    build('SOURCE_CHANGED')(`host ${host}, step ${step}: ${path} changed while the step read it; nothing was stored, build again`),
  inputModified: (host: string, step: string, input: string) =>
    build('INPUT_MODIFIED')(`host ${host}, step ${step}: the step changed its read-only input "${input}"`),
  fingerprintFailed: (host: string, step: string, msg: string, cause?: unknown) =>
    build('FINGERPRINT_FAILED')(
      `host ${host}, step ${step}: cannot compute the upstream fingerprint: ${msg} (use --offline to reuse the last one)`,
      [],
      cause,
    ),
  noOfflineFingerprint: (host: string, step: string) =>
    build('NO_OFFLINE_FINGERPRINT')(`host ${host}, step ${step}: --offline, but this step has never been fingerprinted online`),
  archiveTooLarge: (path: string, size: number, format: string) =>
    build('ARCHIVE_ENTRY_TOO_LARGE')(`${path}: ${size} bytes does not fit in a ${format} archive entry (limit 4 GiB - 1)`),
  /** The same error, placed: which host and step it stopped. The code is kept, so tests and scripts still see it. */
  inStep: (host: string, step: string, e: NetbootError) => new NetbootError(e.code, e.kind, `host ${host}, step ${step}: ${e.message}`, e.details, e),
  sourceMissing: (path: string) => build('SOURCE_MISSING')(`${path}: no such file or directory`),
  interrupted: (signal: string) => build('INTERRUPTED')(`interrupted by ${signal}; the cache is consistent`),
  cacheLocked: (path: string, msg: string) => build('CACHE_LOCKED')(`${path}: ${msg}`),
  cacheCorrupt: (count: number) => build('CACHE_CORRUPT')(`cache verify found ${count} corrupt entr${count === 1 ? 'y' : 'ies'} (quarantined)`),
  diskFull: (path: string, tail: string[] = []) =>
    build('DISK_FULL')(
      `${path}: no space left on device; nothing was added to the cache`,
      tail.length ? ['last log lines:', ...tail.map((l) => '  ' + l)] : [],
    ),

  serverFailed: (what: string, detail: string) => build('SERVER_FAILED')(`${what} did not start: ${detail}`),
  notPublished: (host: string, path: string) => usage('NOT_PUBLISHED')(`host ${host} is not published (${path} is missing): run netboot publish ${host} first`),
  bootTestUnsupported: (host: string, why: string) => usage('BOOT_TEST_UNSUPPORTED')(`host ${host}: ${why}`),
  bootFailed: (host: string, reason: string, tail: string[]) =>
    build('BOOT_FAILED')(`host ${host} did not reach the login prompt: ${reason}`, ['last console lines:', ...tail.map((l) => `  ${l}`)]),
  doctorFailed: (packages: string[]) => build('DOCTOR_FAILED')(`apt-get could not install ${packages.join(' ')} (run as root, check the network)`),
  imageTooSmall: (step: string, need: number, size: number) =>
    build('IMAGE_TOO_SMALL')(`the tree needs about ${mib(need)} but the image is ${mib(size)}; raise the image size param (step ${step})`),

  // publish
  publishOverlap: (host: string, target: string, path: string) =>
    config('PUBLISH_OVERLAP')(`host ${host}: two published artifacts both put something at ${target}:${path}`),
  publishUnbuilt: (host: string, step: string) => build('PUBLISH_UNBUILT')(`host ${host}: cannot publish, step ${step} did not build`),
  noSpace: (host: string, path: string, need: number, free: number) =>
    build('PUBLISH_NO_SPACE')(
      need || free
        ? `host ${host}: not enough space at ${path} to stage the release: needs ${mib(need)}, ${mib(free)} free; nothing was written and the live release is unchanged`
        : `host ${host}: ${path} ran out of space while staging the release; the staged copy was removed and the live release is unchanged`,
    ),
  diskWritten: (host: string, root: string, path: string, release: string) =>
    build('DISK_WRITTEN')(
      `host ${host}: the host wrote to its disk ${path} (${root}, release ${release}) since it was published, and the new release brings a new disk`,
      ['publish with --fresh-disk to switch to the new disk; the written one is kept with the old release and protected from gc'],
    ),
  reloadFailed: (host: string, release: string, failures: string[]) =>
    build('RELOAD_FAILED')(`host ${host}: release ${release} is live, but a reload hook failed`, [
      ...failures,
      'the servers may still serve the previous release until they are reloaded by hand',
    ]),
  unknownRelease: (host: string, id: string, known: string[]) =>
    usage('UNKNOWN_RELEASE')(`host ${host} has no release ${id}; its releases: ${known.join(', ') || '(none)'}`),
  nothingToRollBack: (host: string) => usage('NO_PREVIOUS_RELEASE')(`host ${host} has no earlier release to roll back to`),
  remoteFailed: (url: string, what: string, detail: string) => build('REMOTE_FAILED')(`${url}: ${what} failed: ${detail}`),

  // immutability (issue 11: read-only cache content, checked hits, checked live releases)
  manifestCorrupt: (digest: string, path: string) =>
    build('CACHE_ENTRY_CORRUPT')(
      `${path}: the manifest of cached tree ${digest.slice(0, 16)} is truncated or corrupt; ` +
        'it was quarantined, build again',
    ),
  releaseDamaged: (host: string, count: number) =>
    build('RELEASE_DAMAGED')(
      `host ${host}: ${count} published file${count === 1 ? ' is' : 's are'} damaged (see above); ` +
        `netboot publish ${host} repairs the live release`,
    ),

  // crash safety and signals: SAN directories netboot writes into
  sanUnsafePath: (path: string, why: string) =>
    build('SAN_UNSAFE_PATH')(
      `${path} ${why}; netboot writes only into real directories it owns (remove it if it is not yours); nothing was written there`,
    ),

  // fixed-output sources and archive extraction (plugins/freebsd). The executor reports a plugin's
  // error as STEP_FAILED with this message only, so each message carries its own hint.
  digestMismatch: (source: string, expected: string, actual: string, size: number) =>
    build('DIGEST_MISMATCH')(
      `${source}: sha256 is ${actual} (${size} bytes), expected ${expected}; nothing was cached (if the upstream file really changed, verify it and update sha256)`,
    ),
  sourceNotPinned: (where: string, source: string, hint: string) =>
    config('SOURCE_NOT_PINNED')(`${where}: ${source} has no pinned sha256; netboot only fetches content it can verify: set sha256 where this source is configured${hint}`),
  fetchFailed: (source: string, reason: string, hint: string) => build('FETCH_FAILED')(`cannot fetch ${source}: ${reason}; ${hint}`),
  unsafeArchiveEntry: (entry: string, why: string) =>
    build('UNSAFE_ARCHIVE_ENTRY')(`archive entry "${entry}" refused: ${why}; nothing was stored`),
  badArchive: (what: string) => build('BAD_ARCHIVE')(`cannot extract the archive: ${what}`),

  // secrets and private content (issue 11, defects 2 and 7): nothing private is served over TFTP
  privateContent: (host: string, target: string, found: { path: string; why: string }[]) =>
    config('PRIVATE_CONTENT')(
      `host ${host}: refusing to publish ${target}:${found[0].path}: ${found[0].why}; ${target} is public, nothing was published`,
      [
        ...found.slice(1).map((f) => `also ${target}:${f.path}: ${f.why}`),
        `if that is really meant to be public, list the path in allowPublic (hosts.${host}.allowPublic or san.allowPublic)`,
      ],
    ),
  secretKeyUnusable: (path: string, msg: string) => build('SECRET_KEY_UNUSABLE')(`${path}: the cache's secret key cannot be used: ${msg}`),
};

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function isNetbootError(e: unknown): e is NetbootError {
  return e instanceof NetbootError;
}
