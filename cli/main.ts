import { type ParseArgsConfig, parseArgs } from 'node:util';
import { codes, errors, isNetbootError } from '../base/errors.js';
import type { Command, Io, Parsed } from './command.js';
import { Profiler } from './profile.js';

type Options = NonNullable<ParseArgsConfig['options']>;
const GLOBAL: Options = {
  config: { type: 'string', short: 'c' },
  debug: { type: 'boolean' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  profile: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const COMMANDS: Record<string, () => Promise<Command>> = {
  build: async () => (await import('./commands/build.js')).build,
  status: async () => (await import('./commands/build.js')).status,
  explain: async () => (await import('./commands/explain.js')).explain,
  graph: async () => (await import('./commands/graph.js')).graph,
  ls: async () => (await import('./commands/ls.js')).ls,
  packages: async () => (await import('./commands/packages.js')).packages,
  diff: async () => (await import('./commands/diff.js')).diff,
  nightly: async () => (await import('./commands/nightly.js')).nightly,
  doctor: async () => (await import('./commands/doctor.js')).doctor,
  'boot-test': async () => (await import('./commands/boot-test.js')).bootTest,
  publish: async () => (await import('./commands/publish.js')).publish,
  releases: async () => (await import('./commands/publish.js')).releases,
  rollback: async () => (await import('./commands/publish.js')).rollback,
  serve: async () => (await import('./commands/serve.js')).serve,
  gc: async () => (await import('./commands/cache.js')).gc,
  cache: async () => (await import('./commands/cache.js')).cache,
};

const HELP = `netboot: build and publish diskless boot artifacts

usage: netboot <command> [options]

commands:
  build <host...> | --all   build hosts' artifacts (only steps whose inputs changed run)
  status [host...]          what is stale and why, without running anything
  explain <host> [step]     which part of each step's key changed since the last build
  publish <host...> | --all build, then switch each host to its new release atomically
  releases <host>           a host's releases on the SAN, and which is live (--verify: re-hash them)
  rollback <host> [release] make an earlier release live again
  serve                     run dnsmasq, nbd-server, NFS and tgtd for the published site (--dhcp, --interface)
  graph <host>              the step graph (--format mermaid|dot)
  ls                        hosts, recipes and plugins
  packages <host>           the packages in the host's last built root (name, version, arch, source)
  diff <host> [from] [to]   what changed: packages (versions) and files per target (--files, --json)
  nightly                   build all, boot-test, publish what boots, report (--install-timer)
  doctor [--fix]            host tools the recipes need, and which are missing (--fix: apt-get them)
  boot-test <host>          PXE-boot the published release in qemu and wait for login:
  gc                        remove cache entries nothing needs (--max-size, --keep-days)
  cache verify              re-hash the cache; quarantine corrupt entries
  cache pull|push <host...> seed the local cache from the remote one, or the remote from it

global options:
  -c, --config PATH   config file (default: netboot.config.ts, searched upwards)
  --json              machine-readable output (build, status, explain)
  -v, --verbose       replay cached steps' logs
  --profile FILE      write a Chrome trace of the run (open in Perfetto)
  --debug             stack traces on errors
`;

/**
 * The command's name and its arguments. Global options may come before the command
 * (`netboot --config F build`) as well as after it: the leading ones are moved behind it.
 */
export function splitCommand(argv: string[]): { name?: string; args: string[] } {
  const takesValue = new Set(
    Object.entries(GLOBAL).flatMap(([k, o]) =>
      o.type === 'string' ? [`--${k}`, ...(o.short ? [`-${o.short}`] : [])] : [],
    ),
  );
  let i = 0;
  while (i < argv.length && argv[i].startsWith('-') && argv[i] !== '--') i += takesValue.has(argv[i]) ? 2 : 1;
  return { name: argv[i], args: [...argv.slice(0, i), ...argv.slice(i + 1)] };
}

export async function main(argv: string[], io: Io, signal: AbortSignal): Promise<number> {
  const { name, args } = splitCommand(argv);
  const wantsHelp = args.includes('--help') || args.includes('-h');
  if (!name || name === '--' || name === 'help') {
    io.out(HELP);
    return name || wantsHelp ? 0 : 2;
  }
  let debug = argv.includes('--debug');
  try {
    const load = COMMANDS[name];
    if (!load) throw errors.unknownCommand(name);
    const cmd = await load();
    let parsed: Parsed;
    try {
      parsed = parseArgs({
        args,
        options: { ...GLOBAL, ...cmd.options },
        allowPositionals: true,
        strict: true,
      }) as Parsed;
    } catch (e) {
      throw errors.badOption(`${(e as Error).message} (usage: ${cmd.usage})`);
    }
    debug = !!parsed.values.debug;
    if (parsed.values.help) {
      io.out(`usage: ${cmd.usage}\n${cmd.summary}`);
      return 0;
    }
    const profiler = typeof parsed.values.profile === 'string' ? new Profiler() : undefined;
    try {
      return await cmd.run(parsed, { io, argv, profiler, signal, warn: (m) => io.err(`netboot: warning: ${m}`) });
    } finally {
      if (profiler) profiler.write(parsed.values.profile as string);
    }
  } catch (e) {
    return report(e, io, debug, signal);
  }
}

/** One clear message (and its details) on stderr; a stack trace only with --debug. */
export function report(e: unknown, io: Io, debug: boolean, signal?: AbortSignal): number {
  if (signal?.aborted && !(isNetbootError(e) && e.code !== codes.INTERRUPTED))
    e = errors.interrupted(String(signal.reason ?? 'signal'));
  if (isNetbootError(e)) {
    io.err(`netboot: error [${e.code}]: ${e.message}`);
    for (const d of e.details) io.err(`  ${d}`);
    if (debug && (e.cause ?? e.stack)) io.err(String((e.cause as Error)?.stack ?? e.stack));
    // As a shell reports death by a signal: 128 + its number.
    if (e.code === codes.INTERRUPTED) return String(signal?.reason) === 'SIGTERM' ? 143 : 130;
    return e.exitCode;
  }
  io.err(`netboot: internal error: ${(e as Error)?.message ?? String(e)}`);
  if (debug) io.err(String((e as Error)?.stack ?? ''));
  else io.err('  (run again with --debug for a stack trace)');
  return 1;
}
