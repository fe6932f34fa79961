import { p } from '../core/schema.js';

/**
 * `allowPublic` (per host, or for the whole SAN): paths inside a host's TFTP directory that may be
 * published although they look private (a test key, a demo shadow file). Relative, without `..`:
 * `initrd.img:etc/ssh/ssh_host_ed25519_key` names one member of an archive.
 */
export function parseAllowPublic(v: unknown, at: string, err: (m: string) => void): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    err(`${at}: not a list of paths`);
    return [];
  }
  const out: string[] = [];
  for (const [i, x] of v.entries()) {
    const p = typeof x === 'string' ? x.replace(/^\.\//, '').replace(/\/+$/, '') : '';
    if (!p || p.startsWith('/') || p.split(/[/:]/).includes('..') || /[\0\n]/.test(p))
      err(`${at}[${i}]: ${JSON.stringify(x)} is not a relative path inside the host's TFTP directory`);
    else out.push(p);
  }
  return out;
}

/** `allowPublic` as a schema field: the same check, problems reported under the field's path. */
export const allowPublicList = p
  .custom<string[]>('list of paths', (v, path, issues) => parseAllowPublic(v, path, (m) => issues.errors.push(m)))
  .default([]);
