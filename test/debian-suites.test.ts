import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { byStep, Project, type StepRow } from './helpers.js';

// The releases users run now, on the shared Debian cache: trixie (Debian 13, the stable release)
// over NBD and bookworm (12) as an NFS-root KVM server, each built from the real mirror and
// booted under qemu to its login prompt.
let deb: Project;
const cache = inject('sharedDebianCache');
const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 26 });
const tree = (s: StepRow) => join(cache, 'trees', s.outputs!.tree.digest);
const object = (s: StepRow, out: string) =>
  join(cache, 'objects', s.outputs![out].digest.slice(0, 2), s.outputs![out].digest);

beforeAll(() => {
  deb = new Project('debian-nbd', { cache });
});
afterAll(() => deb.remove(), 300_000);

describe('trixie over NBD', () => {
  let steps: Record<string, StepRow>;

  it('builds: xz-compressed modules, merged /usr, a zstd initrd, deb822 sources, no grep fix', async () => {
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'trixie-nbd']);
    expect(r.code, r.stderr).toBe(0);
    steps = byStep(r.data.steps);
    const list = readFileSync(object(steps.kernel, 'modules'), 'utf8');
    expect(list).toMatch(/^usr\/lib\/modules\/[^/]+\/kernel\/drivers\/block\/nbd\.ko\.xz$/m);
    expect(list).toMatch(/^usr\/sbin\/nbd-client$/m);
    // trixie's nbd-client script no longer calls grep: no hook, and the initrd has no grep.
    expect(list).not.toMatch(/^(usr\/)?bin\/grep$/m);
    expect(sh(`ls ${tree(steps.customize)}/etc/initramfs-tools/hooks/`)).not.toContain('netboot-grep');
    // mkinitramfs: an uncompressed part (the already-compressed modules), then zstd (magic 28 b5 2f fd).
    expect(readFileSync(object(steps.kernel, 'initrd')).includes(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe(true);
    const root = tree(steps.customize);
    expect(readFileSync(join(root, 'etc/apt/sources.list.d/debian.sources'), 'utf8')).toContain(
      'Suites: trixie trixie-updates\nComponents: main\n',
    );
    expect(sh(`ls ${root}/etc/apt/`)).not.toMatch(/^sources\.list$/m);
    expect(sh(`dpkg-query --admindir=${root}/var/lib/dpkg -W -f='\${Status}' zstd`)).toBe('install ok installed');
    // One kernel: the upgrade purged the one the main suite had, if -security replaced it.
    expect(sh(`ls ${root}/usr/lib/modules`).trim().split('\n')).toHaveLength(1);
  }, 1_200_000);

  it('publishes and boots to the login prompt', async () => {
    const pub = await deb.runAsync(['publish', 'trixie-nbd']);
    expect(pub.code, pub.stderr).toBe(0);
    const boot = await deb.runAsync(['boot-test', 'trixie-nbd', '--timeout', '500']);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
    expect(boot.stdout).toMatch(/trixie-nbd: login prompt after [\d.]+ s/);
  }, 700_000);
});

describe('bookworm kvm-host over NFS', () => {
  it('builds, publishes and boots from nfs-ganesha to the login prompt', async () => {
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'bookworm-kvm']);
    expect(r.code, r.stderr).toBe(0);
    const root = tree(byStep(r.data.steps).customize);
    expect(readFileSync(join(root, 'etc/apt/sources.list.d/debian.sources'), 'utf8')).toContain(
      'URIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n',
    );
    const pub = await deb.runAsync(['publish', 'bookworm-kvm']);
    expect(pub.code, pub.stderr).toBe(0);
    const boot = await deb.runAsync(['boot-test', 'bookworm-kvm', '--timeout', '500']);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
    expect(boot.stdout).toMatch(/bookworm-kvm: login prompt after [\d.]+ s/);
  }, 1_500_000);
});
