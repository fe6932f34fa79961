import { sha256 } from '../../base/canonical.js';
import type { ActionRecord, Cache } from '../../cache/store.js';
import type { StepRunner } from '../../core/engine.js';

/** What a fake step "makes": one file holding its key, stored and recorded as a real step's would be. */
export async function recordKeyFile(cache: Cache, a: Parameters<StepRunner>[0]): Promise<ActionRecord> {
  const content = `${a.key}\n`;
  const digest = sha256(content);
  await cache.putObject(digest, content);
  const rec: ActionRecord = {
    v: 1,
    key: a.key,
    parts: a.parts,
    outputs: { file: { kind: 'file', digest, size: content.length, mode: 0o644 } },
    log: null,
    durationMs: 0,
    createdAt: new Date().toISOString(),
    by: { host: a.host.name, step: a.node.id },
  };
  await cache.writeAction(rec);
  return rec;
}
