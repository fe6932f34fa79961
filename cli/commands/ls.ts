import type { AnyPlugin } from '../../core/plugin.js';
import type { Command } from '../command.js';
import { Session } from '../session.js';

export const ls: Command = {
  summary: 'List configured hosts, known recipes and plugins.',
  usage: 'netboot ls [--json]',
  options: {},
  async run(args, ctx) {
    const session = await Session.open({
      config: args.values.config as string | undefined,
      cwd: ctx.io.cwd,
      warn: ctx.warn,
    });
    const c = session.config;
    const plugins = new Map<string, AnyPlugin>();
    for (const p of c.plugins) plugins.set(p.name, p);
    const hosts = [...c.hosts.values()].map((h) => {
      const g = session.graph(h.name);
      for (const n of g.order) if (!plugins.has(n.plugin.name)) plugins.set(n.plugin.name, n.plugin);
      return { name: h.name, recipe: h.recipe.name, mac: h.info.mac, ip: h.info.ip, steps: g.order.length };
    });
    const data = {
      config: c.file,
      cache: c.cache,
      hosts,
      recipes: [...c.recipes.values()].map((r) => ({ name: r.name, description: r.description ?? '' })),
      plugins: [...plugins.values()].map((p) => ({
        name: p.name,
        version: p.version,
        description: p.description ?? '',
      })),
    };
    if (args.values.json) {
      ctx.io.out(JSON.stringify(data, null, 2));
      return 0;
    }
    ctx.io.out(`config: ${data.config}\ncache:  ${data.cache}\n\nhosts:`);
    for (const h of hosts)
      ctx.io.out(`  ${h.name.padEnd(20)} ${h.recipe.padEnd(22)} ${h.mac}  ${h.ip.padEnd(15)} ${h.steps} steps`);
    ctx.io.out('\nrecipes:');
    for (const r of data.recipes) ctx.io.out(`  ${r.name.padEnd(22)} ${r.description}`);
    ctx.io.out('\nplugins:');
    for (const p of data.plugins) ctx.io.out(`  ${`${p.name}@${p.version}`.padEnd(28)} ${p.description}`);
    return 0;
  },
};
