import type { BigIntStats } from 'node:fs';

/**
 * How much older than a look at a file its timestamps must be before a signature taken then can be
 * trusted. Kernel file timestamps come from a coarse clock that can lag the wall clock by a tick:
 * a write just after the look can leave mtime and ctime where they were. The stat cache and the
 * no-op stamp both keep this rule.
 */
export const RACY_MARGIN_NS = 1_000_000_000n;

/**
 * Who a file is, from one bigint lstat or stat: device, inode, size, mode, mtime and ctime in ns.
 * Any rewrite moves the inode, size, mtime or ctime, and any chmod the mode and ctime; ctime is
 * set only by the kernel, so no one can put it back.
 */
export function statSignature(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mode}:${st.mtimeNs}:${st.ctimeNs}`;
}
