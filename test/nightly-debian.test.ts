import { existsSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AptRepo } from '../bench/apt-repo.js';
import { Project, ROOT } from './helpers.js';

// The nightly on a real Debian host (test/fixtures/nightly-debian) over the local security
// archive with its canary package, on the shared Debian cache. Two guests boot, in this order:
// the good new release (canary 2), which the boot test lets go live, then a release whose
// /sbin/init a user step broke, which must fail fast (a kernel panic) and never go live. The
// live release that keeps serving is the one that just booted to login.
let deb: Project;
let repo: AptRepo;
let url: string;
const cache = inject('sharedDebianCache');
const HOST = 'nightly-nbd';
interface Report {
  ok: boolean;
  changed: boolean;
  hosts: ({ host: string; status: string } & Record<string, any>)[];
}
const notified = () => deb.path('notified.txt');
const nightly = async (env: NodeJS.ProcessEnv = {}) => {
  rmSync(notified(), { force: true });
  const r = await deb.jsonAsync<Report>(['nightly'], {
    CANARY_SECURITY_MIRROR: url,
    NIGHTLY_NOTIFY: `cat > ${notified()}`,
    ...env,
  });
  return { ...r, host: r.data.hosts.find((h) => h.host === HOST)! };
};
/** The release a target serves. A release that did not change a target (the TFTP files) leaves it on the one before. */
const serving = (t: string) =>
  readlinkSync(deb.path('san', t, HOST))
    .split('/')
    .pop();
const live = () => serving('nbd');

beforeAll(async () => {
  deb = new Project('nightly-debian', { cache });
  repo = new AptRepo(ROOT, deb.path('security'), 'bullseye-security');
  repo.publishCanary('1');
  url = await repo.serve();
});
afterAll(async () => {
  await repo.stop();
  deb.remove();
}, 300_000);

describe('netboot nightly on a Debian host', () => {
  it('the first run publishes the host; a second, with nothing changed, publishes and notifies nothing', async () => {
    const first = await nightly();
    expect(first.code, first.stderr).toBe(0);
    expect(first.host).toMatchObject({ status: 'published', release: '000001' });
    expect(first.host.diff.packages.added).toContainEqual({ name: 'netboot-canary', version: '1' });
    expect(existsSync(notified())).toBe(true);
    const again = await nightly();
    expect(again.code, again.stderr).toBe(0);
    expect(again.data).toMatchObject({ ok: true, changed: false });
    expect(again.host).toMatchObject({ status: 'unchanged', release: '000001' });
    expect(existsSync(notified())).toBe(false);
  }, 1_500_000);

  it('canary update: the staged release boots to login, then goes live; report and diff: canary 1 -> 2', async () => {
    repo.publishCanary('2');
    const r = await nightly({ NIGHTLY_BOOT: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/booting staged release 000002 \(bios\) before it goes live/);
    expect(r.stderr).toMatch(/login prompt after [\d.]+ s \(bios\)/);
    expect(r.host).toMatchObject({ status: 'published', release: '000002', previous: '000001', bootTests: ['bios'] });
    expect(r.host.diff.packages.upgraded).toEqual([{ name: 'netboot-canary', from: '1', to: '2' }]);
    expect(readFileSync(notified(), 'utf8')).toContain('    netboot-canary 1 -> 2\n');
    expect(live()).toBe('000002');
    const diff = deb.run(['diff', HOST, '1', '2']);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toContain('packages: 1 upgraded, 0 added, 0 removed\n  netboot-canary 1 -> 2\n');
    expect(diff.stdout).toMatch(/^ {2}nbd: 0 added, 0 removed, 1 changed \(2\.0 GiB\)$/m);
  }, 1_500_000);

  it('a broken /sbin/init fails its boot test fast and never goes live; 000002 keeps serving', async () => {
    const before = Object.fromEntries(['tftp', 'nbd', 'conf'].map((t) => [t, serving(t)]));
    expect(before.nbd).toBe('000002');
    const r = await nightly({ NIGHTLY_BOOT: '1', NIGHTLY_BREAK_INIT: '1' });
    expect(r.code).toBe(1);
    expect(r.data.ok).toBe(false);
    expect(r.host).toMatchObject({ status: 'boot-failed', release: '000003', live: '000002', firmware: 'bios' });
    // Fast: the panic ended the boot, not the 300 s timeout.
    const panic = /the kernel panicked after ([\d.]+) s: .*(Attempted to kill init|Kernel panic)/.exec(r.host.reason);
    expect(panic, r.host.reason).not.toBeNull();
    expect(Number(panic![1])).toBeLessThan(150);
    expect(r.host.console.join('\n')).toContain('netboot test: this init exits');
    const text = readFileSync(notified(), 'utf8');
    expect(text).toContain(
      `${HOST}: BOOT TEST FAILED (bios): release 000003 was not switched in; release 000002 stays live`,
    );
    // Every target serves what it served before: the failed release was staged beside it, never switched in.
    for (const t of ['tftp', 'nbd', 'conf']) expect(serving(t), t).toBe(before[t]);
    expect(existsSync(deb.path('san/nbd/.releases', HOST, '000003'))).toBe(true);

    // The same broken build through `publish --boot-test`: refused with BOOT_TEST_FAILED, nothing switched.
    const p = await deb.runAsync(['publish', HOST, '--boot-test'], {
      CANARY_SECURITY_MIRROR: url,
      NIGHTLY_BREAK_INIT: '1',
    });
    expect(p.code).toBe(1);
    expect(p.stderr).toContain(
      'error [BOOT_TEST_FAILED]: host nightly-nbd: release 000004 failed its boot test (bios)',
    );
    expect(p.stderr).toContain('release 000002 stays live');
    expect(live()).toBe('000002');
  }, 1_500_000);
});
