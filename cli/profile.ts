import { writeFileSync } from 'node:fs';

interface TraceEvent {
  name: string;
  cat: string;
  ph: 'X' | 'M';
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

/** Collects spans and writes Chrome Trace Event JSON (open it in Perfetto or chrome://tracing). */
export class Profiler {
  private events: TraceEvent[] = [];
  private readonly origin = Date.now();

  span(name: string, cat: string, startMs: number, endMs: number, tid = 0, args?: Record<string, unknown>): void {
    this.events.push({
      name,
      cat,
      ph: 'X',
      ts: (startMs - this.origin) * 1000,
      dur: Math.max(0, endMs - startMs) * 1000,
      pid: 1,
      tid,
      args,
    });
  }

  async time<T>(name: string, cat: string, fn: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
      return await fn();
    } finally {
      this.span(name, cat, start, Date.now(), 100);
    }
  }

  write(file: string): void {
    const meta: TraceEvent[] = [
      { name: 'process_name', cat: '__metadata', ph: 'M', ts: 0, pid: 1, tid: 0, args: { name: 'netboot' } },
    ];
    writeFileSync(file, JSON.stringify({ traceEvents: [...meta, ...this.events], displayTimeUnit: 'ms' }));
  }
}
