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

/**
 * Whether a signature's mtime or ctime is too recent against a look taken at `sinceNs` to trust:
 * the file may change again within the same tick, unseen by any signature. Anything that is not a
 * signature (an error state) is never racy.
 */
export function tooRecent(sig: string, sinceNs: bigint): boolean {
  const f = sig.split(':');
  if (f.length !== 6) return false;
  const limit = sinceNs - RACY_MARGIN_NS;
  return BigInt(f[4]) >= limit || BigInt(f[5]) >= limit;
}
