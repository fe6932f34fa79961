import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, exitOf, Project } from './helpers.js';

// The fixture's one step runs SIG_SCRIPT in sh. Each test's sleeps carry a unique fraction of
// a second, so pgrep finds exactly the processes this test started.
let proj: Project;
beforeEach(() => {
  proj = new Project('signals');
});
afterEach(() => {
  // Whatever a failed test left running goes.
  for (const m of markers.splice(0)) spawnSync('pkill', ['-KILL', '-f', `^sleep ${m}$`]);
  proj.remove();
});

const markers: string[] = [];
const marker = (base: number) => {
  const m = `${base}.${Math.floor(Math.random() * 1e6)}`;
  markers.push(m);
  return m;
};
const running = (m: string) =>
  execFileSync('sh', ['-c', `pgrep -f '^sleep ${m}$' || true`], { encoding: 'utf8' }).trim() !== '';
const leftovers = () =>
  ['tmp', 'locks'].flatMap((d) => readdirSync(proj.path('.netboot/cache', d)).map((n) => `${d}/${n}`));

/** Starts `netboot build sig` as a terminal would: leader of its own (foreground) process group. */
function startBuild(script: string) {
  const child = spawn(process.execPath, [BIN, 'build', 'sig'], {
    cwd: proj.dir,
    env: { ...process.env, CI: 'true', SIG_SCRIPT: script },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  return { child, done: exitOf(child) };
}

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  for (const t0 = Date.now(); !cond(); await sleep(50)) if (Date.now() - t0 > ms) throw new Error('timed out');
}

describe('signals', () => {
  it(
    'Ctrl-C (SIGINT to the foreground group) stops the step with its grandchildren, cleans up and ' + 'exits 130',
    async () => {
      // A background job ignores SIGINT; one started from a subshell is orphaned at once.
      const [bg, orphan, fg] = [marker(302), marker(302), marker(303)];
      const { child, done } = startBuild(`sleep ${bg} & (sleep ${orphan} &); sleep ${fg}; wait`);
      await until(() => running(bg) && running(orphan) && running(fg));
      process.kill(-child.pid!, 'SIGINT');
      const r = await done;
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toContain('[INTERRUPTED]');
      expect([running(bg), running(orphan), running(fg)]).toEqual([false, false, false]);
      expect(leftovers()).toEqual([]);
    },
  );

  it('SIGTERM exits 143; a child that ignores SIGTERM gets SIGKILL after the grace period', async () => {
    const m = marker(304);
    const { child, done } = startBuild(`trap '' TERM; sleep ${m} & wait; wait`);
    await until(() => running(m));
    const t0 = Date.now();
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(143);
    // 5 s of grace, then SIGKILL: well short of the sleep's 300 s.
    expect(Date.now() - t0).toBeGreaterThan(4_000);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(running(m)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('a second signal kills at once, and still leaves no process, scratch dir or lock', async () => {
    const m = marker(305);
    const { child, done } = startBuild(`trap '' INT TERM; sleep ${m} & wait; wait`);
    await until(() => running(m));
    const t0 = Date.now();
    process.kill(-child.pid!, 'SIGINT');
    await sleep(300);
    process.kill(-child.pid!, 'SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    expect(Date.now() - t0).toBeLessThan(4_000);
    expect(running(m)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('a background job a step leaves running is stopped when the step ends', async () => {
    const m = marker(306);
    const r = await proj.runAsync(['build', 'sig'], { SIG_SCRIPT: `sleep ${m} >/dev/null 2>&1 &` });
    expect(r.code, r.stderr).toBe(0);
    expect(running(m)).toBe(false);
    expect(leftovers()).toEqual([]);
  });
});
