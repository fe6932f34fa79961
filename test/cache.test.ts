import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { byStep, exitOf, Project, ran, type StepRow } from './helpers.js';

let lab: Project;
let env: NodeJS.ProcessEnv;
beforeEach(() => {
  lab = new Project('lab');
  env = { LAB_COUNTER: lab.path('counter.log') };
});
afterEach(() => lab.remove());

const build = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
  const r = lab.json<{ ok: boolean; steps: StepRow[] }>(['build', ...args], { ...env, ...extra });
  return { ...r, steps: r.data.steps };
};
const verify = () =>
  lab.json<{ corrupt: { kind: string; problem: string }[]; objects: number; actions: number }>(['cache', 'verify']);
const objectOf = (s: StepRow, out: string) => {
  const d = s.outputs![out].digest;
  return lab.path('.netboot/cache/objects', d.slice(0, 2), d);
};

describe('cache verify', () => {
  it('finds a corrupted object and a changed tree, quarantines them, and the next build redoes those steps', () => {
    const first = byStep(build(['alpha']).steps);
    expect(verify().data.corrupt).toEqual([]);
    const archive = objectOf(first.newc, 'archive');
    execFileSync('chmod', ['u+w', archive]);
    appendFileSync(archive, 'bit rot');
    writeFileSync(lab.path('.netboot/cache/trees', first.tree.outputs!.tree.digest, 'etc/greeting'), 'tampered\n');

    const bad = verify();
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('[CACHE_CORRUPT]');
    // `counted` copies the tree unchanged, so both steps' records name the one stored tree.
    expect(bad.data.corrupt.map((c) => c.kind).sort()).toEqual(['action', 'action', 'action', 'object', 'tree']);
    expect(readdirSync(lab.path('.netboot/cache/quarantine'))).toHaveLength(5);

    const again = build(['alpha']);
    expect(again.code).toBe(0);
    expect(ran(again.steps)).toEqual(['counted', 'newc', 'tree']);
    expect(byStep(again.steps).newc.outputs).toEqual(first.newc.outputs);
    expect(verify().data.corrupt).toEqual([]);
  });
});

describe('gc', () => {
  it("keeps every configured host's latest build and removes what only older builds used", () => {
    build(['--all'], { LAB_GREETING: 'old' });
    build(['--all']);
    const before = verify().data.objects;
    const dry = lab.json<{ actionsRemoved: number }>(['gc', '--keep-days', '0', '--dry-run']);
    expect(dry.data.actionsRemoved).toBeGreaterThan(0);
    const gc = lab.json<{ actionsRemoved: number; objectsRemoved: number }>(['gc', '--keep-days', '0']);
    expect(gc.code).toBe(0);
    expect(gc.data.actionsRemoved).toBe(dry.data.actionsRemoved);
    expect(verify().data.objects).toBeLessThan(before);
    expect(ran(build(['--all']).steps)).toEqual([]);
    expect(ran(build(['alpha'], { LAB_GREETING: 'old' }).steps)).not.toEqual([]);
  });

  it('--max-size removes unreferenced entries oldest first; roots stay', () => {
    build(['alpha'], { LAB_GREETING: 'one' });
    build(['alpha'], { LAB_GREETING: 'two' });
    build(['alpha']);
    expect(lab.run(['gc', '--max-size', '1']).code).toBe(0);
    expect(ran(build(['alpha']).steps)).toEqual([]);
    expect(lab.run(['gc', '--max-size', 'lots']).code).toBe(2);
  });
});

describe('crash safety', () => {
  it('SIGKILL at 20 random moments: verify stays clean and the next build succeeds', async () => {
    // How long a full build takes here, so the kills spread over all of it.
    const t0 = Date.now();
    expect(build(['--all'], { LAB_GREETING: 'warmup', LAB_SLOW_MS: '200' }).code).toBe(0);
    const span = Date.now() - t0;
    for (let i = 0; i < 20; i++) {
      const extra = { LAB_GREETING: `kill-${i}`, LAB_SLOW_MS: String(200 + i) };
      const child = lab.spawn(['build', '--all'], { ...env, ...extra });
      const done = exitOf(child);
      await sleep(Math.random() * span);
      child.kill('SIGKILL');
      await done;
      const v = verify();
      expect(v.data.corrupt, `kill ${i}`).toEqual([]);
      expect(v.code, `kill ${i}: ${v.stderr}`).toBe(0);
      const after = build(['--all'], extra);
      expect(after.code, `rebuild after kill ${i}`).toBe(0);
      expect(after.steps.every((s) => s.outcome === 'ran' || s.outcome === 'cached')).toBe(true);
    }
    expect(lab.json<{ tempsRemoved: number }>(['gc']).code).toBe(0);
    expect(readdirSync(lab.path('.netboot/cache/tmp'))).toEqual([]);
  });

  it('two concurrent builds on one cache both succeed and run each step once', async () => {
    const extra = { ...env, LAB_SLOW_MS: '700' };
    const a = exitOf(lab.spawn(['build', '--all', '--json'], extra));
    const b = exitOf(lab.spawn(['build', '--all', '--json'], extra));
    const [ra, rb] = await Promise.all([a, b]);
    expect([ra.code, rb.code], ra.stderr + rb.stderr).toEqual([0, 0]);
    // Every distinct key of a counting plugin ran exactly once, across both processes.
    const lines = readFileSync(env.LAB_COUNTER!, 'utf8').trim().split('\n');
    const counting = (r: { stdout: string }) =>
      (JSON.parse(r.stdout).steps as (StepRow & { plugin: string })[])
        .filter((s) => /^lab-(counted|slow|upstream)@/.test(s.plugin))
        .map((s) => s.key);
    expect(lines.length).toBe(new Set([...counting(ra), ...counting(rb)]).size);
    const outs = (r: { stdout: string }) =>
      (JSON.parse(r.stdout).steps as StepRow[]).map((s) => [s.host, s.step, s.outputs]);
    expect(outs(ra)).toEqual(outs(rb));
    expect(verify().data.corrupt).toEqual([]);
  });

  it('SIGINT stops the running child processes, exits 130 and leaves the cache consistent', async () => {
    const child = lab.spawn(['build', 'alpha', '--jobs', '1'], {
      ...env,
      LAB_SLOW_MS: '60000',
      LAB_GREETING: 'interrupted',
    });
    const done = exitOf(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    while (!out.includes('slow-a: running') && !out.includes('slow-b: running')) await sleep(50);
    await sleep(300);
    const sleeping = () => execFileSync('bash', ['-c', 'pgrep -f "^sleep 60$" || true'], { encoding: 'utf8' }).trim();
    expect(sleeping()).not.toBe('');
    const t = Date.now();
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(Date.now() - t).toBeLessThan(10_000);
    expect(r.stderr).toContain('[INTERRUPTED]');
    await sleep(200);
    expect(sleeping()).toBe('');
    expect(verify().code).toBe(0);
    expect(existsSync(lab.path('.netboot/cache/tmp')) && readdirSync(lab.path('.netboot/cache/tmp'))).toEqual([]);
  });
});
