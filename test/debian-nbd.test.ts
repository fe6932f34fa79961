import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newer, newestOffered } from './debian-index.js';
import { byStep, Project, ran, type StepRow } from './helpers.js';

// The real thing: mmdebstrap of Debian bullseye from deb.debian.org, apt, mkinitramfs, mke2fs,
// pxelinux, then nbd-server and qemu (TCG) booting the published release to its login prompt.
let deb: Project;
const cache = inject('sharedDebianCache');
let first: Record<string, StepRow>;
const object = (s: StepRow, out: string) =>
  join(cache, 'objects', s.outputs![out].digest.slice(0, 2), s.outputs![out].digest);
const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 26 });

beforeAll(() => {
  deb = new Project('debian-nbd', { cache });
});
// A multi-GB tree: removing it takes more than the default hook timeout on a loaded machine.
afterAll(() => deb.remove(), 300_000);

describe('debian-bullseye-nbd', () => {
  it('builds every step from a real Debian mirror', async () => {
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'bullseye-nbd']);
    expect(r.code, r.stderr).toBe(0);
    first = byStep(r.data.steps);
    expect(Object.keys(first).sort()).toEqual([
      'base',
      'customize',
      'image',
      'kernel',
      'package-manifest',
      'packages',
      'server-configs',
      'tftp',
      'upgrade',
    ]);
  }, 1_200_000);

  it('is fully up to date: no suite among main, -updates and -security offers a newer version of any package', () => {
    const manifest = JSON.parse(readFileSync(object(first['package-manifest'], 'manifest'), 'utf8')) as {
      packages: { name: string; version: string; architecture: string }[];
    };
    const offered = newestOffered([
      { uri: 'http://deb.debian.org/debian', suite: 'bullseye' },
      { uri: 'http://deb.debian.org/debian', suite: 'bullseye-updates' },
      { uri: 'http://deb.debian.org/debian-security', suite: 'bullseye-security' },
    ]);
    const behind = manifest.packages
      .filter((x) => offered.has(x.name) && offered.get(x.name) !== x.version && newer(offered.get(x.name)!, x.version))
      .map((x) => `${x.name} ${x.version} < ${offered.get(x.name)}`);
    expect(behind).toEqual([]);
    // The fixes the issue found missing are in.
    expect(manifest.packages.find((x) => x.name === 'openssh-server')?.version).toBe(offered.get('openssh-server'));
    expect(manifest.packages.find((x) => x.name === 'libc6')?.version).toBe(offered.get('libc6'));
  }, 300_000);

  it('makes an initrd with NBD root support and grep (checked by bsdtar, not by netboot)', () => {
    const list = sh(`bsdtar -tf ${object(first.kernel, 'initrd')}`);
    expect(list).toMatch(/^(usr\/)?bin\/grep$/m);
    expect(list).toMatch(/^scripts\/local-top\/nbd$/m);
    expect(list).toMatch(/^(usr\/)?sbin\/nbd-client$/m);
    expect(list).toMatch(/nbd\.ko$/m);
  });

  it('makes an e2fsck-clean ext4 image holding the customized root, and no secret where it must not be', () => {
    const img = object(first.image, 'image');
    expect(sh(`e2fsck -fn ${img} 2>&1; echo rc=$?`)).toMatch(/rc=0/);
    expect(sh(`debugfs -R 'cat /etc/hostname' ${img} 2>/dev/null`)).toBe('bullseye-nbd\n');
    expect(sh(`debugfs -R 'cat /etc/fstab' ${img} 2>/dev/null`)).toBe(
      '/dev/nbd0 / ext4 remount,noatime,nodiratime 0 0\n',
    );
    expect(sh(`debugfs -R 'ls /etc/ssh' ${img} 2>/dev/null`)).not.toMatch(/ssh_host_/);
    // As on an installed system (mmdebstrap makes it 0666).
    expect(sh(`debugfs -R 'stat /dev/console' ${img} 2>/dev/null`)).toMatch(/Type: character special\s+Mode:\s+0600\b/);
    expect(sh(`debugfs -R 'cat /home/demo/.ssh/authorized_keys' ${img} 2>/dev/null`)).toContain('demo@netboot');
    // Values that would be code in a script are written as they are, and nothing ran.
    expect(sh(`debugfs -R 'cat /home/hostile/.ssh/authorized_keys' ${img} 2>/dev/null`)).toContain(
      `it's "quoted" $(touch /dev/shm/netboot-canary-debian) \`id\` ; && *\n`,
    );
    expect(sh(`debugfs -R 'cat /etc/passwd' ${img} 2>/dev/null`)).toMatch(
      /^hostile:x:\d+:\d+::\/home\/hostile:\/bin\/sh$/m,
    );
    expect(existsSync('/dev/shm/netboot-canary-debian')).toBe(false);
    // The initrd (served by TFTP) carries no password hash and no shadow file.
    expect(sh(`bsdtar -tf ${object(first.kernel, 'initrd')}`)).not.toMatch(/etc\/shadow/);
  });

  it('publishes, then boots the published release under qemu to the login prompt', async () => {
    const pub = await deb.runAsync(['publish', 'bullseye-nbd']);
    expect(pub.code, pub.stderr).toBe(0);
    const tftp = deb.path('san/tftp/bullseye-nbd');
    expect(readdirSync(tftp).sort()).toEqual([
      '.netboot-release.json',
      // UEFI (boot.firmware defaults to both): shim, GRUB and their configs, see test/uefi-boot.test.ts.
      'grub',
      'grub.cfg',
      'grubx64.efi',
      'initrd.img',
      'ldlinux.c32',
      'libcom32.c32',
      'libutil.c32',
      'menu.c32',
      'pxelinux.0',
      'pxelinux.cfg',
      'shimx64.efi',
      'vmlinuz',
    ]);
    expect(readFileSync(join(tftp, 'pxelinux.cfg/01-52-54-00-12-34-56'), 'utf8')).toContain(
      'APPEND root=/dev/nbd0 nbdroot=10.0.2.2,bullseye-nbd,nbd0 ip=dhcp rw console=ttyS0',
    );
    expect(sh(`grep -rl 'netbootdemo' ${deb.path('san/tftp')}/ || true`)).toBe('');
    // The published disk is nbd-server's and nobody else's: no other local user reads its shadow.
    chmodSync(deb.dir, 0o755);
    const disk = realpathSync(deb.path('san/nbd/bullseye-nbd/disk.img'));
    expect(statSync(disk).mode & 0o777).toBe(0o600);
    expect(
      sh(`setpriv --reuid=65534 --regid=65534 --clear-groups debugfs -R 'cat /etc/shadow' ${disk} 2>&1 || true`),
    ).not.toContain('root:');
    // The package manifest travels with the release, beside the server configs (not on public TFTP).
    const manifest = JSON.parse(readFileSync(deb.path('san/conf/bullseye-nbd/packages.json'), 'utf8'));
    expect(manifest.format).toBe('netboot.debian-packages/1');
    expect(manifest.packages.map((x: { name: string }) => x.name)).toEqual(
      expect.arrayContaining(['linux-image-amd64', 'nbd-client', 'openssh-server']),
    );
    // The host's own apt sees the suite, its point-release updates and the security archive.
    expect(sh(`debugfs -R 'cat /etc/apt/sources.list' ${object(first.image, 'image')} 2>/dev/null`)).toBe(
      'deb http://deb.debian.org/debian bullseye main\n' +
        'deb http://deb.debian.org/debian bullseye-updates main\n' +
        'deb http://deb.debian.org/debian-security bullseye-security main\n',
    );
    const conf = readFileSync(deb.path('san/conf/bullseye-nbd/nbd-server/conf.d/bullseye-nbd.conf'), 'utf8');
    expect(conf).toContain(`exportname = ${deb.path('san/nbd/bullseye-nbd/disk.img')}`);
    const boot = await deb.runAsync(['boot-test', 'bullseye-nbd', '--timeout', '400']);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
    expect(boot.stdout).toMatch(/bullseye-nbd: login prompt after [\d.]+ s/);
  }, 600_000);

  it('a second build runs nothing; a new kernel command line re-runs only the TFTP step, and explain says why', () => {
    const again = deb.json<{ steps: StepRow[] }>(['build', 'bullseye-nbd']);
    expect(ran(again.data.steps)).toEqual([]);
    const args = deb.json<{ steps: StepRow[] }>(['build', 'bullseye-nbd'], { NBD_KERNEL_ARGS: 'quiet' });
    expect(ran(args.data.steps)).toEqual(['tftp']);
    expect(byStep(args.data.steps).tftp.reasons).toEqual([
      'param append: "root=/dev/nbd0 nbdroot=10.0.2.2,bullseye-nbd,nbd0 ip=dhcp rw console=ttyS0" -> ' +
        '"root=/dev/nbd0 nbdroot=10.0.2.2,bullseye-nbd,nbd0 ip=dhcp rw console=ttyS0 quiet"',
    ]);
    const explain = deb.run(['explain', 'bullseye-nbd', 'tftp']);
    expect(explain.stdout).toContain('last build: ran because param append');
  }, 300_000);

  it('adding a package runs it in a step of its own and what follows, not the base or the recipe ' +
    'packages', async () => {
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'bullseye-nbd'], { NBD_PACKAGES: 'less' });
    expect(r.code, r.stderr).toBe(0);
    expect(ran(r.data.steps)).toEqual(['customize', 'extra-packages', 'image', 'kernel', 'package-manifest']);
    expect([byStep(r.data.steps).base.outcome, byStep(r.data.steps).packages.outcome]).toEqual(['cached', 'cached']);
    // mkinitramfs is reproducible (SOURCE_DATE_EPOCH) and `less` changes no initrd byte: the kernel
    // step re-ran, produced the same files, and the TFTP step after it stayed cached.
    expect(byStep(r.data.steps).kernel.outputs).toEqual(first.kernel.outputs);
    expect(byStep(r.data.steps).tftp.outcome).toBe('cached');
  }, 900_000);

  it('bad input is one clear error each, and the cache is untouched', async () => {
    const records = () => sh(`find ${join(cache, 'actions')} -type f | wc -l`);
    const before = records();
    const unreachable = await deb.runAsync(['build', 'bullseye-nbd'], { NBD_MIRROR: 'http://127.0.0.1:9/debian' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(
      'error [FINGERPRINT_FAILED]: host bullseye-nbd, step base: cannot compute the upstream fingerprint: cannot ' +
        'fetch http://127.0.0.1:9/debian/dists/bullseye/InRelease',
    );
    // A suite netboot does not know is refused by the config's check, before anything is fetched.
    const nosuite = await deb.runAsync(['build', 'bullseye-nbd'], { NBD_SUITE: 'no-such-suite' });
    expect(nosuite.code).toBe(2);
    expect(nosuite.stderr).toContain(
      'error [CONFIG_INVALID]: ' +
        `${deb.path('netboot.config.ts')}: hosts.bullseye-nbd.params.suite: "no-such-suite" is not one of bullseye, ` +
        'bookworm, trixie',
    );
    const small = await deb.runAsync(['build', 'bullseye-nbd'], { NBD_IMAGE_SIZE: '256M' });
    expect(small.code).toBe(1);
    expect(small.stderr).toMatch(
      new RegExp(
        String.raw`error \[IMAGE_TOO_SMALL\]: host bullseye-nbd, step image failed: ` +
          String.raw`the tree needs about [\d.]+ MiB but the image is 256\.0 MiB`,
      ),
    );
    expect(records()).toBe(before);
    // No host tools at all on PATH but node: the first step's tool is named with its package.
    const bin = deb.path('only-node');
    sh(`mkdir -p ${bin} && ln -sf ${process.execPath} ${bin}/node`);
    const bare = await deb.runAsync(['build', 'bullseye-nbd'], {
      PATH: bin,
      NBD_MIRROR: 'http://deb.debian.org/debian/',
    });
    expect(bare.stderr).toContain('host tool "mmdebstrap" is not installed (Debian package mmdebstrap)');
  }, 300_000);

  it('kvm-host shares the base, publishes a read-write NFS root and boots from nfs-ganesha to the ' +
    'login prompt', async () => {
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'kvm-host']);
    expect(r.code, r.stderr).toBe(0);
    const steps = byStep(r.data.steps);
    expect(steps.base.outcome).toBe('cached');
    expect(steps.base.outputs).toEqual(first.base.outputs);
    expect(sh(`bsdtar -tf ${object(steps.kernel, 'initrd')}`)).toMatch(/^scripts\/nfs$/m);
    const pub = await deb.runAsync(['publish', 'kvm-host']);
    expect(pub.code, pub.stderr).toBe(0);
    const live = deb.path('san/nfs/kvm-host/root');
    expect(readFileSync(join(live, 'etc/hostname'), 'utf8')).toBe('kvm-host\n');
    expect(statSync(join(realpathSync(live), '..')).mode & 0o777).toBe(0o700);
    expect(sh(`setpriv --reuid=65534 --regid=65534 --clear-groups cat ${live}/etc/hostname 2>&1 || true`)).toContain(
      'Permission denied',
    );
    expect(readFileSync(join(live, 'etc/fstab'), 'utf8')).toContain('/var/lib/libvirt/images ext4 _netdev,nofail');
    expect(readFileSync(deb.path('san/tftp/kvm-host/pxelinux.cfg/01-52-54-00-12-34-57'), 'utf8')).toContain(
      `APPEND root=/dev/nfs nfsroot=10.0.2.2:${live},vers=3,tcp,nolock boot=nfs ip=dhcp rw console=ttyS0`,
    );
    expect(readFileSync(deb.path('san/conf/kvm-host/exports.d/kvm-host.exports'), 'utf8')).toContain(
      `${live} 10.0.2.16(rw,sync,no_root_squash,no_subtree_check)`,
    );
    const boot = await deb.runAsync(['boot-test', 'kvm-host', '--timeout', '400']);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
    expect(boot.stdout).toMatch(/kvm-host: login prompt after [\d.]+ s/);
    const explain = deb.run(['explain', 'kvm-host', 'base']);
    expect(explain.stdout).toMatch(/^base \(debian-base@2\): up to date/m);
  }, 1_200_000);

  it('kvm-host with rootMode overlay: a read-only root (hardlinked, exported ro) under a tmpfs ' +
    'overlay boots too', async () => {
    const pub = await deb.runAsync(['publish', 'kvm-ro']);
    expect(pub.code, pub.stderr).toBe(0);
    const live = deb.path('san/nfs/kvm-ro/root');
    expect(lstatSync(live).isDirectory()).toBe(true);
    expect(readFileSync(deb.path('san/tftp/kvm-ro/pxelinux.cfg/01-52-54-00-12-34-58'), 'utf8')).toContain(
      'boot=nfs ip=dhcp ro netboot.overlay console=ttyS0',
    );
    expect(readFileSync(deb.path('san/conf/kvm-ro/exports.d/kvm-ro.exports'), 'utf8')).toContain(
      `${live} 10.0.2.17(ro,`,
    );
    const boot = await deb.runAsync(['boot-test', 'kvm-ro', '--timeout', '400']);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
  }, 1_200_000);

  it('doctor finds every host tool the recipe needs', () => {
    const r = deb.run(['doctor']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/ok\s+mmdebstrap\s+mmdebstrap/);
    expect(r.stdout).toMatch(/ok\s+\/usr\/lib\/PXELINUX\/pxelinux\.0\s+pxelinux/);
    expect(r.stdout).toMatch(/ok\s+qemu-system-x86_64\s+qemu-system-x86\s+boot-test/);
  });
});
