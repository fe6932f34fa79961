import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TARGET_NAMES } from '../core/targets.js';
import { exitOf, Project, type StepRow } from './helpers.js';
import { checkLive } from './release-check.js';

// SIGKILLs of gc and of a publish's prune, half at random instants and half at the moment the
// deletion has begun (found by polling), which is where a non-atomic delete leaves damage.
// The lab recipe's `root` step is a tree of LAB_BULK small files naming LAB_VERSION.
let lab: Project;
beforeEach(() => {
  lab = new Project('lab');
});
afterEach(() => lab.remove());

const KILLS = 30;
const FILES = 3000;
const base = { LAB_BULK: String(FILES), LAB_DISK_VERSION: 'fixed', LAB_KEEP: '1' };
const envOf = (version: string) => ({ ...base, LAB_VERSION: version });

type Digests = [string, unknown][];
const digestsOf = (steps: StepRow[]): Digests => steps.map((s) => [s.step, s.outputs]);
const build = (version: string) => {
  const r = lab.json<{ steps: StepRow[] }>(['build', 'alpha'], envOf(version));
  return {
    code: r.code,
    stderr: r.stderr,
    digests: digestsOf(r.data.steps),
    root: r.data.steps.find((s) => s.step === 'root')!,
  };
};
const verify = () => lab.json<{ corrupt: unknown[]; leftovers: number }>(['cache', 'verify']);

/**
 * Runs the command and SIGKILLs it when `begun` first holds, or after `delayMs` when given.
 * Says whether the kill landed (the process was still running).
 */
async function killDuring(
  args: string[],
  env: NodeJS.ProcessEnv,
  begun: () => boolean,
  delayMs?: number,
): Promise<boolean> {
  const child = lab.spawn(args, env);
  let exited = false;
  const done = exitOf(child).then(() => (exited = true));
  const t0 = Date.now();
  const due = () => (delayMs === undefined ? begun() : Date.now() - t0 >= delayMs);
  while (!exited && !due()) await sleep(1);
  child.kill('SIGKILL');
  await done;
  return delayMs === undefined ? begun() : true;
}

const cacheDir = (...p: string[]) => lab.path('.netboot/cache', ...p);

/** Entries at a directory's top level; 0 once it is gone (gc may rename it away between two looks). */
function topLevel(dir: string): number {
  try {
    return readdirSync(dir).length;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

describe('SIGKILL during deletion', () => {
  it(`gc killed ${KILLS} times mid-delete: verify stays clean, and rebuilding what it deleted ` +
    'gives the same digests', async () => {
    // Two versions, built in turn: each build makes the other version's tree garbage for gc.
    const first = { a: build('a'), b: build('b') };
    expect([first.a.code, first.b.code]).toEqual([0, 0]);
    const span = await (async () => {
      const t0 = Date.now();
      await lab.runAsync(['gc', '--dry-run'], base);
      return Date.now() - t0;
    })();
    let landed = 0;
    let garbage: 'a' | 'b' = 'a';
    for (let i = 0; i < KILLS; i++) {
      const tree = cacheDir('trees', first[garbage].root.outputs!.tree.digest);
      // The tree's top level has FILES/100 directories and VERSION: fewer means deleting began.
      const begun = () => topLevel(tree) <= FILES / 100;
      if (await killDuring(['gc', '--keep-days', '0'], base, begun, i % 2 ? Math.random() * span * 1.2 : undefined))
        landed++;
      const v = verify();
      expect(v.data.corrupt, `kill ${i}`).toEqual([]);
      expect(v.code, `kill ${i}: ${v.stderr}`).toBe(0);
      const again = build(garbage);
      expect(again.code, `build after kill ${i}: ${again.stderr}`).toBe(0);
      expect(again.digests, `kill ${i}`).toEqual(first[garbage].digests);
      garbage = garbage === 'a' ? 'b' : 'a';
    }
    expect(landed).toBeGreaterThanOrEqual(KILLS / 2);
    expect(lab.run(['gc', '--keep-days', '0'], base).code).toBe(0);
    expect(readdirSync(cacheDir('tmp'))).toEqual([]);
    expect(verify().data).toMatchObject({ corrupt: [], leftovers: 0 });
  }, 420_000);

  it(`a publish killed ${KILLS} times mid-prune: verify stays clean, and the next publish has the ` +
    'same digests and no leftovers', async () => {
    const versions = ['a', 'b', 'c'];
    const first = Object.fromEntries(versions.map((v) => [v, build(v)]));
    for (const v of versions) expect(first[v].code).toBe(0);
    const releases = lab.path('san/nfs/.releases/alpha');
    const deleting = () => existsSync(releases) && readdirSync(releases).some((n) => n.startsWith('.deleting-'));
    let landed = 0;
    for (let i = 0; i < KILLS; i++) {
      const version = versions[i % versions.length];
      // From the third release on, each publish with keep 1 prunes one release of FILES files.
      if ((await killDuring(['publish', 'alpha'], envOf(version), deleting)) && i >= 2) landed++;
      const v = verify();
      expect(v.code, `kill ${i}: ${v.stderr}`).toBe(0);
      const next = lab.json<{ steps: StepRow[] }>(['publish', 'alpha'], envOf(version));
      expect(next.code, `publish after kill ${i}: ${next.stderr}`).toBe(0);
      expect(digestsOf(next.data.steps), `kill ${i}`).toEqual(first[version].digests);
      for (const t of TARGET_NAMES) {
        const dir = lab.path('san', t, '.releases/alpha');
        expect(
          readdirSync(dir).filter((n) => !/^\d+$|^history\.json$/.test(n)),
          `kill ${i}, ${t}`,
        ).toEqual([]);
        expect(checkLive(lab.path('san', t), 'alpha'), `kill ${i}, ${t}`).toEqual([]);
      }
    }
    expect(landed).toBeGreaterThanOrEqual(KILLS / 2);
    expect(readdirSync(join(lab.path('san/nbd/.disks/alpha'))).filter((n) => n.startsWith('.'))).toEqual([]);
  }, 420_000);

  it("gc removes every host's deletion leftovers, and a publish of one host those of the others", () => {
    expect(lab.run(['publish', 'alpha'], envOf('a')).code).toBe(0);
    const planted = [
      lab.path('san/nfs/.releases/beta/.deleting-000001-1'),
      lab.path('san/nbd/.disks/alpha/.deleting-disk-1'),
    ];
    const plant = () => {
      for (const d of planted) mkdirSync(join(d, 'sub'), { recursive: true });
    };
    plant();
    expect(lab.run(['gc'], envOf('a')).code).toBe(0);
    expect(planted.filter((d) => existsSync(d))).toEqual([]);
    plant();
    // Unchanged, and for another host: still cleaned.
    expect(lab.run(['publish', 'alpha'], envOf('a')).code).toBe(0);
    expect(planted.filter((d) => existsSync(d))).toEqual([]);
  });
});
