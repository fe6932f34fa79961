import type { Reporter, StepReport } from '../core/reporter.js';

const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
const WORD: Record<StepReport['outcome'], string> = {
  cached: 'cached',
  remote: 'pulled from the remote cache',
  unpulled: 'in the remote cache (not pulled)',
  ran: 'done',
  failed: 'FAILED',
  skipped: 'skipped',
  stale: 'would run',
};

/** One line per event: for CI logs, pipes, and `CI=true`. */
export class PlainReporter implements Reporter {
  constructor(private readonly out: (line: string) => void) {}
  running(host: string, step: string) {
    this.out(`[${host}] ${step}: running`);
  }
  step(r: StepReport) {
    const why =
      r.outcome === 'ran' || r.outcome === 'stale' ? (r.reasons.length ? ` (${r.reasons.join('; ')})` : '') : '';
    this.out(`[${r.host}] ${r.step}: ${WORD[r.outcome]} ${secs(r.durationMs)}${why}`);
  }
  replay(r: StepReport, log: string) {
    for (const line of log.replace(/\n$/, '').split('\n')) this.out(`[${r.host}] ${r.step} | ${line}`);
  }
  async done() {}
}

/** listr2's live view in a terminal: one task per host, one subtask per step. */
export async function listrReporter(hosts: Map<string, string[]>): Promise<Reporter> {
  const { Listr } = await import('listr2');
  type Task = { title: string; output: string; skip(msg?: string): void };
  const waiters = new Map<string, { resolve: (r: StepReport) => void; task?: Task; promise: Promise<StepReport> }>();
  let closed = false;
  const unfinished = (host: string, step: string): StepReport => ({
    host,
    step,
    plugin: '',
    outcome: 'skipped',
    durationMs: 0,
    reasons: [],
  });
  const slot = (host: string, step: string) => {
    const id = `${host}\0${step}`;
    let w = waiters.get(id);
    if (!w) {
      let resolve!: (r: StepReport) => void;
      const promise = new Promise<StepReport>((r) => (resolve = r));
      w = { resolve, promise };
      waiters.set(id, w);
      // A task listr starts after the engine stopped (failure, interrupt) must not wait forever.
      if (closed) resolve(unfinished(host, step));
    }
    return w;
  };
  const list = new Listr(
    [...hosts].map(([host, steps]) => ({
      title: host,
      task: (_: unknown, t: any) =>
        t.newListr(
          steps.map((step) => ({
            title: step,
            task: async (_c: unknown, task: Task) => {
              const w = slot(host, step);
              w.task = task;
              const r = await w.promise;
              task.title = `${step} ${WORD[r.outcome]} ${secs(r.durationMs)}`;
              if (r.outcome === 'failed') throw new Error(`${step} failed`);
              if (r.outcome === 'skipped') task.skip(`${step} skipped`);
            },
          })),
          { concurrent: true, exitOnError: false },
        ),
    })),
    { concurrent: true, exitOnError: false, rendererOptions: { collapseSubtasks: false } },
  );
  // A failed step's task throws only to be drawn as failed; the engine reports the failure itself.
  const running = list.run().catch(() => {});
  return {
    running(host, step) {
      const w = slot(host, step);
      if (w.task) w.task.title = `${step} running`;
    },
    step(r) {
      slot(r.host, r.step).resolve(r);
    },
    replay(r, log) {
      const w = slot(r.host, r.step);
      if (w.task) w.task.output = log;
    },
    async done() {
      closed = true;
      for (const [id, w] of waiters) w.resolve(unfinished(...(id.split('\0') as [string, string])));
      for (const [host, steps] of hosts) for (const step of steps) slot(host, step);
      await running;
    },
  };
}
