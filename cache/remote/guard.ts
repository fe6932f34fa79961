// What a build does when the remote cache fails: by default it warns once, naming the registry
// and the step, and goes on locally without the remote (as Bazel's remote cache does); with
// `required` the failure fails the step. A blob whose digest does not match is refused (never
// stored) and that step runs locally; the remote stays in use for the others.
import { errors } from '../../base/errors.js';
import type { ActionRecord } from '../store.js';
import { DigestMismatch } from './registry.js';
import type { RemoteCache } from './remote-cache.js';

/** The engine's view of a remote cache: `where` names the step ("host/step") for messages. */
export interface RemoteLookup {
  readonly url: string;
  pull(key: string, where: string): Promise<ActionRecord | undefined>;
  /** The key's record only, its outputs left in the registry (and known locally from then on). */
  record(key: string, where: string): Promise<ActionRecord | undefined>;
  push(rec: ActionRecord, where: string): Promise<void>;
}

const PUSHES = 4;

export class GuardedRemote implements RemoteLookup {
  private down = false;
  private pushing = 0;
  private readonly waiting: (() => void)[] = [];
  readonly url: string;
  constructor(
    private readonly remote: RemoteCache,
    private readonly o: { required: boolean; push: boolean; warn: (msg: string) => void; signal: AbortSignal },
  ) {
    this.url = remote.o.url;
  }

  async pull(key: string, where: string): Promise<ActionRecord | undefined> {
    if (this.down) return undefined;
    try {
      return await this.remote.pull(key);
    } catch (e) {
      return this.failed(e, 'pulling', where);
    }
  }

  async record(key: string, where: string): Promise<ActionRecord | undefined> {
    if (this.down) return undefined;
    try {
      return await this.remote.record(key);
    } catch (e) {
      return this.failed(e, 'looking up', where);
    }
  }

  /** At most PUSHES at a time: a wide graph must not open a connection per step at once. */
  async push(rec: ActionRecord, where: string): Promise<void> {
    if (this.down || !this.o.push) return;
    while (this.pushing >= PUSHES) await new Promise<void>((r) => this.waiting.push(r));
    this.pushing++;
    try {
      if (!this.down) await this.remote.push(rec);
    } catch (e) {
      this.failed(e, 'pushing', where);
    } finally {
      this.pushing--;
      this.waiting.shift()?.();
    }
  }

  private failed(e: unknown, what: string, where: string): undefined {
    if (this.o.signal.aborted) throw e;
    const msg = (e as Error).message ?? String(e);
    if (this.o.required) throw errors.remoteFailed(this.url, `${what} step ${where}`, msg);
    if (e instanceof DigestMismatch) {
      this.o.warn(`remote cache ${this.url}: step ${where}: ${msg}; building it locally`);
      return undefined;
    }
    // Steps in flight fail together: the first to fail says it, once.
    if (this.down) return undefined;
    this.down = true;
    this.o.warn(
      `remote cache ${this.url}: ${what} step ${where} failed: ${msg}; ` +
        'the build goes on with the local cache only (set cache.remote.required to fail instead)',
    );
    return undefined;
  }
}
