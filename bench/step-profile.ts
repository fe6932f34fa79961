import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { median as med } from './lib.js';

/** A step as `netboot build --json` reports it. */
export interface JsonStep {
  step: string;
  outcome: string;
  durationMs: number;
  key: string | null;
}

/** Where one step's time went, in seconds: the executor's own timings, from the step's stored log. */
export interface StepSplit {
  total: number;
  copy: number;
  check: number;
  store: number;
  /** What is left: the step's own work (apt, chroot, mkinitramfs, mke2fs). */
  own: number;
}

/** The stored log of a step that ran, from its action record in the project's cache ('' when it has none). */
export function stepLog(project: string, key: string): string {
  const cache = join(project, '.netboot/cache');
  const rec = JSON.parse(readFileSync(join(cache, 'actions', key.slice(0, 2), `${key}.json`), 'utf8'));
  return rec.log ? readFileSync(join(cache, 'objects', rec.log.slice(0, 2), rec.log), 'utf8') : '';
}

/**
 * The executor's lines (core/executor.ts) summed: `copied input tree` or `edited input tree`,
 * `inputs checked`, `outputs hashed`.
 */
export function splitOf(log: string, durationMs: number): StepSplit {
  const sum = (re: RegExp) => [...log.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  // A tree edited on an overlay (ctx.editTree) is not copied: deriving its output takes the copy's place.
  const copy =
    sum(/^netboot: copied input tree .* in ([\d.]+) s$/gm) +
    sum(/^netboot: edited input tree .* output derived in ([\d.]+) s$/gm);
  const check = sum(/^netboot: inputs checked unchanged in ([\d.]+) s$/gm);
  const store = sum(/^netboot: outputs hashed and stored in ([\d.]+) s$/gm);
  const total = durationMs / 1000;
  return { total, copy, check, store, own: Math.max(0, total - copy - check - store) };
}

/** The split of every step that ran, by step name. */
export function splitsOf(project: string, steps: JsonStep[]): Record<string, StepSplit> {
  const out: Record<string, StepSplit> = {};
  for (const s of steps) if (s.outcome === 'ran' && s.key) out[s.step] = splitOf(stepLog(project, s.key), s.durationMs);
  return out;
}

/** Splits per step over several rounds, as the median of each part, for a note. */
export function describeSplits(rounds: Record<string, StepSplit>[], steps: string[]): string {
  const parts: string[] = [];
  let overhead = 0;
  let total = 0;
  for (const step of steps) {
    const of = rounds.map((r) => r[step]).filter((x): x is StepSplit => x !== undefined);
    if (!of.length) continue;
    const m = (k: keyof StepSplit) => med(of.map((x) => x[k]));
    overhead += m('copy') + m('check') + m('store');
    total += m('total');
    parts.push(
      `${step} ${m('total').toFixed(1)} (copy or derive ${m('copy').toFixed(1)}, ` +
        `input check ${m('check').toFixed(1)}, ` +
        `hash and store ${m('store').toFixed(1)}, own work ${m('own').toFixed(1)})`,
    );
  }
  return `${parts.join('; ')}. Copy, check and store together: ${overhead.toFixed(1)} of ${total.toFixed(1)} s`;
}
