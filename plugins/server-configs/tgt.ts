// tgt (the Linux SCSI target framework, user space): one <target> per host's iSCSI disk, for
// /etc/tgt/conf.d. Only the host's own address may log in, and with CHAP when it has a user.
import { errors } from '../../base/errors.js';
import { checks } from '../safe-values.js';

export interface TgtTarget {
  host: string;
  /** The host's address: the only initiator the target accepts. */
  ip: string;
  iqn: string;
  /** A block device or a file (absolute path). */
  store: string;
  /** tgt keeps LUN 0 for its controller: the disk is LUN 1 or above. */
  lun: number;
  /** `incominguser`: the CHAP user and the secret read from the SAN's secretFile at publish time. */
  chap?: { user: string; secret: string };
}

const IQN = /^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[A-Za-z0-9.:_-]+)?|eui\.[0-9A-Fa-f]{16})$/;
const CHAP_USER = /^[A-Za-z0-9._@:-]+$/;
/** What tgt-admin reads as one word: printable, no space, nothing its config parser treats specially. */
export const CHAP_SECRET = /^[A-Za-z0-9!$%&()*+,./:;=?@^_{|}~-]{12,255}$/;

export const headerOfTarget = (t: TgtTarget) =>
  `# ${t.host} (${t.ip}): written by netboot${t.chap ? '; holds its CHAP secret, so readable by root only' : ''}\n`;

/** The <target> block. Throws CONFIG_INVALID for a value that would not be one word of it. */
export function renderTgtTarget(t: TgtTarget): string {
  const where = `san.iscsi.disks.${t.host}`;
  if (!checks.ipv4.pattern.test(t.ip)) throw errors.badValue(`hosts.${t.host}.ip`, `${t.ip} is not an IPv4 address`);
  if (!IQN.test(t.iqn)) throw errors.badValue(`hosts.${t.host}.params.iscsi.target`, `${t.iqn} is not an iSCSI name`);
  if (!checks.absPath.pattern.test(t.store))
    throw errors.badValue(`${where}.backingStore`, `${t.store} is not ${checks.absPath.what}`);
  if (!Number.isInteger(t.lun) || t.lun < 1 || t.lun > 255)
    throw errors.badValue(
      `hosts.${t.host}.params.iscsi.lun`,
      `${t.lun}: tgt serves a disk at LUN 1-255 (0 is its controller)`,
    );
  if (t.chap && !CHAP_USER.test(t.chap.user))
    throw errors.badValue(`hosts.${t.host}.params.iscsi.chapUser`, `${t.chap.user} is not a CHAP user name`);
  return [
    `<target ${t.iqn}>`,
    `    <backing-store ${t.store}>`,
    `        lun ${t.lun}`,
    '    </backing-store>',
    `    initiator-address ${t.ip}`,
    ...(t.chap ? [`    incominguser ${t.chap.user} ${t.chap.secret}`] : []),
    '</target>',
    '',
  ].join('\n');
}
