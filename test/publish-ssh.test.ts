import { readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGET_NAMES } from '../core/targets.js';
import { Project } from './helpers.js';
import { checkLive } from './release-check.js';
import { TestSshd } from './sshd.js';

// The same lab recipe as test/publish.test.ts, with all four SAN roots on ssh://root@127.0.0.1:PORT/...,
// served by a real sshd this test starts (and stops).
let sshd: TestSshd;
let lab: Project;
let env: NodeJS.ProcessEnv;
let remote: string;
beforeAll(async () => {
  sshd = new TestSshd();
  await sshd.start();
  lab = new Project('lab');
  remote = lab.path('remote-san');
  env = { LAB_SSH_ROOT: `ssh://root@127.0.0.1:${sshd.port}${remote}`, LAB_SSH_KEY: sshd.clientKey, LAB_BULK: '400' };
});
afterAll(async () => {
  await sshd?.stop();
  lab?.remove();
});

const publish = (extra: NodeJS.ProcessEnv = {}) =>
  lab.json<{
    published: {
      changed: boolean;
      id?: string;
      targets: { target: string; changed: boolean; stage?: { bytesWritten: number } }[];
    }[];
  }>(['publish', 'alpha'], { ...env, ...extra });

describe('publishing to an ssh:// SAN', () => {
  it('stages with rsync, switches with a remote rename, and sends only what changed', () => {
    const first = publish();
    expect(first.code, first.stderr).toBe(0);
    for (const t of TARGET_NAMES) {
      expect(readlinkSync(join(remote, t, 'alpha'))).toBe('.releases/alpha/000001');
      expect(checkLive(join(remote, t), 'alpha')).toEqual([]);
    }
    expect(readFileSync(join(remote, 'tftp/pxelinux.cfg/01-52-54-00-00-00-01'), 'utf8')).toContain('LABEL lab');
    expect(readFileSync(join(remote, 'nbd/alpha/disk.img'), 'utf8')).toMatch(/^disk v1/);
    expect(statSync(join(remote, 'nbd/alpha/disk.img')).blocks * 512).toBeLessThan(1 << 20);
    // A writable disk is private on the remote SAN too.
    expect(statSync(join(remote, 'nbd/alpha/disk.img')).mode & 0o777).toBe(0o600);

    expect(publish().data.published[0].changed).toBe(false);

    const second = publish({ LAB_GREETING: 'remote change' });
    expect(second.code, second.stderr).toBe(0);
    const tftp = second.data.published[0].targets.find((t) => t.target === 'tftp')!;
    expect(tftp.changed).toBe(true);
    expect(second.data.published[0].targets.find((t) => t.target === 'nfs')!.changed).toBe(false);
    // Unchanged files were not re-sent: in both releases they are one inode (--link-dest).
    const a = statSync(join(remote, 'tftp/.releases/alpha/000001/slow/a')).ino;
    const b = statSync(join(remote, 'tftp/.releases/alpha/000002/slow/a')).ino;
    expect(b).toBe(a);
  });

  it('lists releases and rolls back over ssh', () => {
    expect(lab.json(['releases', 'alpha'], env).code).toBe(0);
    expect(lab.run(['rollback', 'alpha'], env).code).toBe(0);
    expect(realpathSync(join(remote, 'tftp/alpha'))).toBe(join(remote, 'tftp/.releases/alpha/000001'));
  });

  it('an unreachable SAN is one clear error', () => {
    const r = lab.run(['publish', 'alpha'], {
      ...env,
      LAB_SSH_ROOT: `ssh://root@127.0.0.1:1${remote}`,
      LAB_GREETING: 'x',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        String.raw`error \[REMOTE_FAILED\]: ssh:\/\/root@127\.0\.0\.1:1\/.*: ` +
          'reading the release state failed: .*Connection refused',
      ),
    );
  });
});
