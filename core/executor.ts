import { spawn, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { copyFile, link, lstat, mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ActionRecord, Cache, KeyParts } from '../cache/store.js';
import { CopyError, copyTree } from '../cache/copy.js';
import { objectDamage } from '../cache/artifact-check.js';
import { sourceDigest } from '../cache/source-digest.js';
import { treeChanged } from '../cache/tree-check.js';
import { sha256 } from '../base/canonical.js';
import { errors, isNetbootError, NetbootError } from '../base/errors.js';
import { ProcessGroups } from './process-group.js';
import type { AnyPlugin, Artifact, HostInfo, InputArtifact, StepContext } from './plugin.js';
import type { StepNode } from './recipe.js';

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
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) {
      this.tail.push(l);
      if (this.tail.length > TAIL) this.tail.shift();
    }
    // Last: on a full disk this fails, and the tail for the report has the text already.
    writeSync(this.fd, text);
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
  const groups = new ProcessGroups();
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
    const guard = await guardInputs(cache, a.inputs, join(scratch, 'in'));
    const inputs = guard.inputs;
    const { $: zx } = await import('zx/core');
    // Each command leads its own process group, so a stop reaches a shell's children too; on
    // abort the groups get SIGTERM, then SIGKILL after a grace period, while zx settles.
    const shellAbort = new AbortController();
    const onAbort = () => {
      void groups.stop();
      shellAbort.abort(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const $ = zx({
      cwd: tmp,
      signal: shellAbort.signal,
      detached: true,
      spawn: ((cmd: string, args: string[], opts: SpawnOptions) => groups.spawn(cmd, args, opts)) as typeof spawn,
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
        await copyTree(art.path, dest, signal, await cache.manifest(art.digest)).catch((e: unknown) => {
          try {
            if (e instanceof CopyError) log.write(e.stderr);
          } catch {
            // the full disk may be the log's own
          }
          throw e;
        });
      },
    };
    let failure: unknown;
    try {
      await plugin.run(ctx);
    } catch (e) {
      failure = e;
    } finally {
      signal.removeEventListener('abort', onAbort);
      // Nothing a step started outlives it (a background job, a command that ignored SIGTERM).
      await groups.stop();
    }
    // Checked whether the step succeeded or not: a damaged input must never be served again.
    const damaged = await guard.check();
    if (damaged) throw errors.inputModified(host.name, node.id, damaged);
    signal.throwIfAborted();
    if (failure !== undefined) throw new PluginFailure(failure);
    const secret = new Set(plugin.secretSources?.(structuredClone(node.params)) ?? []);
    for (const src of Object.keys(a.parts.sources ?? {}))
      if ((await sourceDigest(cache, resolve(a.baseDir, src), secret.has(src))) !== a.parts.sources![src])
        throw errors.sourceChanged(host.name, node.id, src);

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
    if (e instanceof PluginFailure) e = e.inner;
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC')
      throw errors.diskFull(
        `${(e as NodeJS.ErrnoException).path ?? cache.root} (host ${host.name}, step ${node.id})`,
        log.lastLines(),
      );
    const keep = join(cache.dir('logs'), host.name, `${node.id}.log`);
    await mkdir(join(keep, '..'), { recursive: true });
    await copyFile(log.path, keep).catch(() => {});
    const failed = errors.stepFailed(host.name, node.id, describeFailure(e, lastCmd), log.lastLines(), keep, e);
    // A coded error from the plugin keeps its code (IMAGE_TOO_SMALL, DIGEST_MISMATCH, ...), with host and step named.
    if (isNetbootError(e)) throw new NetbootError(e.code, 'build', failed.message, [...e.details, ...failed.details], e);
    throw failed;
  } finally {
    await cache.removeTemp(scratch);
  }
}

/** An error thrown by the plugin itself: reported as the step's failure, whatever its kind. */
class PluginFailure {
  constructor(readonly inner: unknown) {}
}

/**
 * Inputs a step may only read. A tree is handed over in place and checked afterwards against
 * the stat rows taken when it was stored. A file is handed over as a hard link in the scratch
 * directory (so `sed -i` replaces the link, not the object) and the object's own stat is
 * compared afterwards (so an in-place write is caught). Whatever was damaged is quarantined.
 */
async function guardInputs(cache: Cache, arts: Record<string, Artifact>, dir: string) {
  const inputs: Record<string, InputArtifact> = {};
  const files: { name: string; digest: string; sig: string }[] = [];
  // Not ctime: hard links (other steps' inputs, published releases) change it legitimately.
  const sig = async (p: string) => {
    // Nor the inode: a cache copied with cp -a (a backup restored) has new ones, and good objects.
    const st = await stat(p, { bigint: true });
    return `${st.size}:${st.mtimeNs}:${st.mode}`;
  };
  await mkdir(dir, { recursive: true });
  for (const [name, art] of Object.entries(arts)) {
    if (art.kind === 'tree') {
      inputs[name] = { ...art, path: cache.treePath(art.digest) };
      continue;
    }
    const path = join(dir, name.replace(/[^A-Za-z0-9._-]/g, '_'));
    await link(cache.objectPath(art.digest), path);
    files.push({ name, digest: art.digest, sig: await sig(cache.objectPath(art.digest)) });
    inputs[name] = { ...art, path };
  }
  return {
    inputs,
    async check(): Promise<string | undefined> {
      for (const f of files)
        // A stat that moved is confirmed by hash: a hit check elsewhere may have pinned an old object's mtime.
        if (
          (await sig(cache.objectPath(f.digest)).catch(() => 'gone')) !== f.sig &&
          (await objectDamage(cache, f.digest, 'hash'))
        ) {
          await cache.quarantineObject(f.digest);
          return `${f.name} (written in place)`;
        }
      for (const [name, art] of Object.entries(arts)) {
        if (art.kind !== 'tree') continue;
        // A manifest found corrupt during the step was quarantined with its tree: nothing left to check.
        const entries = await cache.manifest(art.digest).catch(() => undefined);
        if (!entries) continue;
        const diff = await treeChanged(inputs[name].path, entries, cache.treeStatPath(art.digest));
        if (diff) {
          await cache.quarantineTree(art.digest);
          return `${name} (${diff})`;
        }
      }
      return undefined;
    },
  };
}

/** A shell failure reads like zx's ProcessOutput: the command and its exit code. */
function describeFailure(e: unknown, cmd: string | undefined): string {
  if (isNetbootError(e)) return e.message;
  const err = e as { exitCode?: number | null; signal?: string | null; message?: string };
  if (typeof err?.exitCode === 'number' || err?.signal)
    return `command \`${cmd ?? '?'}\` exited with ${err.exitCode !== null && err.exitCode !== undefined ? `code ${err.exitCode}` : `signal ${err.signal}`}`;
  return (err?.message ?? String(e)).split('\n')[0];
}
