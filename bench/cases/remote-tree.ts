import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../boot/processes.js';
import { RemoteCache } from '../../cache/remote/remote-cache.js';
import { type ActionRecord, Cache } from '../../cache/store.js';
import { BenchAbort, type BenchContext, type CaseResult, progress, type Row } from '../lib.js';

const FILES = 3000;
const DEFAULT_RUNS = 3;

/**
 * How a tree travels to and from the remote cache: one deterministic tar blob per tree, or its
 * manifest plus one blob per file. Each round pushes the same tree to a fresh repository of a
 * real docker-registry on 127.0.0.1 and pulls it into an empty cache, both formats in turn.
 */
export async function remoteTree(ctx: BenchContext): Promise<CaseResult[]> {
  const work = await mkdtemp(join(tmpdir(), 'netboot-bench-remote-'));
  const registry = await startRegistry(work);
  try {
    const cache = new Cache(join(work, 'cache'), () => {});
    await cache.init();
    const tree = await makeTree(cache, FILES);
    const rec: ActionRecord = {
      v: 1,
      key: randomBytes(32).toString('hex'),
      parts: {},
      outputs: { tree },
      log: null,
      durationMs: 0,
      createdAt: new Date(0).toISOString(),
      by: { host: 'bench', step: 'tree' },
    };
    const runs = ctx.runsSet ? ctx.runs : DEFAULT_RUNS;
    const rows: Record<string, Row> = {};
    const time = async (label: string, fn: () => Promise<unknown>) => {
      const t0 = performance.now();
      await fn();
      (rows[label] ??= { tool: label, samples: [] }).samples.push(performance.now() - t0);
    };
    for (let i = 0; i < runs; i++) {
      progress('remote-tree', `round ${i + 1}/${runs}`);
      for (const format of ['tar', 'files'] as const) {
        const url = `oci://127.0.0.1:${registry.port}/bench/${format}-${i}`;
        const opts = { url, insecure: true, push: true, timeoutMs: 60_000, treeFormat: format };
        await time(`push, ${format === 'tar' ? 'one tar blob' : 'a blob per file'}`, () =>
          new RemoteCache(cache, opts).push(rec),
        );
        const fresh = new Cache(join(work, `pull-${format}-${i}`), () => {});
        await fresh.init();
        let got: ActionRecord | undefined;
        await time(`pull, ${format === 'tar' ? 'one tar blob' : 'a blob per file'}`, async () => {
          got = await new RemoteCache(fresh, opts).pull(rec.key);
        });
        if (got?.outputs.tree.digest !== tree.digest)
          throw new BenchAbort(`remote-tree: ${format} pulled another tree`);
      }
    }
    const mib = (tree.size / 2 ** 20).toFixed(1);
    const notes = [`a tree of ${tree.files} files (${mib} MiB) in ${7 * 7} directories; N=${runs}`];
    return [
      {
        name: 'remote cache: pushing a tree',
        baseline: 'push, one tar blob',
        rows: [rows['push, one tar blob'], rows['push, a blob per file']],
        notes,
      },
      {
        name: 'remote cache: pulling a tree into an empty cache',
        baseline: 'pull, one tar blob',
        rows: [rows['pull, one tar blob'], rows['pull, a blob per file']],
        notes,
      },
    ];
  } finally {
    registry.child.kill('SIGTERM');
    await new Promise((r) => (registry.child.exitCode !== null ? r(undefined) : registry.child.once('exit', r)));
    await rm(work, { recursive: true, force: true });
  }
}

/** Sizes like a rootfs's: mostly small files, a few of some hundred KiB. */
async function makeTree(cache: Cache, files: number) {
  const dir = await cache.scratch('bench-tree');
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `usr${i % 7}`, `lib${i % 49}`);
    mkdirSync(sub, { recursive: true });
    const size = i % 100 === 0 ? 300_000 : 200 + ((i * 7919) % 12_000);
    writeFileSync(join(sub, `f${i}`), randomBytes(size));
  }
  return cache.ingestTree(dir);
}

async function startRegistry(work: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const config = join(work, 'registry.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog: { level: error, accesslog: { disabled: true } }\n` +
      `storage: { filesystem: { rootdirectory: ${join(work, 'registry')} } }\nhttp: { addr: 127.0.0.1:${port} }\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      }).once('error', () => r(false));
    });
    if (up) return { port, child };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGTERM');
  throw new BenchAbort('remote-tree: docker-registry did not start (is the docker-registry package installed?)');
}
