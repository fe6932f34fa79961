import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, realpath, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { errnoOf, isMissing } from '../base/errno.js';
import { errors } from '../base/errors.js';
import { writeFileAtomic } from '../cache/atomic.js';
import { exists } from '../cache/store.js';
import type { ToolVersionProvider } from './keys.js';
import type { ToolSpec } from './plugin.js';

interface Known {
  real: string;
  sig: string;
  version: string;
}

/**
 * Versions of host programs, for keys. Running `tool --version` on every build would cost a
 * no-op build dozens of milliseconds per tool, so a version is remembered against the binary's
 * (inode, size, mtime, ctime): upgrading the package changes those and the version is asked again.
 * Opened with `record: false` (plan mode), versions are asked as needed and never written.
 */
export class ToolVersions implements ToolVersionProvider {
  private known: Record<string, Known> = {};
  private dirty = false;
  private memo = new Map<string, Promise<string | undefined>>();
  private constructor(
    private readonly file: string,
    private readonly record: boolean,
  ) {}

  static async open(file: string, o: { record: boolean } = { record: true }): Promise<ToolVersions> {
    const t = new ToolVersions(file, o.record);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if (isMissing(e)) return t; // first use
      throw e;
    }
    try {
      t.known = JSON.parse(text);
    } catch {
      // A file that does not parse only costs asking every version again; it is rewritten.
      t.dirty = true;
    }
    return t;
  }

  /** The version string of a tool, or undefined when it is not installed. */
  version(spec: ToolSpec): Promise<string | undefined> {
    const id = `${spec.name}\0${(spec.versionArgs ?? ['--version']).join(' ')}`;
    let p = this.memo.get(id);
    if (!p) this.memo.set(id, (p = this.lookup(spec, id)));
    return p;
  }

  private async lookup(spec: ToolSpec, id: string): Promise<string | undefined> {
    const path = await which(spec.name);
    if (!path) return undefined;
    const real = await realpath(path);
    const st = await stat(real, { bigint: true });
    const sig = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const k = this.known[id];
    if (k && k.real === real && k.sig === sig) return k.version;
    const version = await ask(spec.name, path, spec.versionArgs ?? ['--version']);
    this.known[id] = { real, sig, version };
    this.dirty = true;
    return version;
  }

  hostFile(path: string): Promise<boolean> {
    return exists(path);
  }

  async save(): Promise<void> {
    if (this.dirty && this.record) await writeFileAtomic(this.file, JSON.stringify(this.known));
  }
}

export async function which(name: string): Promise<string | undefined> {
  const candidates = isAbsolute(name)
    ? [name]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      if ((await stat(c)).isFile()) return c;
    } catch (e) {
      // not here, or here but not executable by us
      if (!isMissing(e) && errnoOf(e) !== 'EACCES') throw e;
    }
  }
  return undefined;
}

/**
 * First non-empty line the tool prints (stdout or stderr) when asked for its version. A tool that
 * cannot say fails the build: a key with a made-up version would survive an upgrade of the tool.
 */
function ask(tool: string, path: string, args: string[]): Promise<string> {
  const command = [path, ...args].join(' ');
  return new Promise((resolve, reject) => {
    execFile(path, args, { timeout: 10_000, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const line = `${stdout}\n${stderr}`
        .split('\n')
        .map((l) => l.trim())
        .find((l) => l !== '');
      if (err) reject(errors.toolVersionFailed(tool, command, err.message.split('\n')[0], err));
      else if (line === undefined) reject(errors.toolVersionFailed(tool, command, 'it printed nothing'));
      else resolve(line);
    });
  });
}
