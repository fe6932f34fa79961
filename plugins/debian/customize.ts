import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ifMissing } from '../../base/errno.js';
import { definePlugin } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { inChroot, sh } from './chroot.js';

/** A crypt(3) hash ($6$..., $y$...). netboot never takes a plaintext password. */
export const passwordHash = p.string({
  pattern: /^\$(1|5|6|y|gy|7|2[aby])\$[./A-Za-z0-9$=,]+$/,
  what:
    'a password hash (netboot never takes plaintext passwords: ' +
    'make one with `openssl passwd -6` or `mkpasswd -m yescrypt`)',
});

/** One authorized_keys line: a key type, the key, an optional comment; nothing that ends the line. */
export const authorizedKey = p.string({
  pattern: /^(ssh|ecdsa|sk)-[^\x00-\x1f\x7f]+$/,
  what: 'an SSH public key line',
});

/** A user of the image. The same schema checks the config (naming hosts.<name>.params.users[i]) and this step. */
export const user = p.object({
  name: p.userName(),
  passwordHash: p.optional(passwordHash),
  sudo: p.boolean().default(false),
  authorizedKeys: p.array(authorizedKey).default([]),
  shell: p.programPath('a login shell (an absolute path such as /bin/bash)').default('/bin/bash'),
});

// bullseye's and bookworm's nbd-client initramfs script calls grep, which a busybox-less initrd
// lacks (upstream dropped the call in 1:3.26.1-5, trixie's).
const NBD_SCRIPT = 'usr/share/initramfs-tools/scripts/local-top/nbd';
const GREP_HOOK = `#!/bin/sh
# netboot: bullseye's nbd-client local-top script calls grep; an initrd without busybox has none.
case "$1" in prereqs) echo ""; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
copy_exec /bin/grep /bin
`;

// initramfs-tools has no overlay root. With `netboot.overlay` on the command line this moves the
// (read-only) root the initramfs mounted under a tmpfs overlay. init-bottom scripts run in name
// order: it must run before `udev`, which moves /dev into the root.
const OVERLAY_SCRIPT = `#!/bin/sh
case "$1" in prereqs) exit 0 ;; esac
for x in $(cat /proc/cmdline); do [ "$x" = netboot.overlay ] && ov=y; done
[ "$ov" = y ] || exit 0
. /scripts/functions
modprobe overlay || panic "netboot-overlay: no overlay module"
mkdir -p /run/netboot/lower /run/netboot/rw
mount -t tmpfs -o mode=755 tmpfs /run/netboot/rw
mkdir -p /run/netboot/rw/upper /run/netboot/rw/work
mount -n -o move "\${rootmnt}" /run/netboot/lower
mount -t overlay -o lowerdir=/run/netboot/lower,upperdir=/run/netboot/rw/upper,workdir=/run/netboot/rw/work overlay \
"\${rootmnt}" || panic "netboot-overlay: overlay mount failed"
`;

/**
 * A host's identity and access in a copy of a Debian tree: hostname, /etc/hosts, fstab, the
 * root NIC kept up by systemd-networkd (ifupdown would take the address away under an NBD root
 * at shutdown), users with password hashes and SSH keys, sudo, and SSH host keys made at first
 * boot (never in the cache, the image build or the TFTP tree).
 */
export const debianCustomizePlugin = definePlugin({
  name: 'debian-customize',
  version: '3',
  description: 'hostname, network, users, sudo, fstab and boot fixes in a copy of a Debian tree',
  params: {
    hostname: p.hostName(),
    ip: p.ipv4(),
    mac: p.mac(),
    fstab: p
      .string({ pattern: /^[^\x00]*$/, what: 'fstab text' })
      .default('/dev/nbd0 / ext4 remount,noatime,nodiratime 0 0\n'),
    rootPasswordHash: p.optional(passwordHash),
    users: p.array(user).default([]),
    /** Add grep to the initrd where the tree's nbd-client script calls it (and only there). */
    initramfsGrepFix: p.boolean().default(true),
    /**
     * Add the initramfs script that puts a tmpfs overlay over a read-only root (`netboot.overlay` on the command
     * line).
     */
    overlayRoot: p.boolean().default(false),
  },
  inputs: ['tree'],
  produces: { tree: 'tree' },
  tools: [
    { name: 'unshare', package: 'util-linux' },
    { name: 'chroot', package: 'coreutils' },
    // ctx.editTree reads and clears overlayfs's xattrs in what the step changed.
    { name: 'getfattr', package: 'attr' },
  ],
  async run(ctx) {
    await ctx.editTree('tree', 'tree', async (R) => {
      const { hostname, ip, mac, users } = ctx.params;
      const put = async (path: string, content: string, mode = 0o644) => {
        await mkdir(join(R, path, '..'), { recursive: true });
        await writeFile(join(R, path), content);
        await chmod(join(R, path), mode);
      };
      await put('etc/hostname', `${hostname}\n`);
      await put('etc/hosts', `127.0.0.1\tlocalhost\n${ip}\t${hostname}\n::1\t\tlocalhost ip6-localhost ip6-loopback\n`);
      await put('etc/fstab', ctx.params.fstab.endsWith('\n') ? ctx.params.fstab : `${ctx.params.fstab}\n`);
      await put(
        'etc/systemd/network/10-netboot-root.network',
        `[Match]\nMACAddress=${mac}\n\n[Network]\nDHCP=ipv4\nKeepConfiguration=yes\n`,
      );
      // network-online.target (wanted by iSCSI, libvirt...) waits for every link by default, up to
      // two minutes; the boot NIC came up in the initramfs, so any one link online is enough.
      await put(
        'etc/systemd/system/systemd-networkd-wait-online.service.d/netboot-any.conf',
        '[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=20\n',
      );
      await put(
        'etc/systemd/system/ssh.service.d/netboot-hostkeys.conf',
        '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n',
      );
      const nbdScript = await readFile(join(R, NBD_SCRIPT), 'utf8').catch(ifMissing(''));
      if (ctx.params.initramfsGrepFix && /\bgrep\b/.test(nbdScript))
        await put('etc/initramfs-tools/hooks/netboot-grep', GREP_HOOK, 0o755);
      if (ctx.params.overlayRoot) {
        await put('etc/initramfs-tools/scripts/init-bottom/netboot-overlay', OVERLAY_SCRIPT, 0o755);
        const modules = await readFile(join(R, 'etc/initramfs-tools/modules'), 'utf8').catch(ifMissing(''));
        if (!/^overlay$/m.test(modules))
          await put(
            'etc/initramfs-tools/modules',
            `${modules}${modules && !modules.endsWith('\n') ? '\n' : ''}overlay\n`,
          );
      }
      // Commands carry no secrets (the hashes are written below, by file, not through the log).
      // Every value is quoted by `sh`, whatever the schema let through.
      const script = ['systemctl enable systemd-networkd >/dev/null 2>&1 || true'];
      for (const u of users) {
        script.push(sh`id -u -- ${u.name} >/dev/null 2>&1 || useradd -m -U -s ${u.shell} -- ${u.name}`);
        if (u.sudo) script.push(sh`getent group sudo >/dev/null && usermod -aG sudo -- ${u.name} || true`);
      }
      await inChroot(ctx.$, R, script.join('\n'));
      for (const u of users.filter((x) => x.sudo))
        await put(
          `etc/sudoers.d/netboot-${u.name}`,
          `${u.name} ALL=(ALL:ALL) ${u.passwordHash ? '' : 'NOPASSWD: '}ALL\n`,
          0o440,
        );
      const passwd = (await readFile(join(R, 'etc/passwd'), 'utf8')).split('\n').map((l) => l.split(':'));
      for (const u of users.filter((x) => x.authorizedKeys.length)) {
        const row = passwd.find((r) => r[0] === u.name)!;
        const [uid, gid, home] = [Number(row[2]), Number(row[3]), row[5]];
        await put(`${home}/.ssh/authorized_keys`, `${u.authorizedKeys.join('\n')}\n`, 0o600);
        await chmod(join(R, home, '.ssh'), 0o700);
        await chown(join(R, home, '.ssh'), uid, gid);
        await chown(join(R, home, '.ssh/authorized_keys'), uid, gid);
      }
      await setShadow(R, ctx.sourceDateEpoch, {
        root: ctx.params.rootPasswordHash,
        ...Object.fromEntries(users.map((u) => [u.name, u.passwordHash])),
      });
    });
  },
});

/** Password hashes in, and every "last changed" day clamped to SOURCE_DATE_EPOCH (useradd writes today). */
async function setShadow(R: string, epoch: number, hashes: Record<string, string | undefined>) {
  const file = join(R, 'etc/shadow');
  const day = String(Math.floor(epoch / 86400));
  const lines = (await readFile(file, 'utf8')).split('\n').map((l) => {
    if (!l) return l;
    const f = l.split(':');
    if (hashes[f[0]]) f[1] = hashes[f[0]]!;
    if (f[2]) f[2] = day;
    return f.join(':');
  });
  await writeFile(file, lines.join('\n'));
}
