// `netboot cache pull|push <host...> | --all`: seeding a remote cache, or a local one from it,
// explicitly. A pull runs no step; a push sends what the local cache has for the hosts' current
// keys. Private steps (secrets, and what is made from them) are never pushed.
import { errors } from '../../base/errors.js';
import { registerBuild } from '../../cache/lock.js';
import { RemoteCache } from '../../cache/remote/remote-cache.js';
import { isPrivate } from '../../core/engine.js';
import type { Reporter } from '../../core/reporter.js';
import type { CommandContext, Parsed } from '../command.js';
import { Session } from '../session.js';

const quiet: Reporter = { running() {}, step() {}, replay() {}, done: async () => {} };

async function open(args: Parsed, ctx: CommandContext) {
  const session = await Session.open({
    config: args.values.config as string | undefined,
    cwd: ctx.io.cwd,
    warn: ctx.warn,
  });
  if (!session.config.remote)
    throw errors.badOption(`${session.config.file}: cache.remote is not configured: there is no remote cache`);
  const graphs = session.select(args.positionals.slice(1), !!args.values.all).map((h) => session.graph(h));
  return { session, graphs };
}

export async function cachePull(args: Parsed, ctx: CommandContext): Promise<number> {
  const { session, graphs } = await open(args, ctx);
  const engine = await session.engine({
    jobs: Session.defaultJobs(),
    offline: !!args.values.offline,
    mode: 'build',
    verbose: false,
    reporter: quiet,
    signal: ctx.signal,
    pullOnly: true,
    remoteRequired: true,
  });
  const registration = await registerBuild(session.cache.dir('locks'), ctx.signal);
  const reports = await engine.run(graphs).finally(() => registration.release());
  const count = (o: string) => reports.filter((r) => r.outcome === o).length;
  if (args.values.json) ctx.io.out(JSON.stringify({ steps: reports.map(({ error, ...r }) => r) }, null, 2));
  else
    ctx.io.out(
      `${reports.length} steps: ${count('remote')} pulled, ${count('cached')} already cached, ` +
        `${count('stale') + count('skipped')} not in the remote cache (or after one that is not)`,
    );
  const failed = reports.find((r) => r.outcome === 'failed');
  if (failed?.error) throw failed.error;
  return 0;
}

export async function cachePush(args: Parsed, ctx: CommandContext): Promise<number> {
  const { session, graphs } = await open(args, ctx);
  const engine = await session.engine({
    jobs: 1,
    offline: !!args.values.offline,
    mode: 'plan',
    verbose: false,
    reporter: quiet,
    signal: ctx.signal,
  });
  const remote = new RemoteCache(session.cache, { ...session.config.remote!, signal: ctx.signal });
  const rows: { host: string; step: string; pushed: boolean; why?: string }[] = [];
  for (const r of await engine.run(graphs)) {
    const g = graphs.find((x) => x.host.name === r.host)!;
    const rec = r.outcome === 'cached' && r.key ? await session.cache.readAction(r.key) : undefined;
    if (!rec) rows.push({ host: r.host, step: r.step, pushed: false, why: 'not in the local cache (build it first)' });
    else if (isPrivate(g, g.steps.get(r.step)!))
      rows.push({ host: r.host, step: r.step, pushed: false, why: 'private (a secret, or made from one)' });
    else {
      await remote.push(rec).catch((e: unknown) => {
        throw errors.remoteFailed(remote.o.url, `pushing step ${r.host}/${r.step}`, (e as Error).message);
      });
      rows.push({ host: r.host, step: r.step, pushed: true });
    }
  }
  if (args.values.json) ctx.io.out(JSON.stringify({ steps: rows }, null, 2));
  else {
    ctx.io.out(`pushed ${rows.filter((r) => r.pushed).length} of ${rows.length} steps to ${remote.o.url}`);
    for (const r of rows.filter((x) => !x.pushed)) ctx.io.out(`  ${r.host}/${r.step}: not pushed: ${r.why}`);
  }
  return 0;
}
