import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ifMissing, isErrno, isMissing } from '../base/errno.js';

/** pid plus the kernel's start time for it, so a recycled pid is not mistaken for the owner. */
function selfId(): string {
  return `${process.pid} ${startTime(process.pid) ?? 0}`;
}

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch (e) {
    if (isMissing(e) || isErrno(e, 'ESRCH')) return undefined; // no such process
    throw e;
  }
}

export function ownerAlive(id: string): boolean {
  const [pid, start] = id.trim().split(' ');
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return false;
  if (n === process.pid) return true;
  const now = startTime(n);
  return now !== undefined && (start === '0' || now === start);
}

async function tryCreate(path: string): Promise<boolean> {
  try {
    const fd = await open(path, 'wx');
    await fd.writeFile(selfId());
    await fd.close();
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Removes a lock file whose owner died (SIGKILL, power loss). The file is first renamed to a
 * name of our own, which only one waiter can do; if what we moved turns out to be a live lock
 * (it was replaced between our read and the rename), it is put back with link(), which never
 * overwrites.
 */
async function breakIfStale(path: string): Promise<void> {
  let owner: string;
  try {
    owner = await readFile(path, 'utf8');
  } catch (e) {
    if (isMissing(e)) return; // released meanwhile
    throw e;
  }
  // An empty file is a lock being written right now by a live process, or a crash's leftover.
  if (owner !== '' && ownerAlive(owner)) return;
  const mine = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, mine);
  } catch (e) {
    if (isMissing(e)) return; // another waiter broke it first
    throw e;
  }
  const moved = await readFile(mine, 'utf8');
  // EEXIST: someone took the free lock meanwhile; theirs stands and ours, being live, is a loss we accept.
  if (moved !== owner && moved !== '' && ownerAlive(moved))
    await link(mine, path).catch((e: unknown) => {
      if (!isErrno(e, 'EEXIST')) throw e;
    });
  await unlink(mine);
}

/** Removes the lock only while it is still ours. */
async function releaseOwn(path: string, id: string): Promise<void> {
  const content = await readFile(path, 'utf8').catch(ifMissing(undefined));
  if (content === id) await unlink(path).catch(ifMissing(undefined));
}

export interface Lock {
  release(): Promise<void>;
}

/**
 * An exclusive lock file. Waits while a live process holds it; takes over from a dead one.
 * `whileWaiting` may end the wait early (e.g. the other builder finished the same step).
 */
export async function acquire(
  path: string,
  opts: { whileWaiting?: () => Promise<boolean>; signal?: AbortSignal } = {},
): Promise<Lock | undefined> {
  let delay = 20;
  let emptySeen = 0;
  for (;;) {
    if (await tryCreate(path)) {
      const id = selfId();
      return { release: () => releaseOwn(path, id) };
    }
    if (opts.whileWaiting && (await opts.whileWaiting())) return undefined;
    const content = await readFile(path, 'utf8').catch(ifMissing('gone'));
    if (content === '') emptySeen++;
    if (content !== '' || emptySeen > 10) await breakIfStale(path);
    opts.signal?.throwIfAborted();
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
}

/**
 * Build/gc exclusion: every build registers a file under locks/builds; gc holds locks/gc and
 * runs only when no live build is registered. Each side writes first and reads second, so of
 * two that start together at least one sees the other.
 */
export async function registerBuild(locks: string, signal?: AbortSignal): Promise<Lock> {
  const mine = join(locks, `build-${process.pid}-${Math.random().toString(36).slice(2)}`);
  for (;;) {
    const fd = await open(mine, 'w');
    await fd.writeFile(selfId());
    await fd.close();
    const gc = await readFile(join(locks, 'gc'), 'utf8').catch(ifMissing(undefined));
    if (gc === undefined || !ownerAlive(gc)) return { release: () => unlink(mine).catch(ifMissing(undefined)) };
    await unlink(mine).catch(ifMissing(undefined));
    signal?.throwIfAborted();
    await sleep(200);
  }
}

export async function acquireGc(locks: string): Promise<Lock | undefined> {
  const lock = await acquire(join(locks, 'gc'));
  if (!lock) return undefined;
  for (const name of await readdir(locks)) {
    if (!name.startsWith('build-')) continue;
    const owner = await readFile(join(locks, name), 'utf8').catch(ifMissing(undefined));
    if (owner === undefined) continue;
    if (ownerAlive(owner)) {
      await lock.release();
      return undefined;
    }
    await unlink(join(locks, name)).catch(ifMissing(undefined));
  }
  return lock;
}

/**
 * The lock without waiting: held (ours now), or the live owner's id. A dead owner's lock is taken
 * over as `acquire` does; an empty file (a lock being written) is given a moment to fill.
 */
export async function tryAcquire(path: string): Promise<{ lock: Lock } | { owner: string }> {
  for (let i = 0; i < 20; i++) {
    if (await tryCreate(path)) {
      const id = selfId();
      return { lock: { release: () => releaseOwn(path, id) } };
    }
    const content = await readFile(path, 'utf8').catch(ifMissing('gone'));
    if (content !== '' && content !== 'gone' && ownerAlive(content)) return { owner: content };
    if (content !== '' || i > 10) await breakIfStale(path);
    else await sleep(25);
  }
  return { owner: (await readFile(path, 'utf8').catch(ifMissing(''))) || '?' };
}
