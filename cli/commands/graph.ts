import { errors } from '../../base/errors.js';
import { renderGraph } from '../../core/graph.js';
import type { Command } from '../command.js';
import { Session } from '../session.js';

export const graph: Command = {
  summary: "Print a host's step graph as Mermaid or Graphviz dot.",
  usage: 'netboot graph <host> [--format mermaid|dot]',
  options: { format: { type: 'string', short: 'f' } },
  async run(args, ctx) {
    const format = (args.values.format as string | undefined) ?? 'mermaid';
    if (format !== 'mermaid' && format !== 'dot') throw errors.badOption(`--format: "${format}" is not mermaid or dot`);
    if (args.positionals.length !== 1) throw errors.badOption(`usage: ${graph.usage}`);
    const session = await Session.open({
      config: args.values.config as string | undefined,
      cwd: ctx.io.cwd,
      warn: ctx.warn,
    });
    ctx.io.out(renderGraph(session.graph(args.positionals[0]), format).trimEnd());
    return 0;
  },
};
