import type { KeyParts } from '../cache/store.js';
import { canonicalJson, sha256 } from '../base/canonical.js';
import { isPlainObject } from './schema.js';

/** The action key: sha256 of the canonical JSON of everything a step's result depends on. */
export function actionKey(parts: KeyParts): string {
  return sha256(canonicalJson(parts));
}

const short = (d: string | null | undefined) => (d ? d.slice(0, 12) : 'none');
const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));

function flatten(v: unknown, prefix: string, out: Map<string, unknown>): Map<string, unknown> {
  if (isPlainObject(v) && Object.keys(v).length) for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  else out.set(prefix, v);
  return out;
}

/** What changed between two keys' parts, in words, one line per difference. */
export function diffParts(before: KeyParts, after: KeyParts): string[] {
  const out: string[] = [];
  if (before.plugin !== after.plugin) out.push(`plugin ${before.plugin} -> ${after.plugin}`);
  if (before.version !== after.version) out.push(`plugin version ${before.version} -> ${after.version}`);
  const pa = flatten(before.params, '', new Map());
  const pb = flatten(after.params, '', new Map());
  for (const k of [...new Set([...pa.keys(), ...pb.keys()])].sort())
    if (canonicalJson(pa.get(k) ?? null) !== canonicalJson(pb.get(k) ?? null)) out.push(`param ${k}: ${show(pa.get(k))} -> ${show(pb.get(k))}`);
  for (const k of [...new Set([...Object.keys(before.inputs), ...Object.keys(after.inputs)])].sort()) {
    const a = before.inputs[k];
    const b = after.inputs[k];
    if (canonicalJson(a ?? null) !== canonicalJson(b ?? null)) out.push(`input ${k}: ${short(a?.digest)} -> ${short(b?.digest)}`);
  }
  for (const k of [...new Set([...Object.keys(before.tools), ...Object.keys(after.tools)])].sort())
    if (before.tools[k] !== after.tools[k]) out.push(`tool ${k}: ${show(before.tools[k])} -> ${show(after.tools[k])}`);
  const sa = before.sources ?? {};
  const sb = after.sources ?? {};
  for (const k of [...new Set([...Object.keys(sa), ...Object.keys(sb)])].sort())
    if (sa[k] !== sb[k]) out.push(`source ${k}: ${short(sa[k]?.split(':')[1])} -> ${short(sb[k]?.split(':')[1])}`);
  if (before.fingerprint !== after.fingerprint) out.push(`fingerprint: ${short(before.fingerprint)} -> ${short(after.fingerprint)}`);
  if (before.env.sourceDateEpoch !== after.env.sourceDateEpoch)
    out.push(`sourceDateEpoch: ${before.env.sourceDateEpoch} -> ${after.env.sourceDateEpoch}`);
  return out;
}
