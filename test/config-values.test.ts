import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isNetbootError } from '../base/errors.js';
import { validateConfig } from '../cli/config-validate.js';
import { buildHostGraph } from '../core/graph.js';
import { builtinRecipes } from '../pipelines/index.js';
import { ROOT } from './helpers.js';

// A config that uses every built-in recipe and most keys; each of its values in turn is replaced
// by something of another type or shape, and must give a config error (exit 2), never a crash.
const FILE = join(ROOT, 'netboot.config.ts');

const base = () => ({
  cache: 'cache',
  sourceDateEpoch: 5,
  san: {
    server: '10.0.2.2',
    tftp: 'san/tftp',
    nfs: 'ssh://root@10.0.2.2/srv/nfs',
    nbd: 'san/nbd',
    conf: 'san/conf',
    keep: 2,
    reload: { tftp: 'true' },
    ssh: { identityFile: 'id', options: ['A=b'] },
  },
  hosts: {
    d: {
      recipe: 'demo',
      mac: '52:54:00:12:34:56',
      ip: '10.0.2.15',
      params: { motd: 'x', kernelArgs: 'a', overlay: 'test' },
    },
    n: {
      recipe: 'debian-bullseye-nbd',
      mac: '52:54:00:12:34:57',
      ip: '10.0.2.16',
      params: {
        users: [{ name: 'a', shell: '/bin/sh', authorizedKeys: ['ssh-rsa x'], sudo: true, passwordHash: '$6$a$b' }],
        imageSize: '1G',
        exportName: 'e',
        nbdPort: 10809,
        packages: ['vim'],
      },
    },
    k: {
      recipe: 'kvm-host',
      mac: '52:54:00:12:34:58',
      ip: '10.0.2.17',
      params: {
        iscsi: {
          portal: '10.0.2.2',
          target: 'iqn.2026-11.a:b',
          chapUser: 'u',
          secretFile: '/s',
          lun: 1,
          fsType: 'ext4',
        },
        rootMode: 'rw',
        nfsOptions: 'vers=3',
      },
    },
    f: {
      recipe: 'freebsd10-nfs-ezjail',
      mac: '52:54:00:12:34:59',
      ip: '10.0.2.18',
      params: {
        sets: { base: { path: 'b', sha256: '0'.repeat(64) }, kernel: { url: 'http://x/k', sha256: '0'.repeat(64) } },
        iscsi: { portal: '10.0.0.1', target: 'iqn.x' },
        jails: [{ name: 'j', ip: '10.0.0.9' }],
        rcConf: { a: 'b' },
        gateway: '10.0.0.1',
        netmask: '255.0.0.0',
        packages: [{ path: 'p', sha256: '0'.repeat(64) }],
      },
    },
  },
});
const WEIRD: unknown[] = [
  null,
  42,
  -1,
  1.5,
  NaN,
  Infinity,
  '',
  '\0',
  'x\ny',
  [],
  {},
  [null],
  { a: 1 },
  true,
  () => 1,
  Symbol('s'),
  10n,
  new Date(0),
  Object.create(null),
];
/** The path of every key and element of a config, outermost first. */
function leaves(o: any, path: string[] = []): string[][] {
  if (o === null || typeof o !== 'object') return [path];
  const out: string[][] = [path];
  for (const k of Object.keys(o)) out.push(...leaves(o[k], [...path, k]));
  return out;
}
describe('every config value of the wrong type or shape', () => {
  it('is a config error (exit 2), never an internal error', () => {
    const ok = validateConfig(base(), FILE, builtinRecipes);
    for (const h of ok.hosts.values()) buildHostGraph(h.info, h.recipe, h.params);
    const crashes: string[] = [];
    let tried = 0;
    for (const path of leaves(base()).filter((p) => p.length))
      for (const w of WEIRD) {
        const c: any = base();
        let o = c;
        for (const k of path.slice(0, -1)) o = o[k];
        o[path[path.length - 1]] = w;
        tried++;
        try {
          const r = validateConfig(c, FILE, builtinRecipes);
          for (const h of r.hosts.values()) buildHostGraph(h.info, h.recipe, h.params);
        } catch (e) {
          if (!isNetbootError(e) || e.exitCode !== 2) crashes.push(`${path.join('.')} = ${typeof w}: ${String(e)}`);
        }
      }
    expect(tried).toBeGreaterThan(1000);
    expect(crashes).toEqual([]);
  });
});
