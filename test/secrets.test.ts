import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Project } from './helpers.js';

// Defects 2 and 7 of issue 11: secrets stay private (cache, disks, keys), and nothing private
// is published to TFTP. The fixture's demo hosts take their overlay from SEC_OVERLAY.
const projects: Project[] = [];
const project = () => {
  const p = new Project('secrets');
  // mkdtemp made it 0700: open it as a user's project would be, so only netboot's modes protect.
  chmodSync(p.dir, 0o755);
  projects.push(p);
  return p;
};
afterEach(() => {
  for (const p of projects.splice(0)) p.remove();
});

const code = (stderr: string) => /error \[([A-Z_]+)\]/.exec(stderr)?.[1];
const mode = (path: string) => statSync(path).mode & 0o7777;
/** Runs a command as nobody, with no groups: what any other local user could do. */
const asNobody = (cmd: string, args: string[]) =>
  spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', cmd, ...args], { encoding: 'utf8' });
const keygen = (file: string, ...args: string[]) =>
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', 'test', ...args, '-f', file]);

describe('nothing private is published to TFTP', () => {
  it(
    "refuses the build host's SSH host keys in an overlay (rootfs.tar.gz, initrd.img), naming the file; nothing " +
      'is published',
    () => {
      const p = project();
      mkdirSync(p.path('overlay/etc/ssh'), { recursive: true });
      keygen(p.path('overlay/etc/ssh/ssh_host_ed25519_key'), '-t', 'ed25519');
      const r = p.run(['publish', 'demo']);
      expect(r.code, r.stderr).toBe(2);
      expect(code(r.stderr)).toBe('PRIVATE_CONTENT');
      expect(r.stderr).toContain('tftp:initrd.img:etc/ssh/ssh_host_ed25519_key');
      expect(r.stderr).toContain('tftp:rootfs.tar.gz:etc/ssh/ssh_host_ed25519_key');
      expect(existsSync(p.path('san/tftp/demo'))).toBe(false);
      expect(existsSync(p.path('san/tftp/.releases/demo'))).toBe(false);
    },
  );

  it('finds key material by content under any name: PEM (RSA, EC, encrypted PKCS#8) and OpenSSH keys', () => {
    const p = project();
    mkdirSync(p.path('overlay/srv'), { recursive: true });
    keygen(p.path('overlay/srv/openssh.txt'), '-t', 'ed25519');
    keygen(p.path('overlay/srv/ec.pem'), '-t', 'ecdsa', '-m', 'PEM');
    execFileSync('openssl', [
      'genpkey',
      '-algorithm',
      'rsa',
      '-pkeyopt',
      'rsa_keygen_bits:1024',
      '-out',
      p.path('overlay/srv/rsa.key'),
    ]);
    execFileSync('openssl', [
      'genpkey',
      '-algorithm',
      'ed25519',
      '-aes256',
      '-pass',
      'pass:x',
      '-out',
      p.path('overlay/srv/enc.bin'),
    ]);
    writeFileSync(
      p.path('overlay/srv/old-rsa.txt'),
      execFileSync('openssl', ['rsa', '-traditional', '-in', p.path('overlay/srv/rsa.key')]),
    );
    const r = p.run(['publish', 'demo']);
    expect(code(r.stderr)).toBe('PRIVATE_CONTENT');
    for (const f of ['openssh.txt', 'ec.pem', 'rsa.key', 'enc.bin', 'old-rsa.txt'])
      expect(r.stderr).toContain(`tftp:initrd.img:srv/${f}`);
    expect(r.stderr).toContain('OPENSSH PRIVATE KEY');
    expect(r.stderr).toContain('ENCRYPTED PRIVATE KEY');
    expect(r.stderr).toContain('RSA PRIVATE KEY');
  });

  it(
    'refuses shadow, gshadow, master.passwd and spwd.db, but not public keys or programs that merely name a key ' +
      'format',
    () => {
      const p = project();
      mkdirSync(p.path('overlay/etc/ssh'), { recursive: true });
      for (const f of ['shadow', 'gshadow', 'master.passwd', 'spwd.db'])
        writeFileSync(p.path('overlay/etc', f), 'root:*:1::::::\n');
      const r = p.run(['publish', 'demo']);
      expect(code(r.stderr)).toBe('PRIVATE_CONTENT');
      for (const f of ['shadow', 'gshadow', 'master.passwd', 'spwd.db'])
        expect(r.stderr).toContain(`tftp:initrd.img:etc/${f}:`);

      const q = project();
      mkdirSync(q.path('overlay/etc/ssh'), { recursive: true });
      keygen(q.path('overlay/etc/ssh/k'), '-t', 'ed25519');
      rmSync(q.path('overlay/etc/ssh/k'));
      // ssh-keygen holds "-----BEGIN OPENSSH PRIVATE KEY-----" as a string, not as a key; GnuTLS
      // (in every Debian initrd with nbd-client) holds its self-test keys: programs are not searched.
      copyFileSync('/usr/bin/ssh-keygen', q.path('overlay/ssh-keygen'));
      expect(readFileSync(q.path('overlay/ssh-keygen')).includes('-----BEGIN OPENSSH PRIVATE KEY-----')).toBe(true);
      copyFileSync(realpathSync('/usr/lib/x86_64-linux-gnu/libgnutls.so.30'), q.path('overlay/libgnutls.so.30'));
      expect(readFileSync(q.path('overlay/libgnutls.so.30')).includes('-----BEGIN PRIVATE KEY-----\nM')).toBe(true);
      const ok = q.run(['publish', 'demo']);
      expect(ok.code, ok.stderr).toBe(0);
    },
  );

  it(
    'refuses a symlink that leaves the host directory (absolute, or climbing with ..), and keeps the ' + 'live release',
    () => {
      const p = project();
      const files = (extra: object) => ({
        SEC_FILES: JSON.stringify({ 'pxelinux.cfg/default': { content: 'DEFAULT x\n' }, ...extra }),
      });
      expect(p.run(['publish', 'tree'], files({ cfg: { symlink: 'pxelinux.cfg/default' } })).code).toBe(0);
      const liveBefore = readlinkSync(p.path('san/tftp/tree'));
      for (const [link, to] of [
        ['rootlink', '/'],
        ['h/up', '../../etc'],
        ['passwd', '../other/x'],
      ]) {
        const r = p.run(['publish', 'tree'], files({ [link]: { symlink: to } }));
        expect(r.code, r.stderr).toBe(2);
        expect(code(r.stderr)).toBe('PRIVATE_CONTENT');
        expect(r.stderr).toContain(`tftp:${link}:`);
        expect(readlinkSync(p.path('san/tftp/tree'))).toBe(liveBefore);
      }
      expect(readdirSync(p.path('san/tftp/.releases/tree')).filter((n) => /^\d+$/.test(n))).toEqual(['000001']);
    },
  );

  it('publishes what the config lists in allowPublic (a member, an archive, per host or for the SAN)', () => {
    const p = project();
    mkdirSync(p.path('overlay/etc/ssh'), { recursive: true });
    keygen(p.path('overlay/etc/ssh/ssh_host_ed25519_key'), '-t', 'ed25519');
    const one = p.run(['publish', 'demo'], { SEC_ALLOW: 'initrd.img:etc/ssh/ssh_host_ed25519_key' });
    expect(code(one.stderr)).toBe('PRIVATE_CONTENT');
    expect(one.stderr).not.toContain('tftp:initrd.img:');
    const both = p.run(['publish', 'demo'], { SEC_ALLOW: 'initrd.img:etc/ssh/ssh_host_ed25519_key,rootfs.tar.gz' });
    expect(both.code, both.stderr).toBe(0);
    expect(p.run(['publish', 'demo2'], { SEC_SAN_ALLOW: 'initrd.img,rootfs.tar.gz' }).code).toBe(0);
    const bad = p.run(['build', 'demo'], { SEC_ALLOW: '../etc/shadow' });
    expect(bad.code).toBe(2);
    expect(code(bad.stderr)).toBe('CONFIG_INVALID');
    expect(bad.stderr).toContain('hosts.demo.allowPublic[0]');
  });
});

describe('secrets stay private', () => {
  it(
    'a secret source enters the key only as an HMAC under a 0600 per-cache key: no plain digest, no secret, ' +
      'anywhere',
    () => {
      const p = project();
      const secret = 'chap-secret-of-the-test-0123456789';
      mkdirSync(p.path('secrets'), { mode: 0o700 });
      writeFileSync(p.path('secrets/chap'), `${secret}\n`, { mode: 0o600 });
      const plain = createHash('sha256').update(`${secret}\n`).digest('hex');
      const r = p.json(['publish', 'chap']);
      expect(r.code, r.stderr).toBe(0);
      const cache = p.path('.netboot/cache');
      expect(mode(join(cache, 'secret.key'))).toBe(0o600);
      expect(readFileSync(join(cache, 'secret.key'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
      const grep = (what: string) =>
        spawnSync('grep', ['-rlaF', what, cache, p.path('san')], { encoding: 'utf8' }).stdout;
      expect(grep(plain)).toBe('');
      expect(grep(secret)).toBe('');
      const key = r.data.steps.find((s: { step: string }) => s.step === 'secret').key;
      const record = JSON.parse(readFileSync(join(cache, 'actions', key.slice(0, 2), `${key}.json`), 'utf8'));
      expect(record.parts.sources['secrets/chap']).toMatch(/^hmac:[0-9a-f]{64}$/);

      // A new secret re-runs the step; another cache has another key, so the same secret gives another HMAC.
      writeFileSync(p.path('secrets/chap'), 'another\n');
      expect(p.json(['build', 'chap']).data.steps[0].outcome).toBe('ran');
      writeFileSync(p.path('secrets/chap'), `${secret}\n`);
      const other = p.json(['build', 'chap'], { SEC_CACHE: '.netboot/other' }).data.steps[0];
      expect(other.key).not.toBe(key);
      expect(p.json(['build', 'chap']).data.steps[0]).toMatchObject({ outcome: 'cached', key });
    },
  );

  it('the cache root is 0700, and a cache made with a wider mode is tightened on first use', () => {
    const p = project();
    expect(p.run(['build', 'demo']).code).toBe(0);
    const cache = p.path('.netboot/cache');
    expect(mode(cache)).toBe(0o700);
    chmodSync(cache, 0o755);
    const obj = readdirSync(join(cache, 'objects/00')).length ? join(cache, 'objects/00') : join(cache, 'trees');
    expect(asNobody('ls', [obj]).status).toBe(0);
    expect(p.run(['build', 'demo']).code).toBe(0);
    expect(mode(cache)).toBe(0o700);
    const any = readdirSync(join(cache, 'trees'))[0];
    const r = asNobody('cat', [join(cache, 'trees', any, 'etc/hostname')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('Permission denied');
  });

  it(
    "writable disks are 0600 (nbd-server's own where it has a user), a read-write root is not reachable " + 'by others',
    () => {
      const p = project();
      const r = p.run(['publish', 'diskhost']);
      expect(r.code, r.stderr).toBe(0);
      const real = realpathSync(p.path('san/nbd/diskhost/disk.img'));
      expect(mode(real)).toBe(0o600);
      const nbd = spawnSync('getent', ['passwd', 'nbd'], { encoding: 'utf8' }).stdout.split(':');
      if (nbd.length > 3) expect(statSync(real).uid).toBe(Number(nbd[2]));
      // The repro: any local user read /etc/shadow out of the published disk.
      const dbg = asNobody('debugfs', ['-R', 'cat /etc/shadow', real]);
      expect(dbg.stdout).not.toContain('$6$fixture');
      expect(dbg.stderr).toMatch(/Permission denied/);

      const root = realpathSync(p.path('san/nfs/diskhost/root'));
      expect(mode(join(root, '..'))).toBe(0o700);
      expect(mode(root)).toBe(0o755);
      expect(asNobody('cat', [join(root, 'etc/hostname')]).status).not.toBe(0);
      expect(asNobody('cat', [p.path('san/nfs/diskhost/root/etc/shadow')]).status).not.toBe(0);
    },
  );
});

describe('local sources outside the config directory', () => {
  it('are allowed, with one warning per build naming each and the steps that read it', () => {
    const p = project();
    const outside = mkdtempSync(join(tmpdir(), 'netboot-outside-'));
    try {
      writeFileSync(join(outside, 'motd'), 'outside\n');
      const r = p.run(['build', 'demo', 'demo2'], { SEC_OVERLAY: outside });
      expect(r.code, r.stderr).toBe(0);
      const warnings = r.stderr.split('\n').filter((l) => l.includes('warning: local source'));
      expect(warnings).toEqual([expect.stringContaining(`${outside} (demo/overlay-src, demo2/overlay-src)`)]);
      expect(p.run(['build', 'demo']).stderr).not.toContain('warning: local source');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
