import { errors } from '../../base/errors.js';
import { readHistory } from '../../cache/history.js';
import { closure } from '../../core/graph.js';
import type { Command } from '../command.js';
import { PlainReporter } from '../progress.js';
import { Session } from '../session.js';

export const explain: Command = {
  summary: 'For each step of a host: did it run at the last build and why, and would it run now and why.',
  usage: 'netboot explain <host> [step] [--json] [--offline]',
  options: { offline: { type: 'boolean' } },
  async run(args, ctx) {
    const [hostName, stepName] = args.positionals;
    if (!hostName || args.positionals.length > 2) throw errors.badOption(`usage: ${explain.usage}`);
    const session = await Session.open({
      config: args.values.config as string | undefined,
      cwd: ctx.io.cwd,
      profiler: ctx.profiler,
      warn: ctx.warn,
    });
    const graph = session.graph(hostName);
    if (stepName && !graph.steps.has(stepName)) throw errors.unknownStep(hostName, stepName, [...graph.steps.keys()]);
    const only = stepName ? new Map([[hostName, closure(graph, [stepName])]]) : undefined;
    const history = await readHistory(session.cache, hostName);
    const engine = await session.engine({
      jobs: 1,
      offline: !!args.values.offline,
      mode: 'plan',
      verbose: false,
      reporter: new PlainReporter(() => {}),
      signal: ctx.signal,
    });
    const reports = (await engine.run([graph], only)).filter((r) => !stepName || r.step === stepName);
    const rows = reports.map((r) => {
      const last = history.steps[r.step];
      const now =
        r.outcome === 'cached'
          ? last?.key === r.key
            ? 'up to date'
            : 'cached under its new key'
          : r.outcome === 'stale'
            ? 'would run'
            : r.outcome === 'unpulled'
              ? r.reasons[0]
              : r.outcome;
      return {
        step: r.step,
        plugin: r.plugin,
        now,
        changed: last?.key === r.key ? [] : r.reasons,
        lastBuild: last ? { outcome: last.outcome, reasons: last.reasons, key: last.key } : null,
        key: r.key ?? null,
        error: r.error ? { code: r.error.code, message: r.error.message } : null,
      };
    });
    if (args.values.json) {
      ctx.io.out(JSON.stringify({ host: hostName, steps: rows }, null, 2));
      return 0;
    }
    for (const row of rows) {
      ctx.io.out(`${row.step} (${row.plugin}): ${row.now}`);
      if (row.error) ctx.io.out(`  cannot compute its key: ${row.error.code}: ${row.error.message}`);
      for (const c of row.changed) ctx.io.out(`  changed: ${c}`);
      if (row.lastBuild)
        ctx.io.out(
          `  last build: ${row.lastBuild.outcome}` +
            (row.lastBuild.outcome === 'ran' && row.lastBuild.reasons.length
              ? ` because ${row.lastBuild.reasons.join('; ')}`
              : ''),
        );
      else ctx.io.out('  last build: never built for this host');
    }
    return 0;
  },
};
