import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTar } from './freebsd-hostile.js';
import { type FreebsdSets, makeFreebsdSets } from './freebsd-sets.js';
import { byStep, Project, ran, type StepRow } from './helpers.js';

// The fixture: two hosts of recipe freebsd10-nfs-ezjail sharing one root; sets from FB_* variables.
let project: Project;
let work: string;
let sets: FreebsdSets;
let server: Server;
let http: string;
let fileEnv: Record<string, string>;

const SECRET = 'chap-secret-of-jailhost';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const san = (...p: string[]) => project.path('san', ...p);
const root = (...p: string[]) => san('nfs/jailhost/root', ...p);
const etcCpio = () => root('conf/base/etc.cpio.gz');

async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await project.jsonAsync<{ steps: StepRow[] }>(args, { ...fileEnv, ...env });
  return { code: r.code, rows: r.data.steps ?? [], data: r.data as any, stderr: r.stderr };
}
const hostRows = (rows: StepRow[], host: string) => rows.filter((s) => s.host === host);

/** Regular files under `dir` (symlinks not followed) whose bytes contain one of `needles`. */
function grepTree(dir: string, needles: string[]): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const b = readFileSync(p);
        if (needles.some((n) => b.includes(n))) found.push(p);
      }
    }
  };
  walk(dir);
  return found;
}

beforeAll(async () => {
  project = new Project('freebsd-jailhost');
  work = mkdtempSync(join(dirname(project.dir), 'netboot-freebsd-dist-'));
  sets = await makeFreebsdSets(work);
  mkdirSync(project.path('secrets'), { mode: 0o700 });
  writeFileSync(project.path('secrets/jailhost-chap'), `${SECRET}\n`, { mode: 0o600 });
  fileEnv = {
    FB_BASE_URL: pathToFileURL(sets.base.file).href,
    FB_BASE_SHA256: sets.base.sha256,
    FB_KERNEL_URL: pathToFileURL(sets.kernel.file).href,
    FB_KERNEL_SHA256: sets.kernel.sha256,
    FB_PKG_URL: pathToFileURL(sets.ezjail.file).href,
    FB_PKG_SHA256: sets.ezjail.sha256,
  };
  server = createServer((req, res) => {
    const name = (req.url ?? '').replace(/^\/FreeBSD\//, '');
    const f = { 'base.txz': sets.base.file, 'kernel.txz': sets.kernel.file, 'ezjail-3.4.2.txz': sets.ezjail.file }[
      name
    ];
    if (!f) return void res.writeHead(404).end();
    createReadStream(f).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  http = `http://127.0.0.1:${(server.address() as AddressInfo).port}/FreeBSD`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  project?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('freebsd10-nfs-ezjail', () => {
  it('builds and publishes two hosts on one root; a second build runs no step', async () => {
    const b = await cli(['publish', '--all']);
    expect(b.code, b.stderr).toBe(0);
    const first = await cli(['build', '--all']);
    expect(first.code, first.stderr).toBe(0);
    expect(ran(first.rows)).toEqual([]);
    const one = byStep(hostRows(first.rows, 'jailhost'));
    const two = byStep(hostRows(first.rows, 'jailhost2'));
    // One root for both: only /conf and the server configs differ.
    expect(two.customize.outputs!.tree.digest).toBe(one.customize.outputs!.tree.digest);
    expect(two['etc-archive'].outputs!.archive.digest).toBe(one['etc-archive'].outputs!.archive.digest);
    expect(two.conf.outputs!.tree.digest).not.toBe(one.conf.outputs!.tree.digest);

    // The published root: the sets, the package, netboot's files, and /conf laid over it.
    expect(readFileSync(root('bin/sh'), 'utf8')).toContain('FreeBSD sh');
    expect(readFileSync(root('boot/kernel/kernel'), 'utf8')).toBe('ELF kernel\n');
    expect(statSync(root('usr/bin/su')).mode & 0o7777).toBe(0o4555);
    expect(readFileSync(root('usr/local/bin/ezjail-admin'), 'utf8')).toContain('ezjail-admin');
    expect(existsSync(root('+MANIFEST'))).toBe(false);
    expect(readlinkSync(root('usr/local/etc/ezjail'))).toBe('/iscsi/jails/etc/ezjail');
    expect(readFileSync(root('usr/local/etc/ezjail.conf'), 'utf8')).toMatch(/^ezjail_jaildir=\/iscsi\/jails$/m);
    expect(existsSync(root('etc/diskless'))).toBe(true);
    expect(lstatSync(root('iscsi')).isDirectory()).toBe(true);
    const rc = readFileSync(root('etc/rc.conf'), 'utf8');
    for (const line of [
      'sshd_enable="YES"',
      'iscsid_enable="YES"',
      'iscsictl_enable="YES"',
      // iscsictl(8): -w waits up to N seconds for the sessions, instead of connecting in the background.
      'iscsictl_flags="-Aa -w 60"',
      'netboot_iscsi_enable="YES"',
      'ezjail_enable="YES"',
      'netboot_fstabs_enable="YES"',
    ])
      expect(rc.split('\n')).toContain(line);
    const script = root('usr/local/etc/rc.d/netboot_fstabs');
    expect(statSync(script).mode & 0o777).toBe(0o555);
    expect(spawnSync('sh', ['-n', script]).status).toBe(0);
    expect(readFileSync(script, 'utf8')).toMatch(/# REQUIRE: mountlate\n# BEFORE: ezjail\n# KEYWORD: nojail shutdown/);

    // /conf as rc.initdiskless reads it.
    const conf = (...p: string[]) => root('conf', ...p);
    expect(readFileSync(conf('base/etc/md_size'), 'utf8')).toBe('20480\n');
    // No NFS remount of <root>/etc: etc.cpio.gz fills /etc, and a FreeBSD mountd would refuse it.
    expect(existsSync(conf('base/etc/diskless_remount'))).toBe(false);
    expect(readdirSync(conf('base/etc'))).toEqual(['md_size']);
    expect(readFileSync(conf('base/var/md_size'), 'utf8')).toBe('65536\n');
    expect(readFileSync(conf('base/iscsi/md_size'), 'utf8')).toBe('2048\n');
    expect(existsSync(conf('base/var.cpio.gz'))).toBe(true);
    const local = readFileSync(conf('10.0.0.5/etc/rc.conf.local'), 'utf8').split('\n');
    expect(local).toEqual(
      expect.arrayContaining([
        'hostname="jailhost"',
        'defaultrouter="10.0.0.1"',
        'ifconfig_em0_alias0="inet 10.0.0.50/32"',
        'ifconfig_em0_alias1="inet 10.0.0.51/32"',
      ]),
    );
    expect(local).toContain('netboot_iscsi_device="/dev/da0"');
    expect(local.some((l) => /^ifconfig_em0=/.test(l))).toBe(false);
    const fstab = readFileSync(conf('10.0.0.5/etc/fstab'), 'utf8');
    expect(fstab).toContain(`10.0.0.1:${san('nfs/jailhost/root')}\t/\tnfs\tro\t0\t0`);
    expect(fstab).toContain('/dev/da0\t/iscsi\tufs\trw,late\t0\t0');
    const iscsi = conf('10.0.0.5/etc/iscsi.conf');
    // 0600 in the manifest; published as the cache's read-only inode, so without the write bit.
    expect(statSync(iscsi).mode & 0o777).toBe(0o400);
    expect(readFileSync(iscsi, 'utf8')).toContain(
      '\tTargetAddress = 10.0.0.1:3260\n\tTargetName = iqn.2026-11.lan.san:jailhost\n\tAuthMethod = ' +
        `CHAP\n\tchapIName = "jailhost"\n\tchapSecret = "${SECRET}"\n`,
    );
    // A salt line keyed on the cache's key: the file's digest (tree manifests, stat rows, release
    // manifests) cannot be matched against guesses of the secret. Without it, this is the digest.
    const text = readFileSync(iscsi, 'utf8');
    const salt = text.match(/^# salt: (hmac:[0-9a-f]{64})\n/m);
    expect(salt).not.toBeNull();
    const unsalted = sha(text.replace(salt![0], ''));
    // The salted file's digest is where a digest would be (so the search below can find one).
    expect(grepTree(project.path('.netboot/cache'), [sha(text)]).length).toBeGreaterThan(0);
    expect(grepTree(project.path('.netboot/cache'), [unsalted, sha(`${SECRET}\n`), sha(SECRET)])).toEqual([]);
    expect(grepTree(san(), [unsalted, sha(`${SECRET}\n`), sha(SECRET)])).toEqual([]);
    expect(readFileSync(san('nfs/jailhost2/root/conf/10.0.0.6/etc/iscsi.conf'), 'utf8')).not.toContain('chap');
    expect(readFileSync(san('nfs/jailhost2/root/conf/10.0.0.6/etc/rc.conf.local'), 'utf8')).toContain(
      'ifconfig_vtnet0_alias0="inet 10.0.0.60/32"',
    );
    // Each host's release carries only its own /conf/<ip>.
    expect(readdirSync(conf()).sort()).toEqual(['10.0.0.5', 'base']);

    // TFTP: pxeboot from base.txz under the recipe's prefix, in the host's directory.
    expect(readFileSync(san('tftp/jailhost/freebsd10/boot/pxeboot'), 'utf8')).toContain('pxeboot');

    const again = await cli(['publish', '--all']);
    expect(again.code, again.stderr).toBe(0);
    expect(ran(again.rows)).toEqual([]);
  });

  it(
    'netboot_fstabs saves jail fstabs to the iSCSI disk and restores them after a reboot, never into the memory ' +
      'disk',
    () => {
      // FreeBSD's rc.subr and `mount -p` cannot run here: minimal stand-ins give the script what it
      // calls (load_rc_config, run_rc_command, warn; mount -p's fstab-format line for /iscsi). The
      // script itself, its sh syntax and its file handling run for real.
      const t = mkdtempSync(join(work, 'rcd-'));
      const script = readFileSync(root('usr/local/etc/rc.d/netboot_fstabs'), 'utf8').replace(
        '. /etc/rc.subr',
        `. ${t}/rc.subr`,
      );
      writeFileSync(join(t, 'netboot_fstabs'), script);
      writeFileSync(
        join(t, 'rc.subr'),
        'warn() { echo "netboot_fstabs: WARNING: $*" >&2; }\n' +
          'load_rc_config() { . "$RC_CONF"; }\n' +
          'run_rc_command() { eval "cmd=\\$${1}_cmd"; $cmd; }\n',
      );
      writeFileSync(
        join(t, 'rc.conf'),
        `netboot_fstabs_enable=YES\nnetboot_fstabs_mount=${t}/iscsi\n` +
          `netboot_fstabs_dir=${t}/iscsi/netboot/etc\nnetboot_fstabs_etc=${t}/etc\n`,
      );
      mkdirSync(join(t, 'bin'));
      writeFileSync(join(t, 'bin/mount'), `#!/bin/sh\n[ "$1" = -p ] && echo "$MOUNT_DEV ${t}/iscsi ufs rw 0 0"\n`, {
        mode: 0o755,
      });
      mkdirSync(join(t, 'etc'));
      mkdirSync(join(t, 'iscsi'));
      writeFileSync(join(t, 'etc/fstab'), 'the host fstab\n');
      writeFileSync(
        join(t, 'etc/fstab.www_example'),
        '/iscsi/jails/basejail /iscsi/jails/www.example/basejail nullfs ro 0 0\n',
        { mode: 0o644 },
      );
      writeFileSync(join(t, 'etc/fstab.db'), 'db\n', { mode: 0o600 });
      const rc = (cmd: string, dev: string) =>
        spawnSync('sh', [join(t, 'netboot_fstabs'), cmd], {
          encoding: 'utf8',
          env: { ...process.env, PATH: `${t}/bin:${process.env.PATH}`, RC_CONF: join(t, 'rc.conf'), MOUNT_DEV: dev },
        });

      // Before the iSCSI disk is mounted, /iscsi is rc.initdiskless's memory disk: refuse.
      const early = rc('save', '/dev/md3');
      expect(early.status).toBe(1);
      expect(early.stderr).toContain('is not the iSCSI disk');
      expect(existsSync(join(t, 'iscsi/netboot'))).toBe(false);

      expect(rc('stop', '/dev/da0').status).toBe(0);
      const saved = join(t, 'iscsi/netboot/etc');
      expect(readdirSync(saved).sort()).toEqual(['fstab.db', 'fstab.www_example']);
      // A reboot: the memory /etc starts again from the archive, without the jail fstabs.
      rmSync(join(t, 'etc'), { recursive: true });
      mkdirSync(join(t, 'etc'));
      const start = rc('start', '/dev/da0');
      expect(start.status, start.stderr).toBe(0);
      expect(readFileSync(join(t, 'etc/fstab.www_example'), 'utf8')).toContain('nullfs ro');
      expect(statSync(join(t, 'etc/fstab.db')).mode & 0o777).toBe(0o600);
      expect(rc('start', '/dev/md3').status).toBe(1);
    },
  );

  it('netboot_iscsi holds the boot until the iSCSI disk exists (before mountlate), and gives up after the wait', () => {
    const t = mkdtempSync(join(work, 'rcd-iscsi-'));
    const script = readFileSync(root('usr/local/etc/rc.d/netboot_iscsi'), 'utf8');
    expect(script).toMatch(/# REQUIRE: iscsictl\n# BEFORE: mountlate\n/);
    expect(statSync(root('usr/local/etc/rc.d/netboot_iscsi')).mode & 0o777).toBe(0o555);
    writeFileSync(join(t, 'netboot_iscsi'), script.replace('. /etc/rc.subr', `. ${t}/rc.subr`));
    writeFileSync(
      join(t, 'rc.subr'),
      'warn() { echo "netboot_iscsi: WARNING: $*" >&2; }\n' +
        'load_rc_config() { . "$RC_CONF"; }\n' +
        'run_rc_command() { eval "cmd=\\$${1}_cmd"; $cmd; }\n',
    );
    const rc = (wait: number) => {
      writeFileSync(join(t, 'rc.conf'), `netboot_iscsi_device=${t}/da0\nnetboot_iscsi_wait=${wait}\n`);
      return spawnSync('sh', ['-c', `(sleep 1; : > ${t}/da0) & sh ${t}/netboot_iscsi start; echo "rc=$?"; wait`], {
        encoding: 'utf8',
        env: { ...process.env, RC_CONF: join(t, 'rc.conf') },
      });
    };
    // The disk appears a second after the session: start returns once it is there.
    expect(rc(10).stdout).toContain('rc=0');
    rmSync(join(t, 'da0'));
    const late = rc(0);
    expect(late.stdout).toContain('rc=1');
    expect(late.stderr).toContain('did not appear within 0 s');
  });

  it('etc.cpio.gz is odc, named etc/..., and bsdtar extracts it as rc.initdiskless does; GNU cpio reads it too', () => {
    const gz = readFileSync(etcCpio());
    const raw = gunzipSync(gz);
    expect(raw.subarray(0, 6).toString('latin1')).toBe('070707');
    const scratch = mkdtempSync(join(work, 'initdiskless-'));
    // rc.initdiskless: cd / ; tar -xpf /conf/T/etc.cpio.gz
    execFileSync('bsdtar', ['-xpf', etcCpio()], { cwd: scratch });
    expect(readdirSync(scratch)).toEqual(['etc']);
    const e = (p: string) => lstatSync(join(scratch, 'etc', p));
    expect(e('master.passwd').mode & 0o7777).toBe(0o600);
    expect(e('spwd.db').mode & 0o7777).toBe(0o600);
    expect(e('rc.d/sshd').mode & 0o7777).toBe(0o555);
    expect([e('mail/sendmail.cf').uid, e('mail/sendmail.cf').gid]).toEqual([25, 25]);
    expect([e('rc.conf').uid, e('rc.conf').gid]).toEqual([0, 0]);
    expect(readlinkSync(join(scratch, 'etc/os-release'))).toBe('../var/run/os-release');
    expect(readFileSync(join(scratch, 'etc/rc.conf'), 'utf8')).toBe(readFileSync(root('etc/rc.conf'), 'utf8'));
    expect(e('rc.conf').mtimeMs).toBe(1700000000 * 1000);

    const names = execFileSync('cpio', ['-it', '--quiet'], { input: raw, encoding: 'utf8' }).trim().split('\n');
    expect(names[0]).toBe('etc');
    expect(names).toEqual([...names].sort());
    expect(names.every((n) => n === 'etc' || n.startsWith('etc/'))).toBe(true);
    expect(names).toContain('etc/rc.conf');
    const verbose = execFileSync('cpio', ['-itv', '--quiet', '--numeric-uid-gid'], { input: raw, encoding: 'utf8' });
    expect(verbose).toMatch(/^-rw-------\s+1\s+0\s+0\s+.*etc\/master\.passwd$/m);
    expect(verbose).toMatch(/^-rw-r--r--\s+1\s+25\s+25\s+.*etc\/mail\/sendmail\.cf$/m);
  });

  it('changing a jail alias re-runs only the conf step', async () => {
    const r = await cli(['build', 'jailhost'], { FB_JAIL_IP: '10.0.0.52' });
    expect(r.code, r.stderr).toBe(0);
    expect(ran(r.rows)).toEqual(['conf']);
    const p = await cli(['publish', 'jailhost'], { FB_JAIL_IP: '10.0.0.52' });
    expect(p.code, p.stderr).toBe(0);
    expect(readFileSync(root('conf/10.0.0.5/etc/rc.conf.local'), 'utf8')).toContain(
      'ifconfig_em0_alias0="inet 10.0.0.52/32"',
    );
    const back = await cli(['publish', 'jailhost']);
    expect(ran(back.rows)).toEqual([]);
  });

  it('a new CHAP secret re-runs only the conf step, and never enters the config or the step key', async () => {
    writeFileSync(project.path('secrets/jailhost-chap'), 'another-secret-value\n');
    try {
      const r = await cli(['build', 'jailhost']);
      expect(r.code, r.stderr).toBe(0);
      expect(ran(r.rows)).toEqual(['conf']);
      const record = readFileSync(
        project.path(
          '.netboot/cache/actions',
          r.rows.find((s) => s.step === 'conf')!.key!.slice(0, 2),
          `${byStep(r.rows).conf.key}.json`,
        ),
        'utf8',
      );
      expect(record).not.toContain('another-secret-value');
      // Neither the secret's plain sha256: only an HMAC under the cache's own key.
      const plain = createHash('sha256').update('another-secret-value\n').digest('hex');
      expect(record).not.toContain(plain);
      expect(readFileSync(project.path('.netboot/cache/hosts/jailhost.json'), 'utf8')).not.toContain(plain);
      expect(JSON.parse(record).parts.sources['secrets/jailhost-chap']).toMatch(/^hmac:/);
    } finally {
      writeFileSync(project.path('secrets/jailhost-chap'), `${SECRET}\n`);
    }
    rmSync(project.path('secrets/jailhost-chap'));
    try {
      const missing = await cli(['build', 'jailhost']);
      expect(missing.code).toBe(1);
      expect(JSON.stringify(missing.data)).toContain('SOURCE_MISSING');
    } finally {
      writeFileSync(project.path('secrets/jailhost-chap'), `${SECRET}\n`, { mode: 0o600 });
    }
  });

  it(
    'etc.cpio.gz is byte-identical from a clean build with another cache; sets fetched over HTTP ' +
      'give the same root',
    async () => {
      const before = sha(readFileSync(etcCpio()));
      const other = mkdtempSync(join(work, 'cache-'));
      const env = {
        FB_CACHE: other,
        FB_BASE_URL: `${http}/base.txz`,
        FB_KERNEL_URL: `${http}/kernel.txz`,
        FB_PKG_URL: `${http}/ezjail-3.4.2.txz`,
      };
      const r = await cli(['build', 'jailhost'], env);
      expect(r.code, r.stderr).toBe(0);
      const steps = byStep(r.rows);
      expect(steps['fetch-base'].outcome).toBe('ran');
      expect(steps['etc-archive'].outcome).toBe('ran');
      expect(
        sha(
          readFileSync(
            join(
              other,
              'objects',
              steps['etc-archive'].outputs!.archive.digest.slice(0, 2),
              steps['etc-archive'].outputs!.archive.digest,
            ),
          ),
        ),
      ).toBe(before);
    },
  );

  it(
    'server configs: dhcpd host block with root-path (dhcpd -t), dnsmasq (--test), exports for Linux ' + 'and FreeBSD',
    () => {
      const c = (...p: string[]) => san('conf/jailhost', ...p);
      const dhcpd = readFileSync(c('dhcpd/jailhost.conf'), 'utf8');
      const rootPath = san('nfs/jailhost/root');
      for (const line of [
        'hardware ethernet 12:34:56:78:90:ab;',
        'fixed-address 10.0.0.5;',
        'filename "jailhost/freebsd10/boot/pxeboot";',
        'next-server 10.0.0.1;',
        `option root-path "10.0.0.1:${rootPath}";`,
      ])
        expect(dhcpd).toContain(line);
      const conf = join(work, 'dhcpd.conf');
      writeFileSync(conf, `subnet 10.0.0.0 netmask 255.255.255.0 {\n}\ninclude "${c('dhcpd/jailhost.conf')}";\n`);
      const t = spawnSync('dhcpd', ['-t', '-cf', conf], { encoding: 'utf8' });
      expect(t.status, t.stderr).toBe(0);
      const d = spawnSync('dnsmasq', ['--test', `--conf-file=${c('dnsmasq.d/jailhost.conf')}`], { encoding: 'utf8' });
      expect(d.status, d.stderr).toBe(0);
      expect(readFileSync(c('dnsmasq.d/jailhost.conf'), 'utf8')).toContain(`option:root-path,"10.0.0.1:${rootPath}"`);
      expect(readFileSync(c('exports.d/jailhost.exports'), 'utf8')).toContain(
        `${rootPath} 10.0.0.5(ro,sync,no_root_squash,no_subtree_check)`,
      );
      expect(readFileSync(c('freebsd/exports-jailhost'), 'utf8')).toContain(
        `${rootPath} -ro -maproot=0 -alldirs 10.0.0.5`,
      );
    },
  );

  it('boot-test says it boots Linux hosts only, instead of calling the FreeBSD host unpublished', async () => {
    const r = await project.runAsync(['boot-test', 'jailhost'], fileEnv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('BOOT_TEST_UNSUPPORTED');
  });

  it(
    'a set without a pinned sha256 fails its fetch step only, naming the host, the step and where to find the ' +
      'digest',
    async () => {
      const url = 'http://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases/amd64/10.4-RELEASE/kernel.txz';
      const r = await cli(['build', 'jailhost'], { FB_KERNEL_SHA256: '', FB_KERNEL_URL: url });
      expect(r.code).toBe(1);
      const failed = r.rows.filter((s) => s.outcome === 'failed');
      expect(failed.map((s) => [s.step, s.error!.code])).toEqual([['fetch-kernel', 'SOURCE_NOT_PINNED']]);
      expect(failed[0].error!.message).toContain('host jailhost');
      expect(failed[0].error!.message).toContain('10.4-RELEASE/MANIFEST');
      // The config still loads: commands that do not fetch are not held hostage by an unpinned set.
      expect((await project.runAsync(['ls'], { ...fileEnv, FB_KERNEL_SHA256: '', FB_KERNEL_URL: url })).code).toBe(0);
    },
  );

  it('a package whose names climb out of the root is refused, and nothing is stored', async () => {
    const bad = join(work, 'evil-1.0.txz');
    await writeTar(
      bad,
      [
        { name: '+MANIFEST', content: '{}' },
        { name: '/usr/local/../../../../tmp/netboot-escaped', content: 'x' },
      ],
      'xz',
    );
    const r = await cli(['build', 'jailhost'], {
      FB_PKG_URL: pathToFileURL(bad).href,
      FB_PKG_SHA256: sha(readFileSync(bad)),
    });
    expect(r.code).toBe(1);
    const failed = r.rows.filter((s) => s.outcome === 'failed');
    expect(failed.map((s) => [s.step, s.error!.code])).toEqual([['root', 'UNSAFE_ARCHIVE_ENTRY']]);
    expect(existsSync('/tmp/netboot-escaped')).toBe(false);
    expect(
      failed[0].key &&
        existsSync(project.path('.netboot/cache/actions', failed[0].key.slice(0, 2), `${failed[0].key}.json`)),
    ).toBe(false);
  });
});
