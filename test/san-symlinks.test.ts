import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Project } from './helpers.js';
import { checkLive } from './release-check.js';
import { TestSshd } from './sshd.js';

// Someone plants a symlink where netboot writes under a SAN root; publish must refuse, write
// nothing through it, and leave the link for its owner to see.
let lab: Project;
let victim: string;
beforeEach(() => {
  lab = new Project('lab');
  victim = mkdtempSync(join(tmpdir(), 'netboot-victim-'));
});
afterEach(() => {
  lab.remove();
  rmSync(victim, { recursive: true, force: true });
});

const publish = (env: NodeJS.ProcessEnv = {}) => lab.run(['publish', 'alpha'], env);
const plant = (...at: string[]) => {
  mkdirSync(join(lab.path(...at), '..'), { recursive: true });
  symlinkSync(victim, lab.path(...at));
};
const refused = (r: { code: number; stderr: string }, path: string) => {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toContain('[SAN_UNSAFE_PATH]');
  expect(r.stderr).toContain(path);
  expect(readdirSync(victim)).toEqual([]);
};

describe('symlinks planted in a SAN root', () => {
  it('a symlinked .releases is refused before anything is written, and left in place', () => {
    plant('san/tftp/.releases');
    refused(publish(), lab.path('san/tftp/.releases'));
    expect(lstatSync(lab.path('san/tftp/.releases')).isSymbolicLink()).toBe(true);
  });

  it('a symlinked host directory under .releases or .disks is refused', () => {
    plant('san/nfs/.releases/alpha');
    refused(publish(), lab.path('san/nfs/.releases/alpha'));
    rmSync(lab.path('san/nfs/.releases/alpha'));
    plant('san/nbd/.disks/alpha');
    refused(publish(), lab.path('san/nbd/.disks/alpha'));
  });

  it('a symlinked stable-link directory (pxelinux.cfg) gets no links, and no target switches', () => {
    plant('san/tftp/pxelinux.cfg');
    refused(publish(), lab.path('san/tftp/pxelinux.cfg'));
    expect(existsSync(lab.path('san/tftp/alpha'))).toBe(false);
  });

  it('a later publish of an already published host is refused too, and the live release stays', () => {
    expect(publish().code).toBe(0);
    rmSync(lab.path('san/tftp/.releases/alpha'), { recursive: true });
    plant('san/tftp/.releases/alpha');
    refused(publish({ LAB_VERSION: 'v2' }), lab.path('san/tftp/.releases/alpha'));
    expect(readlinkSync(lab.path('san/nfs/alpha'))).toBe('.releases/alpha/000001');
    expect(checkLive(lab.path('san/nfs'), 'alpha')).toEqual([]);
  });

  it("a SAN root that is itself a symlink is the user's choice, and works", () => {
    symlinkSync(victim, lab.path('tftp-root'));
    const r = publish({ LAB_TFTP: lab.path('tftp-root') });
    expect(r.code, r.stderr).toBe(0);
    expect(checkLive(victim, 'alpha')).toEqual([]);
  });
});

describe('symlinks planted in an ssh:// SAN root', () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = new TestSshd();
    await sshd.start();
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  it('a symlinked .disks or pxelinux.cfg on the remote is refused, and nothing goes live', () => {
    const remote = lab.path('remote-san');
    const env = { LAB_SSH_ROOT: `ssh://root@127.0.0.1:${sshd.port}${remote}`, LAB_SSH_KEY: sshd.clientKey };
    // nbd is staged first: its refusal comes before anything is sent.
    plant('remote-san/nbd/.disks');
    plant('remote-san/tftp/pxelinux.cfg');
    refused(publish(env), `${remote}/nbd/.disks`);
    rmSync(join(remote, 'nbd/.disks'));
    refused(publish(env), `${remote}/tftp/pxelinux.cfg`);
    expect(existsSync(join(remote, 'tftp/alpha'))).toBe(false);
  });
});
