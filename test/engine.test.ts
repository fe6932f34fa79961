import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { byStep, Project, ran, type StepRow } from './helpers.js';

let lab: Project;
let env: NodeJS.ProcessEnv;
beforeEach(() => {
  lab = new Project('lab');
  env = { LAB_COUNTER: lab.path('counter.log'), LAB_TIMELINE: lab.path('timeline.log') };
});
afterEach(() => lab.remove());

const build = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
  const r = lab.json<{ ok: boolean; steps: StepRow[] }>(['build', ...args], { ...env, ...extra });
  return { ...r, steps: r.data.steps };
};
const counter = () => (existsSync(env.LAB_COUNTER!) ? readFileSync(env.LAB_COUNTER!, 'utf8').trim().split('\n') : []);

describe('hits and misses', () => {
  it('runs every step once, then none: a hit never runs the step and yields the same digests', () => {
    const first = build(['alpha']);
    expect(first.code).toBe(0);
    expect(first.steps.every((s) => s.outcome === 'ran')).toBe(true);
    const runs = counter().length;
    const second = build(['alpha']);
    expect(second.code).toBe(0);
    expect(second.steps.map((s) => s.outcome)).toEqual(second.steps.map(() => 'cached'));
    expect(counter().length).toBe(runs);
    expect(second.steps.map((s) => [s.key, s.outputs])).toEqual(first.steps.map((s) => [s.key, s.outputs]));
  });

  it('a second host with the same step definitions shares their cache entries', () => {
    build(['alpha']);
    const beta = build(['beta']);
    // greeting differs (default "hello" from alpha vs beta's host name in the file), slow steps do not
    expect(byStep(beta.steps)['slow-a'].outcome).toBe('cached');
    expect(byStep(beta.steps).tree.outcome).toBe('ran');
  });
});

describe('invalidation', () => {
  it('changing a param re-runs exactly the steps that depend on it, and explain names it', () => {
    build(['alpha']);
    const changed = build(['alpha'], { LAB_GREETING: 'bonjour' });
    expect(ran(changed.steps)).toEqual(['counted', 'newc', 'odc', 'tar', 'tftp', 'tree']);
    expect(byStep(changed.steps).tree.reasons).toContain(
      'param files.etc/greeting.content: "hello from alpha\\n" -> "bonjour from alpha\\n"',
    );
    expect(byStep(changed.steps).counted.reasons[0]).toMatch(/^input tree: [0-9a-f]{12} -> [0-9a-f]{12}$/);

    const explain = lab.json<{ steps: { step: string; now: string; changed: string[] }[] }>(
      ['explain', 'alpha', 'tree'],
      { ...env, LAB_GREETING: 'hej' },
    );
    expect(explain.data.steps).toHaveLength(1);
    expect(explain.data.steps[0]).toMatchObject({ step: 'tree', now: 'would run' });
    expect(explain.data.steps[0].changed).toEqual([
      'param files.etc/greeting.content: "bonjour from alpha\\n" -> "hej from alpha\\n"',
    ]);
    const text = lab.run(['explain', 'alpha'], { ...env, LAB_GREETING: 'bonjour' });
    expect(text.stdout).toContain('tree (files@1): up to date');
    expect(text.stdout).toContain('last build: ran because param files.etc/greeting.content');
  });

  it('going back to an earlier param value is a hit, not a rebuild', () => {
    build(['alpha']);
    build(['alpha'], { LAB_GREETING: 'bonjour' });
    const back = build(['alpha']);
    expect(ran(back.steps)).toEqual([]);
  });

  it('a new plugin version re-runs its steps and everything downstream', () => {
    build(['alpha']);
    const bumped = build(['alpha'], { LAB_COUNTED_VERSION: '2' });
    expect(byStep(bumped.steps).counted.reasons).toEqual(['plugin version 1 -> 2']);
    // The copy is byte-identical, so downstream steps get the same input digest and stay cached.
    expect(ran(bumped.steps)).toEqual(['counted']);
  });

  it('a changed upstream fingerprint re-runs the step; --offline reuses the last fingerprint', () => {
    writeFileSync(lab.path('upstream.txt'), 'release-1\n');
    build(['alpha']);
    writeFileSync(lab.path('upstream.txt'), 'release-2\n');
    const offline = build(['alpha', '--offline']);
    expect(ran(offline.steps)).toEqual([]);
    const online = build(['alpha']);
    expect(ran(online.steps)).toEqual(['tftp', 'upstream']);
    expect(byStep(online.steps).upstream.reasons[0]).toMatch(/^fingerprint: /);
  });

  it('a fingerprint that cannot be computed is a clear error naming host and step', () => {
    rmSync(lab.path('upstream.txt'));
    const r = build(['alpha']);
    expect(r.code).toBe(1);
    expect(byStep(r.steps).upstream.error?.code).toBe('FINGERPRINT_FAILED');
  });

  it('touching mtimes invalidates nothing', () => {
    const first = build(['alpha']);
    const cacheDir = lab.path('.netboot/cache/trees');
    for (const s of first.steps)
      for (const o of Object.values(s.outputs ?? {}))
        if (o.kind === 'tree') utimesSync(`${cacheDir}/${o.digest}`, new Date(), new Date(0));
    utimesSync(lab.path('upstream.txt'), new Date(), new Date());
    utimesSync(lab.path('netboot.config.ts'), new Date(), new Date());
    expect(ran(build(['alpha']).steps)).toEqual([]);
  });
});

describe('scheduling', () => {
  it('runs independent steps in parallel with --jobs 2, one at a time with --jobs 1', () => {
    const overlap = (jobs: string) => {
      rmSync(env.LAB_TIMELINE!, { force: true });
      rmSync(lab.path('.netboot/cache'), { recursive: true, force: true });
      expect(build(['alpha', '--jobs', jobs], { LAB_SLOW_MS: '1500' }).code).toBe(0);
      const t = Object.fromEntries(
        readFileSync(env.LAB_TIMELINE!, 'utf8')
          .trim()
          .split('\n')
          .map((l) => [l.split(' ').slice(0, 2).join(' '), Number(l.split(' ')[2])]),
      );
      return t['start a'] < t['end b'] && t['start b'] < t['end a'];
    };
    expect(overlap('2')).toBe(true);
    expect(overlap('1')).toBe(false);
  });

  it('--dry-run and status say what would run without running it', () => {
    const dry = build(['alpha', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.steps.every((s) => s.outcome === 'stale')).toBe(true);
    expect(counter()).toEqual([]);
    const status = lab.run(['status', 'alpha'], env);
    expect(status.stdout).toContain('alpha: 12 of 12 steps stale');
    build(['alpha']);
    expect(lab.run(['status', 'alpha'], env).stdout).toContain('alpha: up to date (12 steps)');
  });
});

describe('failures', () => {
  it('a failing shell step reports command, exit code, last 20 log lines and the log path; exit 1', () => {
    const r = lab.run(['build', 'alpha', '--jobs', '1'], { ...env, LAB_FAIL: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error [STEP_FAILED]: host alpha, step broken failed: command `');
    expect(r.stderr).toContain('exited with code 3');
    expect(r.stderr).toContain('mkfs: disk too small');
    expect(r.stderr).toContain('line 25');
    expect(r.stderr).not.toMatch(/line 5\n/);
    const logPath = /full log: (\S+)/.exec(r.stderr)![1];
    expect(readFileSync(logPath, 'utf8')).toContain('line 1\n');
    // What completed before the failure is cached: a retry does not redo it. --keep-going
    // builds every step that does not depend on the failed one.
    const before = counter();
    const again = build(['alpha', '--keep-going'], { LAB_FAIL: '1' });
    expect(byStep(again.steps).broken.outcome).toBe('failed');
    expect(again.steps.filter((s) => s.outcome === 'ran' && before.includes(s.step))).toEqual([]);
    expect(again.steps.filter((s) => s.step !== 'broken').every((s) => s.outcome !== 'skipped')).toBe(true);
    expect(ran(build(['alpha', '--keep-going'], { LAB_FAIL: '1' }).steps)).toEqual([]);
  });

  it('a missing host tool is named with its Debian package before anything runs for that step', () => {
    const r = lab.run(['build', 'alpha'], { ...env, LAB_NEEDS_TOOL: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'error [MISSING_TOOL]: host alpha, step needs-tool: host tool "netboot-no-such-tool" is not installed ' +
        '(Debian package netboot-imaginary)',
    );
  });

  it('a step that writes into its read-only input fails, and the damaged tree is never served', () => {
    expect(build(['alpha']).code).toBe(0);
    const r = lab.run(['build', 'alpha'], { ...env, LAB_VANDAL: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'error [INPUT_MODIFIED]: host alpha, step vandal: the step changed its read-only input "tree (etc/greeting ' +
        'was modified)"',
    );
    const after = build(['alpha']);
    expect(after.code).toBe(0);
    // `counted` copies `tree` unchanged, so one stored tree serves both; re-running `tree` restores it.
    expect(ran(after.steps)).toEqual(['tree']);
    expect(lab.json(['cache', 'verify']).code).toBe(0);
  });

  it('a step that fails after damaging its input is still caught, and a file input written in place too', () => {
    expect(build(['alpha']).code).toBe(0);
    const failed = lab.run(['build', 'alpha'], { ...env, LAB_VANDAL: '1', LAB_VANDAL_FAIL: '1' });
    expect(failed.stderr).toContain('[INPUT_MODIFIED]');
    expect(ran(build(['alpha']).steps)).toEqual(['tree']);
    const scribbled = lab.run(['build', 'alpha'], { ...env, LAB_SCRIBBLE: '1' });
    expect(scribbled.code).toBe(1);
    expect(scribbled.stderr).toContain(
      'error [INPUT_MODIFIED]: host alpha, step scribbler: the step changed its read-only input "file (written in ' +
        'place)"',
    );
    expect(ran(build(['alpha']).steps)).toEqual(['newc']);
    expect(lab.json(['cache', 'verify']).code).toBe(0);
  });

  it('unknown host and unknown command are usage errors (exit 2)', () => {
    expect(lab.run(['build', 'gamma'], env)).toMatchObject({ code: 2 });
    expect(lab.run(['build', 'gamma'], env).stderr).toContain('[UNKNOWN_HOST]');
    expect(lab.run(['frobnicate'], env).stderr).toContain('[UNKNOWN_COMMAND]');
    expect(lab.run(['build', '--jobs', 'x', 'alpha'], env).code).toBe(2);
  });
});

describe('extending a recipe from the config', () => {
  it('a user plugin hooked after a step feeds every later step', () => {
    const r = build(['alpha'], { LAB_OVERLAY: 'added by my plugin\n' });
    expect(r.code).toBe(0);
    expect(byStep(r.steps).overlay.outcome).toBe('ran');
    const tar = byStep(r.steps).tar.outputs!.archive.digest;
    const listing = lab.run(['graph', 'alpha'], { ...env, LAB_OVERLAY: 'x' }).stdout;
    expect(listing).toContain('s_overlay -- "tree → tree" --> s_counted');
    const tarPath = lab.path('.netboot/cache/objects', tar.slice(0, 2), tar);
    expect(readFileSync(tarPath).includes(Buffer.from('added by my plugin'))).toBe(true);
  });
});

describe('introspection', () => {
  it('graph prints mermaid and dot', () => {
    expect(lab.run(['graph', 'alpha', '--format', 'dot'], env).stdout).toMatch(
      /^digraph "alpha" \{[\s\S]*"tree" -> "counted"/,
    );
    expect(lab.run(['graph', 'alpha'], env).stdout).toMatch(/^flowchart LR/);
    expect(lab.run(['graph', 'alpha', '--format', 'png'], env).code).toBe(2);
  });

  it('--profile writes Chrome trace events', () => {
    lab.run(['build', 'alpha', '--profile', lab.path('trace.json')], env);
    const trace = JSON.parse(readFileSync(lab.path('trace.json'), 'utf8'));
    const names = trace.traceEvents.map((e: { name: string }) => e.name);
    expect(names).toContain('alpha/tree');
    expect(names).toContain('load config');
    expect(trace.traceEvents.every((e: { ph: string; ts: number }) => ['X', 'M'].includes(e.ph) && e.ts >= 0)).toBe(
      true,
    );
  });

  it('--verbose replays a cached step log', () => {
    lab.run(['build', 'alpha'], { ...env, LAB_SLOW_MS: '10' });
    const r = lab.run(['build', 'alpha', '--verbose'], { ...env, LAB_SLOW_MS: '10' });
    expect(r.stdout).toContain("[alpha] slow-a | $ bash -c $'sleep 0.01; true'");
  });
});

describe('local sources', () => {
  it('an overlay directory is re-read only when it changed; touching it changes nothing', () => {
    const demo = new Project('demo-overlay');
    try {
      const run = () => demo.json<{ steps: StepRow[] }>(['build', 'demo']).data.steps;
      expect(ran(run())).toEqual(['config', 'initrd', 'overlay-src', 'pxelinux-entry', 'rootfs', 'rootfs-tar', 'tftp']);
      utimesSync(demo.path('overlay/etc/issue'), new Date(), new Date());
      expect(ran(run())).toEqual([]);
      writeFileSync(demo.path('overlay/etc/issue'), 'edited\n');
      const edited = run();
      expect(ran(edited)).toEqual(['initrd', 'overlay-src', 'rootfs', 'rootfs-tar', 'tftp']);
      expect(byStep(edited)['overlay-src'].reasons[0]).toMatch(/^source overlay: [0-9a-f]{12} -> [0-9a-f]{12}$/);
      // A local source is read even offline: --offline only concerns network fingerprints.
      writeFileSync(demo.path('overlay/etc/issue'), 'edited again\n');
      expect(ran(demo.json<{ steps: StepRow[] }>(['build', 'demo', '--offline']).data.steps)).toContain('overlay-src');
    } finally {
      demo.remove();
    }
  });
});
