import type { NetbootError } from '../base/errors.js';
import type { Artifact } from '../cache/artifact.js';

/**
 * `remote`: missed locally, pulled from the remote cache (not run). `unpulled`: missed locally, in the
 * remote cache, its outputs left there (no step that ran read them: core/top-down.ts).
 */
export type Outcome = 'cached' | 'remote' | 'unpulled' | 'ran' | 'failed' | 'skipped' | 'stale';

export interface StepReport {
  host: string;
  step: string;
  plugin: string;
  key?: string;
  outcome: Outcome;
  durationMs: number;
  /** Why it ran or would run: what changed in its key since the host's last build. */
  reasons: string[];
  outputs?: Record<string, Artifact>;
  error?: NetbootError;
}

/** Where the engine says what each step did (the CLI's progress display implements it). */
export interface Reporter {
  running(host: string, step: string): void;
  step(report: StepReport): void;
  /** A cached step's log, shown with --verbose. */
  replay(report: StepReport, log: string): void;
  done(): Promise<void>;
}

/** Where the engine records how long each step ran (the CLI's `--profile` trace implements it). */
export interface SpanRecorder {
  span(name: string, cat: string, startMs: number, endMs: number, tid?: number): void;
}
