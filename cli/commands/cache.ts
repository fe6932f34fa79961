import { join } from 'node:path';
import { errors } from '../../base/errors.js';
import { collect, type GcRoots } from '../../cache/gc.js';
import { historyRoots } from '../../cache/history.js';
import { acquire, acquireGc } from '../../cache/lock.js';
import { verifyCache } from '../../cache/verify.js';
import { prune } from '../../publish/publisher.js';
import { releaseRoots } from '../../publish/roots.js';
import { withTargets } from '../../publish/targets.js';
import type { Command } from '../command.js';
import { Session } from '../session.js';

const SIZE = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?$/i;

function parseSize(v: string): number {
  const m = SIZE.exec(v.trim());
  if (!m) throw errors.badOption(`--max-size: "${v}" is not a size (e.g. 500M, 20G)`);
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[
    m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'
  ];
  return Math.floor(Number(m[1]) * mult);
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

export const gc: Command = {
  summary:
    'Prune old releases (keeping san.keep, the live one and the one before), then remove cache entries nothing needs.',
  usage: 'netboot gc [--max-size SIZE] [--keep-days N] [--dry-run] [--drop-written-disks]',
  options: {
    'max-size': { type: 'string' },
    'keep-days': { type: 'string' },
    'dry-run': { type: 'boolean', short: 'n' },
    'drop-written-disks': { type: 'boolean' },
  },
  async run(args, ctx) {
    const keepDays = args.values['keep-days'] === undefined ? undefined : Number(args.values['keep-days']);
    if (keepDays !== undefined && !(keepDays >= 0))
      throw errors.badOption(`--keep-days: "${args.values['keep-days']}" is not a number of days`);
    const maxSize = typeof args.values['max-size'] === 'string' ? parseSize(args.values['max-size']) : undefined;
    const session = await Session.open({
      config: args.values.config as string | undefined,
      cwd: ctx.io.cwd,
      warn: ctx.warn,
    });
    const lock = await acquireGc(session.cache.dir('locks'));
    if (!lock) throw errors.cacheLocked(session.cache.root, 'a build is running on this cache; run gc when it is done');
    try {
      // Releases first: pruning them decides which cache entries only old releases still named.
      const released = await withTargets(session.config.san, session.cache, async (all) => {
        const targets = Object.values(all);
        for (const host of session.hostNames()) {
          if (!args.values['dry-run']) {
            // As a publish does it, under the host's publish lock: leftovers include a running publish's staging dir.
            const lockPath = join(session.cache.dir('locks'), `publish-${host}.lock`);
            const hostLock = await acquire(lockPath, { signal: ctx.signal });
            try {
              for (const t of targets) await t.cleanLeftovers(host);
              const notice = (l: string) => ctx.io.err(`netboot: note: ${l}`);
              await prune(host, targets, {
                keep: session.config.san.keep,
                notice,
                dropWritten: !!args.values['drop-written-disks'],
              });
            } finally {
              await hostLock?.release();
            }
          }
        }
        return releaseRoots(targets, session.hostNames());
      });
      const roots: GcRoots[] = [await historyRoots(session.cache, session.hostNames()), released];
      const r = await collect(session.cache, { roots, keepDays, maxSize, dryRun: !!args.values['dry-run'] });
      if (args.values.json) ctx.io.out(JSON.stringify(r, null, 2));
      else
        ctx.io.out(
          `${args.values['dry-run'] ? 'would remove' : 'removed'} ${r.actionsRemoved} action records, ` +
            `${r.treesRemoved} trees, ` +
            `${r.objectsRemoved} objects, ${r.tempsRemoved} temp leftovers (${mb(r.bytesFreed)}); ` +
            `kept ${mb(r.bytesKept)} of objects`,
        );
      return 0;
    } finally {
      await lock.release();
    }
  },
};

export const cache: Command = {
  summary:
    'Cache maintenance: `netboot cache verify` re-hashes every entry and quarantines corrupt ones; ' +
    '`cache pull|push <host...>` seeds the local cache from the remote one, or the remote from the local.',
  usage: 'netboot cache verify [--json] | netboot cache pull|push <host...> | --all [--json]',
  options: { all: { type: 'boolean', short: 'a' }, offline: { type: 'boolean' } },
  async run(args, ctx) {
    const sub = args.positionals[0];
    if (sub === 'pull' || sub === 'push') {
      const m = await import('./cache-remote.js');
      return sub === 'pull' ? m.cachePull(args, ctx) : m.cachePush(args, ctx);
    }
    if (sub !== 'verify' || args.positionals.length !== 1) throw errors.badOption(`usage: ${cache.usage}`);
    const session = await Session.open({
      config: args.values.config as string | undefined,
      cwd: ctx.io.cwd,
      warn: ctx.warn,
    });
    const r = await verifyCache(session.cache);
    if (args.values.json) ctx.io.out(JSON.stringify(r, null, 2));
    else {
      ctx.io.out(
        `checked ${r.objects} objects, ${r.trees} trees, ${r.actions} action records; ` +
          `${r.corrupt.length} corrupt; ${r.leftovers} temp leftovers`,
      );
      for (const c of r.corrupt) ctx.io.out(`  quarantined ${c.kind} ${c.name.slice(0, 16)}: ${c.problem}`);
    }
    if (r.corrupt.length) throw errors.cacheCorrupt(r.corrupt.length);
    return 0;
  },
};
