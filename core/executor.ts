import type { SpawnOptions, spawn } from 'node:child_process';
import { copyFile, link, lstat, mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { sha256 } from '../base/canonical.js';
import { errnoOf, ifMissing, isMissing } from '../base/errno.js';
import { codes, errors, isNetbootError } from '../base/errors.js';
import { objectDamage } from '../cache/artifact-check.js';
import { CopyError, copyTree } from '../cache/copy.js';
import { DebStore } from '../cache/deb-store.js';
import type { DerivedTree } from '../cache/overlay-tree.js';
import { hmacDigest } from '../cache/secret-key.js';
import { sourceDigest } from '../cache/source-digest.js';
import type { ActionRecord, Cache } from '../cache/store.js';
import { treeChanged } from '../cache/tree-check.js';
import type { KeyParts } from './keys.js';
import type { AnyPlugin, Artifact, HostInfo, InputArtifact, StepContext } from './plugin.js';
import { ProcessGroups } from './process-group.js';
import type { StepNode } from './recipe.js';
import { StepLog } from './step-log.js';
import { editOnOverlay, OverlayUnavailable } from './tree-edit.js';

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

/** Where a step works: all inside its scratch directory. */
interface Workspace {
  tmp: string;
  outputs: Record<string, string>;
  log: StepLog;
  /** The last shell command the step ran, for the failure report. */
  lastCmd?: string;
  /** Tree outputs made by ctx.editTree: their manifest, and the stored tree they were made from. */
  derived: Record<string, { tree: DerivedTree; base: string }>;
}

/**
 * Runs one step whose key missed: in a private scratch directory, with its outputs ingested into
 * the cache and the action record written last. Whatever happens, the scratch directory goes.
 */
export async function executeStep(a: ExecuteArgs): Promise<ActionRecord> {
  const started = Date.now();
  const scratch = await a.cache.scratch(`${a.host.name}-${a.node.id}`);
  const ws: Workspace = {
    tmp: join(scratch, 'tmp'),
    outputs: {},
    log: new StepLog(join(scratch, 'log')),
    derived: {},
  };
  try {
    await makeWorkspace(ws, a.node.plugin, join(scratch, 'out'));
    const guard = await guardInputs(a.cache, a.inputs, join(scratch, 'in'));
    const failure = await runPlugin(a, ws, guard.inputs);
    // Checked whether the step succeeded or not: a damaged input must never be served again.
    const checked = Date.now();
    const damaged = await guard.check();
    // Not after a failure: the log's tail is the failure's own words.
    if (!failure) ws.log.line(`netboot: inputs checked unchanged in ${seconds(checked)} s`);
    if (damaged) throw errors.inputModified(a.host.name, a.node.id, damaged);
    a.signal.throwIfAborted();
    if (failure) throw failure;
    await checkSourcesUnchanged(a);
    const ingesting = Date.now();
    const produced = await ingestOutputs(a, ws);
    ws.log.line(`netboot: outputs hashed and stored in ${seconds(ingesting)} s`);
    return await commit(a, produced, ws.log, started);
  } catch (e) {
    ws.log.close();
    throw await stepError(a, ws, e);
  } finally {
    await a.cache.removeTemp(scratch);
  }
}

async function makeWorkspace(ws: Workspace, plugin: AnyPlugin, outDir: string): Promise<void> {
  await mkdir(ws.tmp);
  await mkdir(outDir);
  for (const [name, kind] of Object.entries(plugin.produces)) {
    ws.outputs[name] = join(outDir, name);
    if (kind === 'tree') await mkdir(ws.outputs[name]);
  }
}

/** Runs the plugin; what it throws is returned, to be reported after its inputs are checked. */
async function runPlugin(
  a: ExecuteArgs,
  ws: Workspace,
  inputs: Record<string, InputArtifact>,
): Promise<PluginFailure | undefined> {
  const groups = new ProcessGroups();
  // Each command leads its own process group, so a stop reaches a shell's children too; on
  // abort the groups get SIGTERM, then SIGKILL after a grace period, while zx settles.
  const shellAbort = new AbortController();
  const $ = await makeShell(a, ws, groups, shellAbort.signal);
  const onAbort = () => {
    void groups.stop();
    shellAbort.abort(a.signal.reason);
  };
  a.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await a.node.plugin.run(stepContext(a, ws, inputs, $, groups));
    return undefined;
  } catch (e) {
    return new PluginFailure(e);
  } finally {
    a.signal.removeEventListener('abort', onAbort);
    // Nothing a step started outlives it (a background job, a command that ignored SIGTERM).
    await groups.stop();
  }
}

async function makeShell(a: ExecuteArgs, ws: Workspace, groups: ProcessGroups, signal: AbortSignal) {
  const { $: zx } = await import('zx/core');
  return zx({
    cwd: ws.tmp,
    signal,
    detached: true,
    spawn: ((cmd: string, args: string[], opts: SpawnOptions) => groups.spawn(cmd, args, opts)) as typeof spawn,
    verbose: true,
    quiet: false,
    env: { ...process.env, SOURCE_DATE_EPOCH: String(a.parts.env.sourceDateEpoch), LC_ALL: 'C.UTF-8' },
    log: (e) => {
      if (e.kind === 'cmd') ws.log.line(`$ ${(ws.lastCmd = e.cmd)}`);
      else if (e.kind === 'stdout' || e.kind === 'stderr') ws.log.write(e.data.toString());
      else if (e.kind === 'end' && e.exitCode !== 0) ws.log.line(`[exit ${e.exitCode ?? e.signal}]`);
    },
  });
}

function stepContext(
  a: ExecuteArgs,
  ws: Workspace,
  inputs: Record<string, InputArtifact>,
  $: StepContext<any, string, any>['$'],
  groups: ProcessGroups,
): StepContext<any, string, any> {
  const { cache, node, signal } = a;
  const log = ws.log;
  const treeInput = (name: string) => {
    const art = inputs[name];
    if (art?.kind !== 'tree') throw new Error(`input "${name}" is not a tree`);
    return art;
  };
  const copyInput = async (name: string, dest: string) => {
    const art = treeInput(name);
    const copying = Date.now();
    await copyTree(art.path, dest, signal, await cache.manifest(art.digest)).catch((e: unknown) => {
      if (e instanceof CopyError) logUnlessFull(log, e.stderr);
      throw e;
    });
    log.line(`netboot: copied input tree "${name}" (${art.files} files) in ${seconds(copying)} s`);
  };
  return {
    step: node.id,
    params: structuredClone(node.params),
    inputs,
    outputs: ws.outputs,
    tmp: ws.tmp,
    $,
    log: { info: (m) => log.line(m), warn: (m) => log.line(`warning: ${m}`) },
    signal,
    sourceDateEpoch: a.parts.env.sourceDateEpoch,
    fingerprint: a.parts.fingerprint ?? undefined,
    downloads: new DebStore(join(cache.root, 'debs')),
    resolvePath: (p) => resolve(a.baseDir, p),
    keyedDigest: (data) => hmacDigest(cache.root, data),
    manifest: async (name) => cache.manifest(treeInput(name).digest),
    copyTree: (name, dest) => copyInput(name, dest),
    editTree: async (name, output, edit) => {
      const art = treeInput(name);
      if (a.node.plugin.produces[output] !== 'tree') throw new Error(`output "${output}" is not a tree`);
      const dir = join(ws.tmp, '..', `edit-${output.replace(/[^A-Za-z0-9._-]/g, '_')}`);
      const entries = await cache.manifest(art.digest);
      let derived = Date.now();
      const settle = () => {
        derived = Date.now();
        return groups.stop();
      };
      try {
        const tree = await editOnOverlay(art.path, entries, dir, ws.outputs[output], edit, settle);
        ws.derived[output] = { tree, base: art.digest };
        log.line(
          `netboot: edited input tree "${String(name)}" on an overlay: ${tree.changed} entries changed, ` +
            `output derived in ${seconds(derived)} s`,
        );
      } catch (e) {
        if (!(e instanceof OverlayUnavailable)) throw e;
        log.line(`netboot: no overlay for input tree "${String(name)}" (${e.message}): editing a copy`);
        await copyInput(name, ws.outputs[output]);
        await edit(ws.outputs[output]);
      }
    },
  };
}

/** Seconds since `t0` (a Date.now()), for the step log's own timings (a profile of where a step went). */
function seconds(t0: number): string {
  return ((Date.now() - t0) / 1000).toFixed(2);
}

/** Writes to the log, except on a full disk, which may be the log's own: the tail has the text. */
function logUnlessFull(log: StepLog, text: string): void {
  try {
    log.write(text);
  } catch (e) {
    if (errnoOf(e) !== 'ENOSPC') throw e;
  }
}

/** The local sources the key was computed from are still what the step read. */
async function checkSourcesUnchanged(a: ExecuteArgs): Promise<void> {
  const secret = new Set(a.node.plugin.secretSources?.(structuredClone(a.node.params)) ?? []);
  for (const src of Object.keys(a.parts.sources ?? {}))
    if ((await sourceDigest(a.cache, resolve(a.baseDir, src), secret.has(src))) !== a.parts.sources![src])
      throw errors.sourceChanged(a.host.name, a.node.id, src);
}

async function ingestOutputs(a: ExecuteArgs, ws: Workspace): Promise<Record<string, Artifact>> {
  const outputs = ws.outputs;
  const produced: Record<string, Artifact> = {};
  for (const [name, kind] of Object.entries(a.node.plugin.produces)) {
    const st = await lstat(outputs[name]).catch(ifMissing(undefined));
    if (!st || (kind === 'file' ? !st.isFile() : !st.isDirectory()))
      throw errors.missingOutput(a.host.name, a.node.id, name, kind as string);
    const path = outputs[name];
    const derived = ws.derived[name];
    produced[name] =
      kind === 'file'
        ? await a.cache.ingestFile(path)
        : derived
          ? await a.cache.ingestDerivedTree(path, derived.tree, derived.base)
          : await a.cache.ingestTree(path);
  }
  return produced;
}

/** Stores the log, then the action record: the record is the step's commit point. */
async function commit(
  a: ExecuteArgs,
  outputs: Record<string, Artifact>,
  log: StepLog,
  started: number,
): Promise<ActionRecord> {
  log.close();
  const logText = await readFile(log.path);
  const logDigest = logText.length ? sha256(logText) : null;
  if (logDigest) await a.cache.putObject(logDigest, logText);
  const rec: ActionRecord = {
    v: 1,
    key: a.key,
    parts: a.parts,
    outputs,
    log: logDigest,
    durationMs: Date.now() - started,
    createdAt: new Date().toISOString(),
    by: { host: a.host.name, step: a.node.id },
  };
  await a.cache.writeAction(rec);
  return rec;
}

/** The error a failed step reports: coded, placed, with its log's tail and the kept log. */
async function stepError(a: ExecuteArgs, ws: Workspace, e: unknown): Promise<unknown> {
  const { host, node } = a;
  if (a.signal.aborted) return e;
  if (isNetbootError(e)) return e;
  if (e instanceof PluginFailure) e = e.inner;
  if (errnoOf(e) === 'ENOSPC') {
    const where = (e as NodeJS.ErrnoException).path ?? a.cache.root;
    return errors.diskFull(`${where} (host ${host.name}, step ${node.id})`, ws.log.lastLines());
  }
  const keep = await keepLog(a, ws.log);
  const failed = errors.stepFailed(host.name, node.id, describeFailure(e, ws.lastCmd), ws.log.lastLines(), keep, e);
  // A coded error from the plugin keeps its code (IMAGE_TOO_SMALL, DIGEST_MISMATCH, ...), with host and step named.
  return isNetbootError(e) ? errors.pluginFailed(e, failed) : failed;
}

/** Copies the failed step's log out of its scratch directory; where to, if that worked. */
async function keepLog(a: ExecuteArgs, log: StepLog): Promise<string | undefined> {
  const keep = join(a.cache.dir('logs'), a.host.name, `${a.node.id}.log`);
  try {
    await mkdir(join(keep, '..'), { recursive: true });
    await copyFile(log.path, keep);
    return keep;
  } catch (e) {
    a.cache.warn(`${keep}: cannot keep the failed step's log: ${(e as Error).message}`);
    return undefined;
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
      // A stat that moved is confirmed by hash: a hit check elsewhere may have pinned an old object's mtime.
      for (const f of files)
        if (
          (await sig(cache.objectPath(f.digest)).catch(ifMissing('gone'))) !== f.sig &&
          (await objectDamage(cache, f.digest, 'hash'))
        ) {
          await cache.quarantineObject(f.digest);
          return `${f.name} (written in place)`;
        }
      for (const [name, art] of Object.entries(arts)) {
        if (art.kind !== 'tree') continue;
        // A manifest found corrupt during the step was quarantined with its tree: nothing left to check.
        const entries = await cache.manifest(art.digest).catch((e: unknown) => {
          if (isMissing(e) || (isNetbootError(e) && e.code === codes.CACHE_ENTRY_CORRUPT)) return undefined;
          throw e;
        });
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
    return (
      `command \`${cmd ?? '?'}\` exited with ` +
      (err.exitCode !== null && err.exitCode !== undefined ? `code ${err.exitCode}` : `signal ${err.signal}`)
    );
  return (err?.message ?? String(e)).split('\n')[0];
}
