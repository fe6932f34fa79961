import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import type { Cache } from '../cache/store.js';
import type { PublishLink, TargetName } from '../core/recipe.js';
import { remoteDiskPrivate } from './disk-modes.js';
import { deletingName, LocalTarget } from './local-target.js';
import { type DiskSig, isReleaseId, MANIFEST_NAME, type ReleaseManifest } from './release.js';
import type { PlannedItem, StageResult, Target, TargetState } from './target.js';

export interface SshOptions {
  /** Private key for ssh and rsync (-i). */
  identityFile?: string;
  /** Extra `-o` options, e.g. 'StrictHostKeyChecking=accept-new'. */
  options?: string[];
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A target root on another machine, `ssh://user@host[:port]/path`, with the same layout as a
 * local one. A release is staged locally (hardlinked from the cache), sent with rsync
 * `--link-dest` against the live release (so only what changed crosses the network), committed
 * with one remote rename, and switched with one remote rename of a symlink.
 */
export class SshTarget implements Target {
  private readonly user: string;
  private readonly host: string;
  private readonly port: string;
  readonly root: string;

  constructor(
    readonly name: TargetName,
    private readonly url: string,
    private readonly cache: Cache,
    private readonly ssh: SshOptions = {},
  ) {
    const u = new URL(url);
    this.user = decodeURIComponent(u.username || 'root');
    this.host = u.hostname;
    this.port = u.port || '22';
    this.root = decodeURIComponent(u.pathname).replace(/\/+$/, '') || '/';
  }

  describe(): string {
    return this.url;
  }

  /**
   * One SSH connection per run, shared by every command (ControlMaster): a publish makes dozens
   * of small remote calls, and a new connection each costs a third of a second. close() ends it.
   */
  private readonly control = join(tmpdir(), `netboot-ssh-${process.pid}-%C`);

  private sshArgs(): string[] {
    const a = [
      '-p',
      this.port,
      '-o',
      'BatchMode=yes',
      '-o',
      'ControlMaster=auto',
      '-o',
      `ControlPath=${this.control}`,
      '-o',
      'ControlPersist=30',
    ];
    if (this.ssh.identityFile) a.push('-i', this.ssh.identityFile);
    for (const o of this.ssh.options ?? []) a.push('-o', o);
    return a;
  }

  private exec(script: string, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      // -l and --: neither the user nor the host can be read as an option (the config refuses a leading '-' too).
      execFile(
        'ssh',
        [...this.sshArgs(), '-l', this.user, '--', this.host, `set -e; ${script}`],
        { maxBuffer: 1 << 28 },
        (err, stdout, stderr) => {
          if (err)
            reject(
              errors.remoteFailed(this.url, what, (stderr || err.message).trim().split('\n').slice(-3).join(' | ')),
            );
          else resolve(stdout);
        },
      );
    });
  }

  private rsync(args: string[], what: string): Promise<string> {
    const rsh = ['ssh', ...this.sshArgs()].map(q).join(' ');
    return new Promise((resolve, reject) => {
      execFile('rsync', ['-e', rsh, ...args], { maxBuffer: 1 << 28 }, (err, stdout, stderr) => {
        if (err)
          reject(errors.remoteFailed(this.url, what, (stderr || err.message).trim().split('\n').slice(-3).join(' | ')));
        else resolve(stdout);
      });
    });
  }

  private rel(host: string, ...p: string[]) {
    return [this.root, '.releases', host, ...p].join('/');
  }

  // Each remote call costs a round trip and a remote shell: remember what was read, forget it on change.
  private readonly states = new Map<string, TargetState>();
  private readonly manifests = new Map<string, ReleaseManifest | undefined>();

  async state(host: string): Promise<TargetState> {
    const known = this.states.get(host);
    if (known) return known;
    const st = await this.readState(host);
    this.states.set(host, st);
    return st;
  }

  private async readState(host: string): Promise<TargetState> {
    const out = await this.exec(
      `readlink ${q(`${this.root}/${host}`)} || true; echo '--'; ` +
        `ls -1 ${q(this.rel(host))} 2>/dev/null || true; echo '--'; ` +
        `cat ${q(this.rel(host, 'history.json'))} 2>/dev/null || echo '[]'`,
      'reading the release state',
    );
    const [link, list, hist] = out.split('--\n');
    return {
      current: link.trim() ? link.trim().split('/').pop() : undefined,
      ids: list.split('\n').filter(isReleaseId),
      history: JSON.parse(hist.trim() || '[]') as string[],
    };
  }

  async manifest(host: string, id: string): Promise<ReleaseManifest | undefined> {
    const k = `${host}/${id}`;
    if (this.manifests.has(k)) return this.manifests.get(k);
    const out = await this.exec(
      `cat ${q(this.rel(host, id, MANIFEST_NAME))} 2>/dev/null || true`,
      'reading a release manifest',
    );
    const m = out.trim() ? (JSON.parse(out) as ReleaseManifest) : undefined;
    this.manifests.set(k, m);
    return m;
  }

  async free(): Promise<{ bytes: number; inodes: number; path: string }> {
    const out = await this.exec(
      `mkdir -p ${q(this.root)}; df -B1 --output=avail,iavail ${q(this.root)} | tail -1`,
      'checking free space',
    );
    const [bytes, inodes] = out.trim().split(/\s+/).map(Number);
    return { bytes, inodes: Number.isFinite(inodes) && inodes > 0 ? inodes : Number.MAX_SAFE_INTEGER, path: this.url };
  }

  async estimate(items: PlannedItem[], prev: ReleaseManifest | undefined): Promise<{ bytes: number; inodes: number }> {
    const prevFiles = new Map((prev?.entries ?? []).map((e) => [e.path, e.digest]));
    let bytes = 0;
    let inodes = 0;
    for (const it of items)
      for (const e of it.entries) {
        inodes++;
        if (it.writable && it.reuse) continue;
        if (e.type === 'file' && (it.writable || prevFiles.get(e.path) !== e.digest)) bytes += e.size ?? 0;
      }
    return { bytes, inodes };
  }

  async stage(
    host: string,
    id: string,
    items: PlannedItem[],
    links: PublishLink[],
    digest: string,
    prev: ReleaseManifest | undefined,
  ): Promise<StageResult> {
    this.states.delete(host);
    await this.checkDirs(host, links);
    const local = await this.cache.scratch(`ssh-stage-${host}`);
    try {
      const lt = new LocalTarget(this.name, local, this.cache);
      const res = await lt.stage(host, id, items, links, digest, undefined);
      const manifestPath = join(local, '.releases', host, id, MANIFEST_NAME);
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ReleaseManifest;
      for (const it of manifest.items) {
        if (!it.disk || items.find((p) => p.path === it.path)?.reuse) continue;
        const remoteTmp = `${this.root}/.disks/${host}/.tmp-${it.disk.id}`;
        await this.exec(`mkdir -p ${q(`${this.root}/.disks/${host}`)}`, 'creating the disk directory');
        const src = join(local, '.disks', host, it.disk.id);
        const tree = it.artifact.kind === 'tree';
        await this.rsync(
          tree
            ? ['-aH', '--numeric-ids', `${src}/`, `${this.user}@${this.host}:${remoteTmp}/`]
            : ['--sparse', '--perms', src, `${this.user}@${this.host}:${remoteTmp}`],
          `sending disk ${it.disk.id}`,
        );
        await this.exec(
          `sync -f ${q(remoteTmp)} 2>/dev/null || sync; ` +
            `mv -T ${q(remoteTmp)} ${q(`${this.root}/.disks/${host}/${it.disk.id}`)}`,
          'committing a disk',
        );
        const dir = `${this.root}/.disks/${host}`;
        await this.exec(
          remoteDiskPrivate(this.name, dir, `${dir}/${it.disk.id}`, it.artifact.kind, q),
          'making the disk private',
        );
        it.disk.sig = (await this.diskSig(host, it.disk.id))!;
      }
      await writeFile(manifestPath, JSON.stringify(manifest));
      const staging = `.staging-${id}-${process.pid}`;
      await this.exec(`mkdir -p ${q(this.rel(host))}`, 'creating the release directory');
      const stats = await this.rsync(
        // Compare by content, not mtime (-c, no -t): the same file from two builds has two mtimes,
        // and --link-dest only links files whose preserved attributes all match.
        [
          '-rlpgoDHc',
          '--numeric-ids',
          '--stats',
          ...(prev ? [`--link-dest=../${prev.id}`] : []),
          `${join(local, '.releases', host, id)}/`,
          `${this.user}@${this.host}:${this.rel(host, staging)}/`,
        ],
        'sending the release',
      );
      await this.exec(
        `sync -f ${q(this.rel(host, staging))} 2>/dev/null || sync; ` +
          `mv -T ${q(this.rel(host, staging))} ${q(this.rel(host, id))}`,
        'committing the release',
      );
      const sent = /Total transferred file size: ([\d,.]+)/.exec(stats)?.[1]?.replace(/[,.]/g, '');
      return { ...res, bytesWritten: sent ? Number(sent) : res.bytesWritten };
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  }

  /**
   * The local target's directory check, remotely: no directory netboot writes into under the
   * root (.releases, .disks, their host directories, stable links' parents) may be a symlink or
   * anything but a directory. One round trip, before anything is sent.
   */
  private async checkDirs(host: string, links: PublishLink[]): Promise<void> {
    const dirs = new Set(['.releases', `.releases/${host}`, '.disks', `.disks/${host}`]);
    for (const l of links) {
      const parts = l.path.split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
    const paths = [...dirs].map((d) => q(`${this.root}/${d}`)).join(' ');
    const out = await this.exec(
      `for d in ${paths}; do if [ -L "$d" ] || { [ -e "$d" ] && [ ! -d "$d" ]; }; then echo "$d"; break; fi; done`,
      'checking the release directories',
    );
    if (out.trim()) throw errors.sanUnsafePath(`${this.url}: ${out.trim()}`, 'is a symlink or not a directory');
  }

  async switch(host: string, id: string): Promise<void> {
    const { history } = await this.state(host);
    this.states.delete(host);
    const next = JSON.stringify([...history.filter((h) => h !== id), id]);
    const tmp = `${this.root}/.${host}.switch-${process.pid}`;
    await this.exec(
      `ln -s ${q(`.releases/${host}/${id}`)} ${q(tmp)} && mv -T ${q(tmp)} ${q(`${this.root}/${host}`)}; ` +
        `printf %s ${q(next)} > ${q(this.rel(host, 'history.json.tmp'))} && ` +
        `mv -T ${q(this.rel(host, 'history.json.tmp'))} ${q(this.rel(host, 'history.json'))}`,
      'switching the live release',
    );
  }

  async ensureLinks(host: string, links: PublishLink[]): Promise<void> {
    const script = links.map((l) => {
      const want = `${'../'.repeat(l.path.split('/').length - 1)}${host}/${l.to}`;
      const at = `${this.root}/${l.path}`;
      return (
        `[ "$(readlink ${q(at)} || true)" = ${q(want)} ] || { mkdir -p "$(dirname ${q(at)})"; ` +
        `ln -sfn ${q(want)} ${q(`${at}.tmp`)}; mv -T ${q(`${at}.tmp`)} ${q(at)}; }`
      );
    });
    if (script.length) await this.exec(script.join('; '), 'linking');
  }

  async remove(host: string, ids: string[]): Promise<string[]> {
    this.states.delete(host);
    const removed: string[] = [];
    for (const id of ids) {
      const script = discardScript(this.rel(host, id), this.rel(host, deletingName(id)));
      const out = await this.exec(script, `removing release ${id}`);
      if (out.trim() === 'removed') removed.push(id);
    }
    return removed;
  }

  async diskSig(host: string, diskId: string): Promise<DiskSig | undefined> {
    const path = q(`${this.root}/.disks/${host}/${diskId}`);
    // A read-write root tree: a digest over every entry, as the local target takes it (same idea, remote tools).
    const out = await this.exec(
      `if [ -d ${path} ]; then echo "tree $(find ${path} -mindepth 1 | wc -l) ` +
        `$(cd ${path} && find . -mindepth 1 -printf '%P %i %s %T@\\n' | LC_ALL=C sort | sha256sum | cut -c1-64)"; ` +
        `else stat -c '%i %s %.9Y' ${path} 2>/dev/null || true; fi`,
      'reading a disk',
    );
    if (!out.trim()) return undefined;
    if (out.startsWith('tree ')) {
      const [, count, digest] = out.trim().split(' ');
      return { ino: 'tree', size: count, mtimeNs: digest };
    }
    const [ino, size, mtime] = out.trim().split(' ');
    const [s, ns = '0'] = mtime.split('.');
    return { ino, size, mtimeNs: (BigInt(s) * 1_000_000_000n + BigInt(ns.padEnd(9, '0'))).toString() };
  }

  async disks(host: string): Promise<string[]> {
    const out = await this.exec(`ls -1 ${q(`${this.root}/.disks/${host}`)} 2>/dev/null || true`, 'listing disks');
    return out.split('\n').filter((n) => n && !n.startsWith('.tmp-'));
  }

  async removeDisk(host: string, diskId: string): Promise<void> {
    const disks = `${this.root}/.disks/${host}`;
    await this.exec(discardScript(`${disks}/${diskId}`, `${disks}/${deletingName(diskId)}`), 'removing a disk');
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) =>
      execFile('ssh', [...this.sshArgs(), '-O', 'exit', '-l', this.user, '--', this.host], () => resolve()),
    );
  }

  async cleanLeftovers(host: string): Promise<number> {
    const out = await this.exec(
      `n=0; for f in ${q(this.rel(host))}/.staging-* ${q(this.root)}/.releases/*/.deleting-* ` +
        `${q(this.root)}/.disks/*/.deleting-* ${q(`${this.root}/.disks/${host}`)}/.tmp-* ` +
        `${q(this.root)}/.${host}.switch-*; ` +
        `do [ -e "$f" ] || [ -L "$f" ] || continue; rm -rf "$f"; n=$((n+1)); done; echo $n`,
      'cleaning leftovers',
    );
    return Number(out.trim()) || 0;
  }
}

/** Rename first (a kill leaves a .deleting- name, removed by the next publish or gc), then delete. */
function discardScript(path: string, doomed: string): string {
  // Says "removed" only once both commands succeeded; under set -e a failure of either fails the call.
  const p = q(path);
  return `if [ -e ${p} ] || [ -L ${p} ]; then mv -T ${p} ${q(doomed)}; rm -rf ${q(doomed)}; echo removed; fi`;
}
