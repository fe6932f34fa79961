import { errors } from '../../base/errors.js';
import { readHistory } from '../../cache/history.js';
import type { Artifact } from '../../core/plugin.js';
import { buildSide, type DiffSide, diffSides, liveId, releaseSide } from '../../publish/diff.js';
import { SWITCH_ORDER } from '../../publish/publisher.js';
import type { Target } from '../../publish/target.js';
import { withTargets } from '../../publish/targets.js';
import type { Command } from '../command.js';
import { diffLines } from '../diff-text.js';
import { Session } from '../session.js';

/** The outputs of a host's last build, step by step, as the history records them. */
export async function lastBuildOutputs(session: Session, host: string): Promise<Map<string, Record<string, Artifact>>> {
  const h = await readHistory(session.cache, host);
  return new Map(Object.entries(h.steps).map(([step, s]) => [step, s.outputs as Record<string, Artifact>]));
}

/** `live`, `build` or a release id (leading zeros optional). */
async function side(session: Session, host: string, which: string, targets: Target[]): Promise<DiffSide> {
  if (which === 'build') {
    const outputs = await lastBuildOutputs(session, host);
    if (!outputs.size) throw errors.badOption(`host ${host} was never built: run netboot build ${host}`);
    return buildSide(session.graph(host), outputs, session.cache);
  }
  if (which === 'live') {
    const id = await liveId(host, targets);
    return id ? releaseSide(host, id, targets, session.cache) : { label: 'nothing live', targets: {} };
  }
  if (!/^\d{1,6}$/.test(which)) throw errors.badOption(`"${which}" is not a release id, "live" or "build"`);
  return releaseSide(host, which.padStart(6, '0'), targets, session.cache);
}

export const diff: Command = {
  summary:
    'What changed between two states of a host (default: the live release and the newest build): ' +
    'packages with their versions, files per target.',
  usage: 'netboot diff <host> [from] [to] [--files] [--json]   (from, to: a release id, live or build)',
  options: { files: { type: 'boolean' } },
  async run(args, ctx) {
    const [host, from = 'live', to = 'build', ...rest] = args.positionals;
    if (!host || rest.length) throw errors.badOption(`usage: ${diff.usage}`);
    const session = await Session.open({
      config: args.values.config as string | undefined,
      cwd: ctx.io.cwd,
      warn: ctx.warn,
    });
    if (!session.config.hosts.has(host)) throw errors.unknownHost(host, session.hostNames());
    const d = await withTargets(session.config.san, session.cache, async (all) => {
      const targets = SWITCH_ORDER.map((n) => all[n]);
      return diffSides(host, await side(session, host, from, targets), await side(session, host, to, targets));
    });
    if (args.values.json) {
      ctx.io.out(JSON.stringify(args.values.files ? d : { ...d, files: d.files.map(({ paths, ...t }) => t) }, null, 2));
      return 0;
    }
    ctx.io.out(`${host}: ${d.from} -> ${d.to}`);
    for (const l of diffLines(d, { files: !!args.values.files })) ctx.io.out(l);
    return 0;
  },
};
