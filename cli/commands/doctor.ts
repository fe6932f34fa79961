import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { errors } from '../../base/errors.js';
import { toolSpec } from '../../core/plugin.js';
import { which } from '../../core/tools.js';
import type { Command } from '../command.js';
import { Session } from '../session.js';

interface Need {
  what: string;
  package?: string;
  present: boolean;
  by: Set<string>;
}

/** What `netboot boot-test` runs for NFS roots. */
const NFS_BOOT_TEST = [
  { what: 'qemu-system-x86_64', package: 'qemu-system-x86' },
  { what: 'ganesha.nfsd', package: 'nfs-ganesha' },
  { what: '/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so', package: 'nfs-ganesha-vfs' },
  { what: 'rpcbind', package: 'rpcbind' },
  { what: 'nsenter', package: 'util-linux' },
];

/** What `netboot boot-test` runs besides the recipes' own tools. */
const BOOT_TEST = [
  { what: 'qemu-system-x86_64', package: 'qemu-system-x86' },
  { what: 'nbd-server', package: 'nbd-server' },
  // --firmware uefi and secureboot
  { what: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', package: 'ovmf' },
];

export const doctor: Command = {
  summary:
    'List the host tools and files each configured recipe needs, and which are missing; ' +
    '--fix installs them with apt-get.',
  usage: 'netboot doctor [--fix] [--json]',
  options: { fix: { type: 'boolean' } },
  async run(args, ctx) {
    const session = await Session.open({
      config: args.values.config as string | undefined,
      cwd: ctx.io.cwd,
      warn: ctx.warn,
    });
    const needs = new Map<string, Need>();
    const add = async (what: string, pkg: string | undefined, by: string, isFile: boolean) => {
      const n = needs.get(what) ?? {
        what,
        package: pkg,
        present: isFile ? existsSync(what) : !!(await which(what)),
        by: new Set<string>(),
      };
      n.by.add(by);
      needs.set(what, n);
    };
    for (const host of session.hostNames()) {
      const g = session.graph(host);
      for (const node of g.order) {
        for (const t of node.plugin.tools ?? []) {
          const s = toolSpec(t);
          await add(s.name, s.package, `${g.recipe} (${node.plugin.name})`, false);
        }
        for (const f of node.plugin.hostFiles ?? [])
          await add(f.path, f.package, `${g.recipe} (${node.plugin.name})`, true);
      }
      if (g.publish.some((i) => i.target === 'nbd'))
        for (const b of BOOT_TEST) await add(b.what, b.package, 'boot-test', b.what.startsWith('/'));
      if (g.publish.some((i) => i.target === 'nfs'))
        for (const b of NFS_BOOT_TEST) await add(b.what, b.package, 'boot-test', b.what.startsWith('/'));
    }
    const rows = [...needs.values()].sort((a, b) => a.what.localeCompare(b.what));
    const missing = rows.filter((r) => !r.present);
    if (args.values.json)
      ctx.io.out(
        JSON.stringify(
          rows.map((r) => ({ ...r, by: [...r.by] })),
          null,
          2,
        ),
      );
    else {
      for (const r of rows)
        ctx.io.out(
          `${r.present ? 'ok     ' : 'MISSING'} ${r.what.padEnd(44)} ` +
            `${(r.package ?? '?').padEnd(18)} ${[...r.by].join(', ')}`,
        );
      ctx.io.out(missing.length ? `${missing.length} missing` : 'everything the configured recipes need is installed');
    }
    if (!missing.length) return 0;
    const packages = [...new Set(missing.map((m) => m.package).filter((p): p is string => !!p))].sort();
    if (!args.values.fix) {
      ctx.io.out(`install with: apt-get install -y ${packages.join(' ')}   (or: netboot doctor --fix)`);
      return 1;
    }
    const apt = (argv: string[]) =>
      new Promise<number>((resolve) => {
        const child = spawn('apt-get', argv, {
          stdio: ['ignore', 'inherit', 'inherit'],
          env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        });
        child.on('error', () => resolve(127));
        child.on('close', (code) => resolve(code ?? 1));
      });
    if ((await apt(['update'])) !== 0 || (await apt(['install', '-y', '--no-install-recommends', ...packages])) !== 0)
      throw errors.doctorFailed(packages);
    ctx.io.out(`installed ${packages.join(' ')}`);
    return 0;
  },
};
