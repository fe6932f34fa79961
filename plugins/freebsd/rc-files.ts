// The text files of a FreeBSD diskless jail host, rendered from checked values. Pure: the same
// values give the same bytes, so the tests snapshot them and run them through sh -n.
import { errors } from '../../base/errors.js';
import { p } from '../../core/schema.js';

/** rc.conf values are written inside double quotes, so none of `"\$` or a newline. */
export const rcValue = p.string({
  pattern: /^[^"\\$`\x00-\x1f\x7f]*$/,
  what: 'an rc.conf value (no double quote, backslash, $, backquote or control character)',
});
const RC_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const rcVars = p.record(rcValue, { pattern: RC_NAME, what: 'an rc.conf variable name' });

/**
 * Where the iSCSI disk is mounted: a directory of the root itself, since rc.initdiskless makes a
 * memory disk only for a top-level directory of /conf/base (conf/base/iscsi -> /iscsi).
 */
export const mountPoint = p.string({
  pattern: /^\/(?!\.\.?$)[A-Za-z0-9._-]+$/,
  what: 'a top-level directory such as /iscsi',
});

/** `name="value"` lines; the names are checked here too, since a record's keys have no schema. */
export function rcLines(vars: Record<string, string>, where: string): string[] {
  return Object.entries(vars).map(([k, v]) => {
    if (!RC_NAME.test(k)) throw errors.badValue(`${where}.${k}`, 'is not an rc.conf variable name');
    return `${k}="${v}"`;
  });
}

/**
 * ezjail writes each jail's `/etc/fstab.<name>`; /etc of a diskless host is a memory disk, so
 * without this they are gone after a reboot. Restores them from the iSCSI disk once mountlate
 * has mounted it (before ezjail starts the jails), saves them back at shutdown (after ezjail has
 * stopped them) and on `service netboot_fstabs save`. It checks that the iSCSI disk, not the
 * memory disk rc.initdiskless put under it, is what is mounted there: saving into the memory
 * disk would look fine and lose everything.
 */
export function renderFstabsScript(mount: string): string {
  return `#!/bin/sh
#
# PROVIDE: netboot_fstabs
# REQUIRE: mountlate
# BEFORE: ezjail
# KEYWORD: nojail shutdown
#
# Written by netboot. Keeps ezjail's /etc/fstab.<jail> files on the iSCSI disk: /etc is a
# memory disk on this diskless host and forgets them at reboot.

. /etc/rc.subr

name="netboot_fstabs"
rcvar="netboot_fstabs_enable"
start_cmd="netboot_fstabs_start"
stop_cmd="netboot_fstabs_save"
save_cmd="netboot_fstabs_save"
extra_commands="save"

load_rc_config $name
: \${netboot_fstabs_enable:="NO"}
: \${netboot_fstabs_mount:="${mount}"}
: \${netboot_fstabs_dir:="${mount}/netboot/etc"}
: \${netboot_fstabs_etc:="/etc"}

disk_mounted()
{
	local dev
	dev=$(mount -p | awk -v m="$netboot_fstabs_mount" '$2 == m { d = $1 } END { print d }')
	case "$dev" in
	""|/dev/md*) return 1 ;;
	esac
	return 0
}

netboot_fstabs_start()
{
	local f
	if ! disk_mounted; then
		warn "$netboot_fstabs_mount is not the iSCSI disk: jail fstabs not restored"
		return 1
	fi
	[ -d "$netboot_fstabs_dir" ] || return 0
	for f in "$netboot_fstabs_dir"/fstab.*; do
		[ -f "$f" ] || continue
		cp -p "$f" "$netboot_fstabs_etc/" || return 1
	done
	echo "Restored jail fstabs from $netboot_fstabs_dir."
}

netboot_fstabs_save()
{
	local f base
	if ! disk_mounted; then
		warn "$netboot_fstabs_mount is not the iSCSI disk: jail fstabs not saved"
		return 1
	fi
	mkdir -p "$netboot_fstabs_dir" || return 1
	for f in "$netboot_fstabs_etc"/fstab.*; do
		[ -f "$f" ] || continue
		base=\${f##*/}
		# Copy, then rename: a crash halfway leaves the previous copy, never half a file.
		cp -p "$f" "$netboot_fstabs_dir/.$base.tmp" || return 1
		mv -f "$netboot_fstabs_dir/.$base.tmp" "$netboot_fstabs_dir/$base" || return 1
	done
	echo "Saved jail fstabs to $netboot_fstabs_dir."
}

run_rc_command "$1"
`;
}

/**
 * Waits for the iSCSI disk's device node before mountlate mounts it. `iscsictl -Aa -w N` (rc.conf)
 * already waits for the session; the disk behind it (da0) attaches when CAM has probed the LUN,
 * a moment later. A disk that never comes is one warning, and mountlate then reports the mount.
 */
export function renderIscsiWaitScript(): string {
  return `#!/bin/sh
#
# PROVIDE: netboot_iscsi
# REQUIRE: iscsictl
# BEFORE: mountlate
# KEYWORD: nojail
#
# Written by netboot. Waits until the iSCSI disk's device exists, so that mountlate finds it.

. /etc/rc.subr

name="netboot_iscsi"
rcvar="netboot_iscsi_enable"
start_cmd="netboot_iscsi_start"
stop_cmd=":"

load_rc_config $name
: \${netboot_iscsi_enable:="NO"}
: \${netboot_iscsi_device:="/dev/da0"}
: \${netboot_iscsi_wait:="60"}

netboot_iscsi_start()
{
	local n
	n=0
	while [ ! -e "$netboot_iscsi_device" ]; do
		if [ "$n" -ge "$netboot_iscsi_wait" ]; then
			warn "$netboot_iscsi_device did not appear within $netboot_iscsi_wait s"
			return 1
		fi
		sleep 1
		n=$((n + 1))
	done
}

run_rc_command "$1"
`;
}

export interface IscsiTarget {
  /** The block's name in iscsi.conf (iscsictl -n picks it). */
  nickname: string;
  /** host:port */
  portal: string;
  target: string;
  chapUser?: string;
  chapSecret?: string;
  /** A comment line that makes the file's digest unguessable from the secret (iscsi.conf(5) allows `#` comments). */
  salt?: string;
}

/** /etc/iscsi.conf: one session block; iscsictl -Aa logs in to every block at boot. */
export function renderIscsiConf(header: string, t: IscsiTarget): string {
  const lines = [
    header,
    ...(t.salt ? [`# salt: ${t.salt}`] : []),
    `${t.nickname} {`,
    `\tTargetAddress = ${t.portal}`,
    `\tTargetName = ${t.target}`,
  ];
  if (t.chapUser)
    lines.push('\tAuthMethod = CHAP', `\tchapIName = "${t.chapUser}"`, `\tchapSecret = "${t.chapSecret ?? ''}"`);
  lines.push('}', '');
  return lines.join('\n');
}

/** A CHAP secret as read from its file: one line, printable, no double quote (it is written quoted). */
export function checkChapSecret(raw: string, file: string): string {
  const secret = raw.replace(/\r?\n$/, '');
  if (!secret) throw errors.badValue(file, 'the CHAP secret file is empty');
  if (!/^[\x20-\x7e]+$/.test(secret) || secret.includes('"'))
    throw errors.badValue(file, 'a CHAP secret must be one line of printable ASCII without a double quote');
  return secret;
}
