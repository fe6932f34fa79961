// Every error a user can cause is built here, so codes stay stable and messages stay uniform.
// Tests assert on `code`; the wording may change.

/** Every code netboot reports, each a stable name: tests and scripts match on these strings. */
export const codes = Object.freeze({
  ARCHIVE_ENTRY_TOO_LARGE: 'ARCHIVE_ENTRY_TOO_LARGE',
  BAD_ARCHIVE: 'BAD_ARCHIVE',
  BAD_HOOK: 'BAD_HOOK',
  BAD_OPTION: 'BAD_OPTION',
  BAD_STEP_VALUE: 'BAD_STEP_VALUE',
  BOOT_FAILED: 'BOOT_FAILED',
  BOOT_TEST_FAILED: 'BOOT_TEST_FAILED',
  BOOT_TEST_UNSUPPORTED: 'BOOT_TEST_UNSUPPORTED',
  CACHE_CORRUPT: 'CACHE_CORRUPT',
  CACHE_ENTRY_CORRUPT: 'CACHE_ENTRY_CORRUPT',
  CACHE_LOCKED: 'CACHE_LOCKED',
  CACHE_UNUSABLE: 'CACHE_UNUSABLE',
  CONFIG_INVALID: 'CONFIG_INVALID',
  CONFIG_LOAD: 'CONFIG_LOAD',
  CONFIG_NOT_FOUND: 'CONFIG_NOT_FOUND',
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  DISK_FULL: 'DISK_FULL',
  DISK_WRITTEN: 'DISK_WRITTEN',
  DOCTOR_FAILED: 'DOCTOR_FAILED',
  DUPLICATE_ADDRESS: 'DUPLICATE_ADDRESS',
  DUPLICATE_PLUGIN: 'DUPLICATE_PLUGIN',
  DUPLICATE_STEP: 'DUPLICATE_STEP',
  FETCH_FAILED: 'FETCH_FAILED',
  FINGERPRINT_FAILED: 'FINGERPRINT_FAILED',
  GRAPH_CYCLE: 'GRAPH_CYCLE',
  HOST_NAME_RESERVED: 'HOST_NAME_RESERVED',
  IMAGE_TOO_SMALL: 'IMAGE_TOO_SMALL',
  INDEX_ENTRY_MISSING: 'INDEX_ENTRY_MISSING',
  INDEX_INVALID: 'INDEX_INVALID',
  INPUT_MODIFIED: 'INPUT_MODIFIED',
  INTERFACE_UNKNOWN: 'INTERFACE_UNKNOWN',
  INTERRUPTED: 'INTERRUPTED',
  ISCSI_STORE_OUTSIDE: 'ISCSI_STORE_OUTSIDE',
  ISCSI_STORE_SHARED: 'ISCSI_STORE_SHARED',
  LOCK_FROZEN: 'LOCK_FROZEN',
  LOCK_INVALID: 'LOCK_INVALID',
  LOCK_MISMATCH: 'LOCK_MISMATCH',
  MISSING_INPUT: 'MISSING_INPUT',
  MISSING_OUTPUT: 'MISSING_OUTPUT',
  MISSING_TOOL: 'MISSING_TOOL',
  NIGHTLY_LOCKED: 'NIGHTLY_LOCKED',
  NOT_PUBLISHED: 'NOT_PUBLISHED',
  NOTIFY_FAILED: 'NOTIFY_FAILED',
  NO_HOSTS: 'NO_HOSTS',
  NO_OFFLINE_FINGERPRINT: 'NO_OFFLINE_FINGERPRINT',
  NO_PACKAGE_MANIFEST: 'NO_PACKAGE_MANIFEST',
  NO_PREVIOUS_RELEASE: 'NO_PREVIOUS_RELEASE',
  PRIVATE_CONTENT: 'PRIVATE_CONTENT',
  PUBLISH_NO_SPACE: 'PUBLISH_NO_SPACE',
  PUBLISH_OVERLAP: 'PUBLISH_OVERLAP',
  PUBLISH_UNBUILT: 'PUBLISH_UNBUILT',
  RECIPE_FAILED: 'RECIPE_FAILED',
  RELEASE_DAMAGED: 'RELEASE_DAMAGED',
  RELOAD_FAILED: 'RELOAD_FAILED',
  REMOTE_FAILED: 'REMOTE_FAILED',
  SAN_ROOT_OVERLAP: 'SAN_ROOT_OVERLAP',
  SAN_ROOT_UNSAFE: 'SAN_ROOT_UNSAFE',
  SAN_UNSAFE_PATH: 'SAN_UNSAFE_PATH',
  SECRET_FILE_MISSING: 'SECRET_FILE_MISSING',
  SECRET_KEY_UNUSABLE: 'SECRET_KEY_UNUSABLE',
  SERVER_FAILED: 'SERVER_FAILED',
  SOURCE_CHANGED: 'SOURCE_CHANGED',
  SOURCE_MISSING: 'SOURCE_MISSING',
  SOURCE_NOT_PINNED: 'SOURCE_NOT_PINNED',
  STEP_FAILED: 'STEP_FAILED',
  TOOL_VERSION_FAILED: 'TOOL_VERSION_FAILED',
  UNKNOWN_COMMAND: 'UNKNOWN_COMMAND',
  UNKNOWN_HOST: 'UNKNOWN_HOST',
  UNKNOWN_RECIPE: 'UNKNOWN_RECIPE',
  UNKNOWN_RELEASE: 'UNKNOWN_RELEASE',
  UNKNOWN_STEP: 'UNKNOWN_STEP',
  UNSAFE_ARCHIVE_ENTRY: 'UNSAFE_ARCHIVE_ENTRY',
} as const);

export type ErrorCode = (typeof codes)[keyof typeof codes];

export type ErrorKind = 'usage' | 'config' | 'build' | 'internal';

export class NetbootError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  /** Extra lines printed under the message (log tail, hints). */
  readonly details: string[];
  constructor(code: ErrorCode, kind: ErrorKind, message: string, details: string[] = [], cause?: unknown) {
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

const make =
  (code: ErrorCode, kind: ErrorKind) =>
  (message: string, details: string[] = [], cause?: unknown) =>
    new NetbootError(code, kind, message, details, cause);

const usage = (code: ErrorCode) => make(code, 'usage');
const config = (code: ErrorCode) => make(code, 'config');
const build = (code: ErrorCode) => make(code, 'build');

export const errors = {
  // usage
  unknownCommand: (name: string) => usage(codes.UNKNOWN_COMMAND)(`unknown command "${name}" (see "netboot --help")`),
  badOption: (msg: string) => usage(codes.BAD_OPTION)(msg),
  unknownHost: (name: string, known: string[]) =>
    usage(codes.UNKNOWN_HOST)(`unknown host "${name}"; configured hosts: ${known.join(', ') || '(none)'}`),
  unknownStep: (host: string, step: string, known: string[]) =>
    usage(codes.UNKNOWN_STEP)(`host ${host} has no step "${step}"; its steps: ${known.join(', ')}`),
  noHostsSelected: () => usage(codes.NO_HOSTS)('name at least one host, or pass --all'),

  // config
  configNotFound: (from: string) =>
    config(codes.CONFIG_NOT_FOUND)(`no netboot.config.ts (or .js/.mjs) found from ${from} upwards; pass --config PATH`),
  configLoad: (file: string, msg: string, cause?: unknown) =>
    config(codes.CONFIG_LOAD)(`${file}: cannot load the config: ${msg}`, [], cause),
  configInvalid: (file: string, problems: string[]) =>
    config(codes.CONFIG_INVALID)(`${file}: ${problems[0]}`, problems.slice(1)),
  badValue: (path: string, msg: string) => config(codes.CONFIG_INVALID)(`${path}: ${msg}`),
  unknownRecipe: (path: string, name: string, known: string[]) =>
    config(codes.UNKNOWN_RECIPE)(`${path}: unknown recipe "${name}"; known recipes: ${known.join(', ')}`),
  duplicateAddress: (what: 'MAC' | 'IP', value: string, a: string, b: string) =>
    config(codes.DUPLICATE_ADDRESS)(
      `hosts.${b}.${what === 'MAC' ? 'mac' : 'ip'}: ${what} ${value} is already used by host ${a}`,
    ),
  duplicatePlugin: (name: string) =>
    config(codes.DUPLICATE_PLUGIN)(
      `plugins: two different plugins are named "${name}"; a plugin's name must be unique`,
    ),
  badHook: (path: string, msg: string) => config(codes.BAD_HOOK)(`${path}: ${msg}`),
  recipeFailed: (host: string, recipe: string, msg: string, cause?: unknown) =>
    config(codes.RECIPE_FAILED)(`host ${host}: recipe ${recipe} failed to declare its steps: ${msg}`, [], cause),
  cacheUnusable: (file: string, path: string, msg: string) =>
    config(codes.CACHE_UNUSABLE)(`${file}: cache: ${path} cannot be used: ${msg}`),
  pluginNameTaken: (name: string) =>
    config(codes.DUPLICATE_PLUGIN)(`plugins: "${name}" is the name of a built-in plugin; give yours another name`),

  // config values that reach the file system, a shell or a server config (issue 11: injection, SAN roots)
  sanRootUnsafe: (field: string, value: string, why: string) =>
    config(codes.SAN_ROOT_UNSAFE)(`${field}: "${value}" ${why}`),
  sanRootOverlap: (field: string, value: string, why: string) =>
    config(codes.SAN_ROOT_OVERLAP)(`${field}: "${value}" ${why}`),
  hostNameReserved: (field: string, why: string) =>
    config(codes.HOST_NAME_RESERVED)(`${field}: ${why}; choose another host name`),

  // graph (recipe bugs or hooks the user wrote): found before anything runs
  graphCycle: (host: string, cycle: string[]) =>
    config(codes.GRAPH_CYCLE)(`host ${host}: the steps form a cycle: ${cycle.join(' -> ')}`),
  missingInput: (host: string, step: string, input: string, ref: string) =>
    config(codes.MISSING_INPUT)(
      `host ${host}, step ${step}: input "${input}" refers to ${ref}, which no step produces`,
    ),
  duplicateStep: (host: string, step: string) =>
    config(codes.DUPLICATE_STEP)(`host ${host}: two steps are named "${step}"`),

  // build
  missingTool: (tool: string, pkg: string | undefined, host: string, step: string) =>
    build(codes.MISSING_TOOL)(
      `host ${host}, step ${step}: host tool "${tool}" is not installed${pkg ? ` (Debian package ${pkg})` : ''}`,
    ),
  stepFailed: (host: string, step: string, msg: string, tail: string[], logPath: string | undefined, cause?: unknown) =>
    build(codes.STEP_FAILED)(
      `host ${host}, step ${step} failed: ${msg}`,
      [
        ...(tail.length ? ['last log lines:', ...tail.map((l) => `  ${l}`)] : []),
        ...(logPath ? [`full log: ${logPath}`] : []),
      ],
      cause,
    ),
  missingOutput: (host: string, step: string, output: string, kind: string) =>
    build(codes.MISSING_OUTPUT)(
      `host ${host}, step ${step}: the plugin did not produce its ${kind} output "${output}"`,
    ),
  sourceChanged: (host: string, step: string, path: string) =>
    build(codes.SOURCE_CHANGED)(
      `host ${host}, step ${step}: ${path} changed while the step read it; nothing was stored, build again`,
    ),
  inputModified: (host: string, step: string, input: string) =>
    build(codes.INPUT_MODIFIED)(`host ${host}, step ${step}: the step changed its read-only input "${input}"`),
  fingerprintFailed: (host: string, step: string, msg: string, cause?: unknown) =>
    build(codes.FINGERPRINT_FAILED)(
      `host ${host}, step ${step}: cannot compute the upstream fingerprint: ${msg} ` +
        '(use --offline to reuse the last one)',
      [],
      cause,
    ),
  noOfflineFingerprint: (host: string, step: string) =>
    build(codes.NO_OFFLINE_FINGERPRINT)(
      `host ${host}, step ${step}: --offline, but this step has never been fingerprinted online`,
    ),
  archiveTooLarge: (path: string, size: number, format: string) =>
    build(codes.ARCHIVE_ENTRY_TOO_LARGE)(
      `${path}: ${size} bytes does not fit in a ${format} archive entry (limit 4 GiB - 1)`,
    ),
  /** The same error, placed: which host and step it stopped. The code is kept, so tests and scripts still see it. */
  inStep: (host: string, step: string, e: NetbootError) =>
    new NetbootError(e.code, e.kind, `host ${host}, step ${step}: ${e.message}`, e.details, e),
  /**
   * A plugin's coded error, as its step's failure: always build-kind. A value the plugin refuses
   * while it runs (CONFIG_INVALID from `badValue`) is not a config error: the config passed.
   */
  pluginFailed: (e: NetbootError, failed: NetbootError) =>
    new NetbootError(
      e.code === codes.CONFIG_INVALID ? codes.BAD_STEP_VALUE : e.code,
      'build',
      failed.message,
      [...e.details, ...failed.details],
      e,
    ),
  toolVersionFailed: (tool: string, command: string, msg: string, cause?: unknown) =>
    build(codes.TOOL_VERSION_FAILED)(
      `host tool "${tool}": \`${command}\` failed, so its version cannot enter the cache key: ${msg}`,
      [],
      cause,
    ),
  sourceMissing: (path: string) => build(codes.SOURCE_MISSING)(`${path}: no such file or directory`),
  interrupted: (signal: string) => build(codes.INTERRUPTED)(`interrupted by ${signal}; the cache is consistent`),
  cacheLocked: (path: string, msg: string) => build(codes.CACHE_LOCKED)(`${path}: ${msg}`),
  cacheCorrupt: (count: number) =>
    build(codes.CACHE_CORRUPT)(`cache verify found ${count} corrupt entr${count === 1 ? 'y' : 'ies'} (quarantined)`),
  diskFull: (path: string, tail: string[] = []) =>
    build(codes.DISK_FULL)(
      `${path}: no space left on device; nothing was added to the cache`,
      tail.length ? ['last log lines:', ...tail.map((l) => `  ${l}`)] : [],
    ),

  serverFailed: (what: string, detail: string) => build(codes.SERVER_FAILED)(`${what} did not start: ${detail}`),
  notPublished: (host: string, path: string) =>
    usage(codes.NOT_PUBLISHED)(`host ${host} is not published (${path} is missing): run netboot publish ${host} first`),
  noPackageManifest: (host: string, why: string) => usage(codes.NO_PACKAGE_MANIFEST)(`host ${host}: ${why}`),
  bootTestUnsupported: (host: string, why: string) => usage(codes.BOOT_TEST_UNSUPPORTED)(`host ${host}: ${why}`),
  bootFailed: (host: string, reason: string, tail: string[]) =>
    build(codes.BOOT_FAILED)(`host ${host} did not reach the login prompt: ${reason}`, [
      'last console lines:',
      ...tail.map((l) => `  ${l}`),
    ]),
  bootTestFailed: (host: string, id: string, live: string, firmware: string, cause: NetbootError) =>
    build(codes.BOOT_TEST_FAILED)(
      `host ${host}: release ${id} failed its boot test (${firmware}) and was not switched in; ` +
        `${live === '' ? 'nothing is live yet' : `release ${live} stays live`}: ${cause.message}`,
      cause.details,
      cause,
    ),
  nightlyLocked: (path: string, owner: string) =>
    build(codes.NIGHTLY_LOCKED)(`another netboot nightly is running (${path} is held by pid ${owner}); not starting`),
  notifyFailed: (cmd: string, why: string) =>
    build(codes.NOTIFY_FAILED)(`nightly.notify \`${cmd}\` failed: ${why} (the report is still written)`),
  doctorFailed: (packages: string[]) =>
    build(codes.DOCTOR_FAILED)(`apt-get could not install ${packages.join(' ')} (run as root, check the network)`),
  imageTooSmall: (step: string, need: number, size: number) =>
    build(codes.IMAGE_TOO_SMALL)(
      `the tree needs about ${mib(need)} but the image is ${mib(size)}; raise the image size param (step ${step})`,
    ),

  // publish
  publishOverlap: (host: string, target: string, path: string) =>
    config(codes.PUBLISH_OVERLAP)(`host ${host}: two published artifacts both put something at ${target}:${path}`),
  publishUnbuilt: (host: string, step: string) =>
    build(codes.PUBLISH_UNBUILT)(`host ${host}: cannot publish, step ${step} did not build`),
  noSpace: (host: string, path: string, need: number, free: number) =>
    build(codes.PUBLISH_NO_SPACE)(
      need || free
        ? `host ${host}: not enough space at ${path} to stage the release: ` +
            `needs ${mib(need)}, ${mib(free)} free; nothing was written and the live release is unchanged`
        : `host ${host}: ${path} ran out of space while staging the release; ` +
            'the staged copy was removed and the live release is unchanged',
    ),
  diskWritten: (host: string, root: string, path: string, release: string) =>
    build(codes.DISK_WRITTEN)(
      `host ${host}: the host wrote to its disk ${path} (${root}, release ${release}) since it was published, ` +
        'and the new release brings a new disk',
      [
        'publish with --fresh-disk to switch to the new disk; ' +
          'the written one is kept with the old release and protected from gc',
      ],
    ),
  reloadFailed: (host: string, release: string, failures: string[]) =>
    build(codes.RELOAD_FAILED)(`host ${host}: release ${release} is live, but a reload hook failed`, [
      ...failures,
      'the servers may still serve the previous release until they are reloaded by hand',
    ]),
  unknownRelease: (host: string, id: string, known: string[]) =>
    usage(codes.UNKNOWN_RELEASE)(`host ${host} has no release ${id}; its releases: ${known.join(', ') || '(none)'}`),
  nothingToRollBack: (host: string) =>
    usage(codes.NO_PREVIOUS_RELEASE)(`host ${host} has no earlier release to roll back to`),
  remoteFailed: (url: string, what: string, detail: string) =>
    build(codes.REMOTE_FAILED)(`${url}: ${what} failed: ${detail}`),

  // immutability (issue 11: read-only cache content, checked hits, checked live releases)
  manifestCorrupt: (digest: string, path: string) =>
    build(codes.CACHE_ENTRY_CORRUPT)(
      `${path}: the manifest of cached tree ${digest.slice(0, 16)} is truncated or corrupt; ` +
        'it was quarantined, build again',
    ),
  releaseDamaged: (host: string, count: number) =>
    build(codes.RELEASE_DAMAGED)(
      `host ${host}: ${count} published file${count === 1 ? ' is' : 's are'} damaged (see above); ` +
        `netboot publish ${host} repairs the live release`,
    ),

  // crash safety and signals: SAN directories netboot writes into
  sanUnsafePath: (path: string, why: string) =>
    build(codes.SAN_UNSAFE_PATH)(
      `${path} ${why}; netboot writes only into real directories it owns (remove it if it is not yours); ` +
        'nothing was written there',
    ),

  // fixed-output sources and archive extraction (plugins/freebsd). The executor reports a plugin's
  // error as STEP_FAILED with this message only, so each message carries its own hint.
  digestMismatch: (source: string, expected: string, actual: string, size: number) =>
    build(codes.DIGEST_MISMATCH)(
      `${source}: sha256 is ${actual} (${size} bytes), expected ${expected}; nothing was cached ` +
        '(if the upstream file really changed, verify it and update sha256)',
    ),
  sourceNotPinned: (where: string, source: string, hint: string) =>
    config(codes.SOURCE_NOT_PINNED)(
      `${where}: ${source} has no pinned sha256; netboot only fetches content it can verify: ` +
        `set sha256 where this source is configured${hint}`,
    ),
  fetchFailed: (source: string, reason: string, hint: string) =>
    build(codes.FETCH_FAILED)(`cannot fetch ${source}: ${reason}; ${hint}`),
  unsafeArchiveEntry: (entry: string, why: string) =>
    build(codes.UNSAFE_ARCHIVE_ENTRY)(`archive entry "${entry}" refused: ${why}; nothing was stored`),
  badArchive: (what: string) => build(codes.BAD_ARCHIVE)(`cannot extract the archive: ${what}`),

  // secrets and private content (issue 11, defects 2 and 7): nothing private is served over TFTP
  privateContent: (host: string, target: string, found: { path: string; why: string }[]) =>
    config(codes.PRIVATE_CONTENT)(
      `host ${host}: refusing to publish ${target}:${found[0].path}: ${found[0].why}; ` +
        `${target} is public, nothing was published`,
      [
        ...found.slice(1).map((f) => `also ${target}:${f.path}: ${f.why}`),
        'if that is really meant to be public, list the path in allowPublic ' +
          `(hosts.${host}.allowPublic or san.allowPublic)`,
      ],
    ),

  // netboot.lock: the digests netboot trusted on first fetch of an upstream index (issue 17)
  lockMismatch: (lock: string, index: string, name: string, locked: string, upstream: string, url: string) =>
    build(codes.LOCK_MISMATCH)(
      `${lock}: ${index}: ${name} is locked at sha256 ${locked}, but ${url} now says ${upstream}; ` +
        'nothing was changed',
      ['a released set never changes: check the mirror; if the change is genuine, remove the entry from the lock'],
    ),
  lockFrozen: (lock: string, index: string, names: string[]) =>
    config(codes.LOCK_FROZEN)(
      `${lock}: ${index}: ${names.join(', ')} not in the lock, and --frozen forbids adding them; ` +
        'run once without --frozen and commit the lock',
    ),
  lockInvalid: (lock: string, why: string) => config(codes.LOCK_INVALID)(`${lock}: ${why}`),
  indexInvalid: (url: string, why: string) => build(codes.INDEX_INVALID)(`${url}: ${why}`),
  indexEntryMissing: (url: string, name: string, where: string) =>
    build(codes.INDEX_ENTRY_MISSING)(`${url} has no ${name} (asked for by ${where})`),
  secretKeyUnusable: (path: string, msg: string) =>
    build(codes.SECRET_KEY_UNUSABLE)(`${path}: the cache's secret key cannot be used: ${msg}`),

  // the SAN's site configs and `netboot serve` (issue 16)
  iscsiStoreShared: (file: string, store: string, a: string, b: string) =>
    config(codes.ISCSI_STORE_SHARED)(
      `${file}: san.iscsi.disks.${b}: backing store ${store} is already the disk of host ${a}; ` +
        'each host needs its own (nothing was published)',
    ),
  iscsiStoreOutside: (file: string, host: string, store: string, root: string) =>
    config(codes.ISCSI_STORE_OUTSIDE)(
      `${file}: san.iscsi.disks.${host}.backingStore: ${store} is outside the storage root ${root} ` +
        '(san.iscsi.storage); only a block device under /dev or a file below the storage root is served',
    ),
  secretFileMissing: (file: string, host: string, secretFile: string, why: string) =>
    config(codes.SECRET_FILE_MISSING)(
      `${file}: san.iscsi.disks.${host}.secretFile: ${secretFile} ${why} (the CHAP secret of host ${host}); ` +
        'nothing was published',
    ),
  interfaceUnknown: (file: string, name: string, known: string[]) =>
    usage(codes.INTERFACE_UNKNOWN)(
      `--interface ${name}: no such network interface on this machine (serving the site of ${file}); ` +
        `interfaces here: ${known.join(', ') || '(none)'}`,
    ),
};

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function isNetbootError(e: unknown): e is NetbootError {
  return e instanceof NetbootError;
}
