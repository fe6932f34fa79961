import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Project } from './helpers.js';

// `netboot nightly` over two small hosts (test/fixtures/nightly): `good` always builds, `bad`
// fails a step with NIGHTLY_FAIL=1. Each publishes a package manifest whose canary version is
// NIGHTLY_CANARY, so the report's diff has versions to show. The runs follow one another.
let project: Project;
const notified = () => project.path('notified.txt');
const env = (e: NodeJS.ProcessEnv = {}) => ({ NIGHTLY_NOTIFY: `cat > ${notified()}`, ...e });
interface Report {
  format: string;
  ok: boolean;
  changed: boolean;
  hosts: ({ host: string; status: string } & Record<string, any>)[];
}
const nightly = (e: NodeJS.ProcessEnv = {}) => {
  rmSync(notified(), { force: true });
  return project.json<Report>(['nightly'], env(e));
};
const hostOf = (r: Report, name: string) => r.hosts.find((h) => h.host === name)!;

beforeAll(() => {
  project = new Project('nightly');
});
afterAll(() => project.remove());

describe('netboot nightly', () => {
  it('publishes every host that builds; a failing host fails alone, with its code, log and exit 1', () => {
    const r = nightly({ NIGHTLY_FAIL: '1' });
    expect(r.code, r.stderr).toBe(1);
    expect(r.data.format).toBe('netboot.nightly-report/1');
    expect(r.data.ok).toBe(false);
    expect(hostOf(r.data, 'good')).toMatchObject({ status: 'published', release: '000001', bootTests: [] });
    const bad = hostOf(r.data, 'bad');
    expect(bad).toMatchObject({ status: 'failed', code: 'STEP_FAILED', step: 'image' });
    expect(readFileSync(bad.log, 'utf8')).toContain('mkfs: disk too small');
    expect(existsSync(project.path('san/tftp/bad'))).toBe(false);
    expect(readFileSync(project.path('san/tftp/good/etc/greeting'), 'utf8')).toBe('hello from good\n');
    // The report: the same JSON in the report directory, the text beside it, and the text on notify's stdin.
    const dir = project.path('.netboot/nightly');
    expect(JSON.parse(readFileSync(join(dir, 'last.json'), 'utf8'))).toEqual(r.data);
    const text = readFileSync(join(dir, 'last.txt'), 'utf8');
    expect(text).toMatch(/^good: new release 000001 is live$/m);
    expect(text).toMatch(/^bad: FAILED \[STEP_FAILED\] in step image: /m);
    expect(readFileSync(notified(), 'utf8')).toBe(text);
  });

  it('prints the text report without --json, and the first release of a host diffs against nothing', () => {
    const r = project.run(['nightly'], env({ NIGHTLY_FAIL: '1' }));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^netboot nightly .*: FAILED; 0 published, 1 unchanged, 1 failed, 0 failed the boot test$/m,
    );
    expect(r.stdout).toMatch(/^good: unchanged \(release 000001 stays live\)$/m);
    const fixed = nightly();
    expect(fixed.code, fixed.stderr).toBe(0);
    const bad = hostOf(fixed.data, 'bad');
    expect(bad).toMatchObject({ status: 'published', release: '000001' });
    expect(bad.diff.packages.added).toEqual([
      { name: 'base-files', version: '11.1' },
      { name: 'canary', version: '1' },
    ]);
    expect(existsSync(notified())).toBe(true);
  });

  it('a run with nothing changed publishes nothing, notifies nothing and exits 0', () => {
    const r = nightly();
    expect(r.code, r.stderr).toBe(0);
    expect(r.data).toMatchObject({ ok: true, changed: false });
    expect(r.data.hosts.map((h) => h.status)).toEqual(['unchanged', 'unchanged']);
    expect(existsSync(notified())).toBe(false);
  });

  it('after a canary update the report and netboot diff list canary 1 -> 2', () => {
    const r = nightly({ NIGHTLY_CANARY: '2', NIGHTLY_EXTRA: 'new\n' });
    expect(r.code, r.stderr).toBe(0);
    const good = hostOf(r.data, 'good');
    expect(good).toMatchObject({ status: 'published', release: '000002', previous: '000001' });
    expect(good.diff.packages).toEqual({ upgraded: [{ name: 'canary', from: '1', to: '2' }], added: [], removed: [] });
    expect(readFileSync(notified(), 'utf8')).toContain(
      'good: new release 000002 is live (was 000001)\n  packages: 1 upgraded, 0 added, 0 removed\n    canary 1 -> 2\n',
    );

    const text = project.run(['diff', 'good', '1', '2', '--files']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe(
      [
        'good: 000001 -> 000002',
        'packages: 1 upgraded, 0 added, 0 removed',
        '  canary 1 -> 2',
        'files:',
        '  conf: 0 added, 0 removed, 1 changed (252 B)',
        '    ~ packages.json',
        '  tftp: 1 added (4 B), 0 removed, 0 changed',
        '    + etc/extra',
        '',
      ].join('\n'),
    );
    const json = project.json(['diff', 'good', '000001', '000002']);
    expect(json.data.files.find((f: { target: string }) => f.target === 'tftp')).toEqual({
      target: 'tftp',
      added: { count: 1, bytes: 4 },
      removed: { count: 0, bytes: 0 },
      changed: { count: 0, bytes: 0 },
    });
    // By default: the live release against the newest build, here the same thing.
    const live = project.json(['diff', 'good']);
    expect(live.data).toMatchObject({ from: '000002', to: 'build' });
    expect(live.data.packages).toEqual({ upgraded: [], added: [], removed: [] });
    expect(live.data.files.every((f: any) => !f.added.count && !f.removed.count && !f.changed.count)).toBe(true);
  });

  it('bad input to diff: an unknown release names the ones there are', () => {
    const r = project.run(['diff', 'good', '7']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error [UNKNOWN_RELEASE]');
    expect(r.stderr).toContain('000001, 000002');
    expect(project.run(['diff', 'good', 'yesterday']).stderr).toContain('error [BAD_OPTION]');
  });

  it('never runs twice at once: a live owner of the lock refuses the run; a dead one is taken over', () => {
    const lock = project.path('.netboot/cache/locks/nightly.lock');
    const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    writeFileSync(lock, `${process.pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`);
    const r = project.run(['nightly'], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error [NIGHTLY_LOCKED]');
    expect(readFileSync(lock, 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    writeFileSync(lock, '999999999 1');
    expect(nightly().code).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('a failing notify command fails the run (exit 1), after the report is written', () => {
    rmSync(project.path('.netboot/nightly/last.json'));
    const r = project.run(['nightly'], { NIGHTLY_NOTIFY: 'echo no mail today >&2; exit 4', NIGHTLY_CANARY: '3' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error [NOTIFY_FAILED]');
    expect(r.stderr).toContain('exit 4: no mail today');
    expect(existsSync(project.path('.netboot/nightly/last.json'))).toBe(true);
  });
});

describe('netboot nightly --install-timer', () => {
  it('writes a service and a timer that systemd-analyze verify accepts', () => {
    const dir = project.path('units');
    const r = project.run(['nightly', '--install-timer', '--unit-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    const service = readFileSync(join(dir, 'netboot-nightly.service'), 'utf8');
    const timer = readFileSync(join(dir, 'netboot-nightly.timer'), 'utf8');
    expect(service).toContain('Type=oneshot');
    expect(service).toContain(`ExecStart=${process.execPath} `);
    expect(service).toMatch(/ nightly --config \S+\/netboot\.config\.ts$/m);
    expect(timer).toContain('OnCalendar=Mon..Fri *-*-* 02:30:00\nPersistent=true\nRandomizedDelaySec=600\n');
    expect(statSync(join(dir, 'netboot-nightly.timer')).isFile()).toBe(true);
    // No systemd runs as PID 1 here: verify still parses both units and checks ExecStart's program.
    const v = spawnSync(
      'systemd-analyze',
      ['verify', join(dir, 'netboot-nightly.service'), join(dir, 'netboot-nightly.timer')],
      {
        encoding: 'utf8',
      },
    );
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
    // The same check refuses a bad unit: it is a real check.
    writeFileSync(join(dir, 'broken.timer'), '[Timer]\nOnCalendar=someday\n');
    expect(spawnSync('systemd-analyze', ['verify', join(dir, 'broken.timer')]).status).not.toBe(0);
    expect(execFileSync('systemd-analyze', ['calendar', 'Mon..Fri *-*-* 02:30:00'], { encoding: 'utf8' })).toContain(
      'Normalized form',
    );
  });
});
