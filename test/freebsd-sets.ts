// Small FreeBSD distribution sets and a pkg(8) package, made the way the release tooling and pkg
// pack theirs: xz, './'-relative names in the sets, '/'-rooted names plus +MANIFEST in the package.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeTar } from './freebsd-hostile.js';

export interface MadeSet {
  file: string;
  sha256: string;
}

export interface FreebsdSets {
  base: MadeSet;
  kernel: MadeSet;
  ezjail: MadeSet;
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Makes `root` and returns a writer of files in it with the given mode and owner. */
export function treeWriter(root: string) {
  mkdirSync(root, { mode: 0o755 });
  chmodSync(root, 0o755);
  return (rel: string, content: string, mode: number, uid = 0, gid = 0) => {
    mkdirSync(dirname(join(root, rel)), { recursive: true, mode: 0o755 });
    writeFileSync(join(root, rel), content);
    chownSync(join(root, rel), uid, gid);
    chmodSync(join(root, rel), mode);
  };
}

/** Writes base.txz, kernel.txz and ezjail-3.4.2.txz into `dir`. */
export async function makeFreebsdSets(dir: string): Promise<FreebsdSets> {
  const base = join(dir, 'base-root');
  const file = treeWriter(base);
  file('bin/sh', '#!/bin/sh\n# stands in for FreeBSD sh\n', 0o555);
  file('bin/test', 'test\n', 0o555);
  linkSync(join(base, 'bin/test'), join(base, 'bin/['));
  file('boot/pxeboot', 'pxeboot: loads /boot/loader over NFS\n', 0o444);
  file('boot/loader', 'loader\n', 0o555);
  file('boot/defaults/loader.conf', 'autoboot_delay="10"\n', 0o444);
  file('etc/rc', '#!/bin/sh\n', 0o644);
  file('etc/rc.initdiskless', '#!/bin/sh\n', 0o444);
  file('etc/defaults/rc.conf', 'sshd_enable="NO"\n', 0o444);
  file('etc/master.passwd', 'root::0:0::0:0:Charlie &:/root:/bin/csh\n', 0o600);
  file('etc/spwd.db', 'db\n', 0o600);
  file('etc/pwd.db', 'db\n', 0o644);
  file('etc/ssh/sshd_config', '#PermitRootLogin no\n', 0o644);
  file('etc/mail/sendmail.cf', 'cf\n', 0o644, 25, 25);
  symlinkSync('../var/run/os-release', join(base, 'etc/os-release'));
  file('etc/rc.d/sshd', '#!/bin/sh\n', 0o555);
  file('var/log/messages', '', 0o644);
  file('var/db/locate.database', '', 0o644, 0, 0);
  mkdirSync(join(base, 'var/empty'), { recursive: true });
  chmodSync(join(base, 'var/empty'), 0o555);
  mkdirSync(join(base, 'var/tmp'), { recursive: true });
  chmodSync(join(base, 'var/tmp'), 0o1777);
  file('usr/bin/su', 'su\n', 0o4555);
  file('usr/sbin/iscsictl', 'iscsictl\n', 0o555);
  file('sbin/init', 'init\n', 0o555);
  symlinkSync('usr/src/sys', join(base, 'sys'));
  const baseTxz = join(dir, 'base.txz');
  execFileSync('bsdtar', ['-cJf', baseTxz, '--format', 'pax', '--numeric-owner', '-C', base, '.']);

  const kernel = join(dir, 'kernel-root');
  const kfile = treeWriter(kernel);
  kfile('boot/kernel/kernel', 'ELF kernel\n', 0o555);
  kfile('boot/kernel/nfscl.ko', 'ko\n', 0o555);
  const kernelTxz = join(dir, 'kernel.txz');
  execFileSync('bsdtar', ['-cJf', kernelTxz, '--format', 'pax', '--numeric-owner', '-C', kernel, '.']);

  const pkg = join(dir, 'ezjail-3.4.2.txz');
  await writeTar(
    pkg,
    [
      { name: '+COMPACT_MANIFEST', content: '{"name":"ezjail","version":"3.4.2"}' },
      { name: '+MANIFEST', content: '{"name":"ezjail","version":"3.4.2","prefix":"/usr/local"}' },
      { name: '/usr/local/bin/ezjail-admin', content: '#!/bin/sh\n# ezjail-admin\n', mode: 0o555 },
      { name: '/usr/local/etc/rc.d/ezjail', content: '#!/bin/sh\n# PROVIDE: ezjail\n', mode: 0o555 },
      { name: '/usr/local/etc/ezjail.conf.sample', content: '# ezjail_jaildir=/usr/jails\n', mode: 0o644 },
    ],
    'xz',
  );
  return {
    base: { file: baseTxz, sha256: sha(baseTxz) },
    kernel: { file: kernelTxz, sha256: sha(kernelTxz) },
    ezjail: { file: pkg, sha256: sha(pkg) },
  };
}
