import { createHash } from 'node:crypto';

/**
 * JSON with sorted object keys and no whitespace, so equal values always give equal bytes.
 * `undefined` members are dropped (as JSON.stringify does); functions and symbols are refused,
 * because a key must never depend on something that cannot be written down.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalize(value, '$'));
}

function normalize(v: unknown, at: string): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`${at}: ${v} cannot be part of a key`);
    return v;
  }
  if (Array.isArray(v)) return v.map((x, i) => (x === undefined ? null : normalize(x, `${at}[${i}]`)));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = normalize(x, `${at}.${k}`);
    }
    return out;
  }
  throw new TypeError(`${at}: a ${typeof v} cannot be part of a key`);
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
