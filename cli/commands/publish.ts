import { join } from 'node:path';
import { errors, isNetbootError } from '../../base/errors.js';
import { BOOT_FIRMWARES, type BootFirmware } from '../../boot/ovmf.js';
import { acquire } from '../../cache/lock.js';
import type { HostGraph } from '../../core/graph.js';
import type { Artifact } from '../../core/plugin.js';
import type { TargetName } from '../../core/recipe.js';
import type { StepReport } from '../../core/reporter.js';
import { liveId } from '../../publish/diff.js';
import { type HostPublish, type PublishOptions, publishHost, SWITCH_ORDER } from '../../publish/publisher.js';
import { listReleases } from '../../publish/release-list.js';
import { rollback as rollBack } from '../../publish/rollback.js';
import type { Target } from '../../publish/target.js';
import { withTargets } from '../../publish/targets.js';
import type { Command, CommandContext, Parsed } from '../command.js';
import { Session } from '../session.js';
import { checkSiteDisks, publishSiteOf } from '../site.js';
import { bootBeforeSwitch } from '../staged-boot.js';
import { buildOptions, printFailures, reportsJson, runEngine } from './build.js';

const kib = (n: number) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

/** Builds the hosts, then publishes each one that built: the shared path of `publish` and `build --publish`. */
export async function buildAndPublish(args: Parsed, ctx: CommandContext): Promise<number> {
  const { session, graphs, reports } = await runEngine(args, ctx, 'build', args.positionals, !!args.values.all);
  const json = !!args.values.json;
  if (reports.some((r) => r.outcome === 'failed' || r.outcome === 'skipped')) {
    if (json) ctx.io.out(JSON.stringify({ ok: false, steps: reportsJson(reports), published: [] }, null, 2));
    else printFailures(ctx, reports);
    return 1;
  }
  await checkSiteDisks(session.config);
  const published: HostPublish[] = [];
  const failures: unknown[] = [];
  await withTargets(session.config.san, session.cache, async (targets) => {
    for (const g of graphs) {
      try {
        const boot = args.values['boot-test'] ? await bootOptions(args, ctx, session, g.host.name, targets) : undefined;
        const res = await publishOne(session, g, reports, targets, ctx, {
          freshDisk: !!args.values['fresh-disk'],
          verify: !!args.values.verify,
          beforeSwitch: boot,
        });
        published.push(res);
        if (!json) ctx.io.out(describe(res));
      } catch (e) {
        failures.push(e);
      }
    }
  });
  // The site after the hosts: it is made of their live configs, so it never names a release not yet live.
  const site = failures.length ? undefined : await publishSiteLocked(session, ctx);
  if (json)
    ctx.io.out(JSON.stringify({ ok: failures.length === 0, steps: reportsJson(reports), published, site }, null, 2));
  else if (site?.changed) ctx.io.out(`site: release ${site.id} is live (${site.hosts.join(', ') || 'no hosts'})`);
  if (failures.length) throw failures[0];
  return 0;
}

/** Publishes the site release (every live host's server configs) under its own lock. */
export async function publishSiteLocked(session: Session, ctx: CommandContext) {
  const lock = await acquire(join(session.cache.dir('locks'), 'publish-site.lock'), { signal: ctx.signal });
  try {
    return await publishSiteOf(session.config, session.cache, (l) => ctx.io.err(`netboot: note: ${l}`));
  } finally {
    await lock?.release();
  }
}

/** Publishes one built host under its publish lock, with the config's keep, reload and allowPublic. */
export async function publishOne(
  session: Session,
  g: HostGraph,
  reports: StepReport[],
  targets: Record<TargetName, Target>,
  ctx: CommandContext,
  o: Pick<PublishOptions, 'freshDisk' | 'verify' | 'beforeSwitch'>,
): Promise<HostPublish> {
  const outputs = new Map<string, Record<string, Artifact>>();
  for (const r of reports) if (r.host === g.host.name && r.outputs) outputs.set(r.step, r.outputs);
  const lock = await acquire(join(session.cache.dir('locks'), `publish-${g.host.name}.lock`), {
    signal: ctx.signal,
  });
  try {
    return await publishHost(g, outputs, targets, session.cache, {
      ...o,
      keep: session.config.san.keep,
      reload: session.config.san.reload,
      notice: (l) => ctx.io.err(`netboot: note: ${l}`),
      allowPublic: [...session.config.san.allowPublic, ...session.config.hosts.get(g.host.name)!.allowPublic],
    });
  } finally {
    await lock?.release();
  }
}

/** `--boot-test`: the firmwares of --firmware, else of nightly.bootTest, else bios; boot output on stderr. */
async function bootOptions(
  args: Parsed,
  ctx: CommandContext,
  session: Session,
  host: string,
  targets: Record<TargetName, Target>,
): Promise<PublishOptions['beforeSwitch']> {
  const fw = args.values.firmware as string | undefined;
  const firmwares = fw
    ? (fw.split(',') as BootFirmware[])
    : (session.config.nightly.bootTest[host] ?? (['bios'] as BootFirmware[]));
  for (const f of firmwares)
    if (!BOOT_FIRMWARES.includes(f))
      throw errors.badOption(`--firmware: "${f}" is not one of ${BOOT_FIRMWARES.join(', ')}`);
  const live =
    (await liveId(
      host,
      SWITCH_ORDER.map((n) => targets[n]),
    )) ?? '';
  return bootBeforeSwitch(session, ctx, {
    firmwares,
    timeout: session.config.nightly.bootTimeout,
    live,
    out: (l) => ctx.io.err(`netboot: ${l}`),
    passed: [],
  });
}

function describe(r: HostPublish): string {
  if (!r.changed)
    return `${r.host}: unchanged, release ${r.targets
      .map((t) => t.id)
      .sort()
      .pop()} stays live`;
  const parts = r.targets.map((t) =>
    t.changed && t.stage
      ? `${t.target} ${t.stage.linked} linked, ${t.stage.copied} copied, ${kib(t.stage.bytesWritten)} written`
      : `${t.target} unchanged`,
  );
  const fixed = r.repaired.length ? `; repaired ${r.repaired.map((d) => `${d.target}:${d.path}`).join(', ')}` : '';
  const pruned = r.pruned.length ? `; pruned ${r.pruned.join(', ')}` : '';
  return `${r.host}: release ${r.id} is live (${parts.join('; ')})${fixed}${pruned}`;
}

export const publish: Command = {
  summary: 'Build the hosts, stage each new release beside the live one and switch to it atomically.',
  usage:
    'netboot publish <host...> | --all [--boot-test [--firmware bios,uefi]] [--fresh-disk] [--verify] [--jobs N]' +
    ' [--offline] [--json]',
  options: {
    ...buildOptions,
    'fresh-disk': { type: 'boolean' },
    'boot-test': { type: 'boolean' },
    firmware: { type: 'string' },
  },
  run: buildAndPublish,
};

interface HostTargets {
  session: Session;
  host: string;
  targets: Target[];
}

async function withHost<T>(args: Parsed, ctx: CommandContext, fn: (h: HostTargets) => Promise<T>): Promise<T> {
  const session = await Session.open({
    config: args.values.config as string | undefined,
    cwd: ctx.io.cwd,
    warn: ctx.warn,
  });
  const host = args.positionals[0];
  if (!host) throw errors.badOption('name a host');
  if (!session.config.hosts.has(host)) throw errors.unknownHost(host, session.hostNames());
  return withTargets(session.config.san, session.cache, (all) =>
    fn({ session, host, targets: SWITCH_ORDER.map((n) => all[n]) }),
  );
}

export const releases: Command = {
  summary: "List a host's releases on the SAN, and which one each target serves; --verify re-hashes them.",
  usage: 'netboot releases <host> [--verify] [--json]',
  options: { verify: { type: 'boolean' } },
  run: (args, ctx) =>
    withHost(args, ctx, async ({ host, targets }) => {
      const rows = await listReleases(host, targets, !!args.values.verify);
      if (args.values.json) ctx.io.out(JSON.stringify({ host, releases: rows }, null, 2));
      else if (!rows.length) ctx.io.out(`${host}: never published`);
      else
        for (const r of rows) {
          const live = r.live.length ? `  live: ${r.live.join(',')}` : '';
          ctx.io.out(`${r.id}  ${r.createdAt}  ${r.targets.join(',')}${live}`);
          for (const [t, d] of Object.entries(r.damaged ?? {}))
            if (d === 'not checked') ctx.io.out(`  ${t}: not checked (a remote target)`);
            else for (const x of d) ctx.io.out(`  ${t}: ${x.path}: ${x.problem}`);
        }
      let bad = 0;
      for (const r of rows) for (const d of Object.values(r.damaged ?? {})) if (d !== 'not checked') bad += d.length;
      if (bad) throw errors.releaseDamaged(host, bad);
      return 0;
    }),
};

export const rollback: Command = {
  summary: 'Make an earlier release live again (default: the newest one older than the live one).',
  usage: 'netboot rollback <host> [release]',
  options: {},
  run: (args, ctx) =>
    withHost(args, ctx, async ({ session, host, targets }) => {
      const want = await rollBack(host, targets, {
        want: args.positionals[1]?.padStart(6, '0'),
        reload: session.config.san.reload,
        cache: session.cache,
        signal: ctx.signal,
      });
      ctx.io.out(`${host}: release ${want} is live again`);
      // The site is made of the live configs: it follows the host back. If it cannot, the host is
      // still rolled back, and the error says so rather than "nothing was published".
      try {
        const site = await publishSiteLocked(session, ctx);
        if (site?.changed) ctx.io.out(`site: release ${site.id} is live (${site.hosts.join(', ') || 'no hosts'})`);
      } catch (e) {
        if (!isNetbootError(e)) throw e;
        ctx.io.err(`netboot: error [${e.code}]: ${host} is live on release ${want}, but the site was not updated:`);
        ctx.io.err(`  ${e.message}`);
        return 1;
      }
      return 0;
    }),
};
