import { execFile } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { copyFile, lstat, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { ActionRecord, Cache, KeyParts } from '../cache/store.js';
import { treeChanged } from '../cache/tree-check.js';
import { sha256 } from './canonical.js';
import { errors, isNetbootError } from './errors.js';
import type { AnyPlugin, Artifact, HostInfo, InputArtifact, StepContext } from './plugin.js';
import type { StepNode } from './recipe.js';

const run = promisify(execFile);
const TAIL = 20;

export interface ExecuteArgs {
  cache: Cache;
  host: HostInfo;
  node: StepNode;
  inputs: Record<string, Artifact>;
  parts: KeyParts;
  key: string;
  signal: AbortSignal;
  baseDir: string;
}

/** The step's log: a file in its scratch dir, plus the last lines kept for error reports. */
class StepLog {
  private fd: number;
  readonly tail: string[] = [];
  private partial = '';
  constructor(readonly path: string) {
    this.fd = openSync(path, 'a');
  }
  write(text: string) {
    writeSync(this.fd, text);
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) {
      this.tail.push(l);
      if (this.tail.length > TAIL) this.tail.shift();
    }
  }
  line(text: string) {
    this.write(text.endsWith('\n') ? text : text + '\n');
  }
  lastLines(): string[] {
    return this.partial ? [...this.tail.slice(-(TAIL - 1)), this.partial] : [...this.tail];
  }
  close() {
    closeSync(this.fd);
  }
}

/**
 * Runs one step whose key missed: in a private scratch directory, with its outputs ingested into
 * the cache and the action record written last. Whatever happens, the scratch directory goes.
 */
export async function executeStep(a: ExecuteArgs): Promise<ActionRecord> {
  const { cache, host, node, signal } = a;
  const plugin: AnyPlugin = node.plugin;
  const started = Date.now();
  const scratch = await cache.scratch(`${host.name}-${node.id}`);
  const log = new StepLog(join(scratch, 'log'));
  let lastCmd: string | undefined;
  try {
    const tmp = join(scratch, 'tmp');
    const outDir = join(scratch, 'out');
    await mkdir(tmp);
    await mkdir(outDir);
    const outputs: Record<string, string> = {};
    for (const [name, kind] of Object.entries(plugin.produces)) {
      outputs[name] = join(outDir, name);
      if (kind === 'tree') await mkdir(outputs[name]);
    }
    const inputs: Record<string, InputArtifact> = {};
    for (const [name, art] of Object.entries(a.inputs)) inputs[name] = { ...art, path: cache.artifactPath(art) };
    const { $: zx } = await import('zx/core');
    const $ = zx({
      cwd: tmp,
      signal,
      verbose: true,
      quiet: false,
      env: { ...process.env, SOURCE_DATE_EPOCH: String(a.parts.env.sourceDateEpoch), LC_ALL: 'C.UTF-8' },
      log: (e) => {
        if (e.kind === 'cmd') log.line(`$ ${(lastCmd = e.cmd)}`);
        else if (e.kind === 'stdout' || e.kind === 'stderr') log.write(e.data.toString());
        else if (e.kind === 'end' && e.exitCode !== 0) log.line(`[exit ${e.exitCode ?? e.signal}]`);
      },
    });
    const ctx: StepContext<any, string, any> = {
      host,
      step: node.id,
      params: structuredClone(node.params),
      inputs,
      outputs,
      tmp,
      $,
      log: { info: (m) => log.line(m), warn: (m) => log.line(`warning: ${m}`) },
      signal,
      sourceDateEpoch: a.parts.env.sourceDateEpoch,
      fingerprint: a.parts.fingerprint ?? undefined,
      resolvePath: (p) => resolve(a.baseDir, p),
      manifest: async (name) => {
        const art = a.inputs[name];
        if (art?.kind !== 'tree') throw new Error(`input "${name}" is not a tree`);
        return cache.manifest(art.digest);
      },
      copyTree: async (name, dest) => {
        const art = inputs[name];
        if (art?.kind !== 'tree') throw new Error(`input "${name}" is not a tree`);
        await mkdir(dest, { recursive: true });
        await run('cp', ['-a', '--reflink=auto', `${art.path}/.`, dest], { signal, maxBuffer: 1 << 24 });
      },
    };
    await plugin.run(ctx);
    signal.throwIfAborted();
    for (const [name, art] of Object.entries(a.inputs)) {
      if (art.kind !== 'tree') continue;
      const diff = await treeChanged(inputs[name].path, await cache.manifest(art.digest), cache.treeStatPath(art.digest));
      if (diff) {
        // Never serve it again: later builds re-create it from its producing step.
        await cache.quarantineTree(art.digest);
        throw errors.inputModified(host.name, node.id, `${name} (${diff})`);
      }
    }

    const produced: Record<string, Artifact> = {};
    for (const [name, kind] of Object.entries(plugin.produces)) {
      const st = await lstat(outputs[name]).catch(() => undefined);
      if (!st || (kind === 'file' ? !st.isFile() : !st.isDirectory())) throw errors.missingOutput(host.name, node.id, name, kind as string);
      produced[name] = kind === 'file' ? await cache.ingestFile(outputs[name]) : await cache.ingestTree(outputs[name]);
    }
    log.close();
    const logText = await readFile(log.path);
    const logDigest = logText.length ? sha256(logText) : null;
    if (logDigest) await cache.putObject(logDigest, logText);
    const rec: ActionRecord = {
      v: 1,
      key: a.key,
      parts: a.parts,
      outputs: produced,
      log: logDigest,
      durationMs: Date.now() - started,
      createdAt: new Date().toISOString(),
      by: { host: host.name, step: node.id },
    };
    await cache.writeAction(rec);
    return rec;
  } catch (e) {
    try {
      log.close();
    } catch {
      // already closed
    }
    if (signal.aborted) throw e;
    if (isNetbootError(e)) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') throw errors.diskFull(`${cache.root} (host ${host.name}, step ${node.id})`);
    const keep = join(cache.dir('logs'), host.name, `${node.id}.log`);
    await mkdir(join(keep, '..'), { recursive: true });
    await copyFile(log.path, keep).catch(() => {});
    throw errors.stepFailed(host.name, node.id, describeFailure(e, lastCmd), log.lastLines(), keep, e);
  } finally {
    await cache.removeTemp(scratch);
  }
}

/** A shell failure reads like zx's ProcessOutput: the command and its exit code. */
function describeFailure(e: unknown, cmd: string | undefined): string {
  const err = e as { exitCode?: number | null; signal?: string | null; message?: string };
  if (typeof err?.exitCode === 'number' || err?.signal)
    return `command \`${cmd ?? '?'}\` exited with ${err.exitCode !== null && err.exitCode !== undefined ? `code ${err.exitCode}` : `signal ${err.signal}`}`;
  return (err?.message ?? String(e)).split('\n')[0];
}
