import { createHmac, randomBytes } from 'node:crypto';
import { chmod, type FileHandle, link, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errors } from '../base/errors.js';
import { fsyncDir } from './atomic.js';

/** The cache's own random key, `<cache>/secret.key` (0600): never leaves the cache, never enters a key. */
export const SECRET_KEY_FILE = 'secret.key';

const loaded = new Map<string, Promise<Buffer>>();

/**
 * A secret's digest as it may be stored (in action records, hosts/<host>.json, explain output):
 * an HMAC under the cache's key. An unsalted sha256 of a short secret is as good as the secret to
 * anyone who can guess candidates; the HMAC is not, without the 0600 key.
 */
export async function hmacDigest(
  cacheRoot: string,
  digest: string,
  o: { create: boolean } = { create: true },
): Promise<string> {
  const key = o.create ? await cacheSecretKey(cacheRoot) : await existingKey(cacheRoot);
  return `hmac:${createHmac('sha256', key).update(digest).digest('hex')}`;
}

const passing = new Map<string, Promise<Buffer>>();

/**
 * The cache's key if it has one. Else (plan mode on a cache no secret was ever keyed in) a key of
 * this process only: nothing stored can match its digests, and no steps were keyed under the real one.
 */
function existingKey(cacheRoot: string): Promise<Buffer> {
  const made = loaded.get(cacheRoot);
  if (made) return made;
  let p = passing.get(cacheRoot);
  if (!p) passing.set(cacheRoot, (p = readKey(join(cacheRoot, SECRET_KEY_FILE)).then((k) => k ?? randomBytes(32))));
  return p;
}

export function cacheSecretKey(cacheRoot: string): Promise<Buffer> {
  let p = loaded.get(cacheRoot);
  if (!p) loaded.set(cacheRoot, (p = loadOrCreate(join(cacheRoot, SECRET_KEY_FILE))));
  return p;
}

async function loadOrCreate(file: string): Promise<Buffer> {
  const existing = await readKey(file);
  if (existing) return existing;
  // Created whole or not at all: a 0600 temp file in tmp/ (gc removes it if we die), fsynced,
  // then link(2) to the final name. If another builder linked first, EEXIST: its key is the one.
  const tmp = join(dirname(file), 'tmp', `${process.pid}-secret-key-${randomBytes(4).toString('hex')}`);
  let fd: FileHandle | undefined;
  try {
    fd = await open(tmp, 'wx', 0o600);
    await fd.writeFile(`${randomBytes(32).toString('hex')}\n`);
    await fd.sync();
    await fd.close();
    await link(tmp, file).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    await fsyncDir(dirname(file));
  } catch (e) {
    await fd?.close().catch(() => {});
    throw errors.secretKeyUnusable(file, (e as Error).message);
  } finally {
    await unlink(tmp).catch(() => {});
  }
  const key = await readKey(file);
  if (!key) throw errors.secretKeyUnusable(file, 'it vanished while it was created');
  return key;
}

async function readKey(file: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw errors.secretKeyUnusable(file, (e as Error).message);
  }
  if (!/^[0-9a-f]{64}\n?$/.test(text))
    throw errors.secretKeyUnusable(
      file,
      'it is not 64 hex digits (remove it: the steps keyed on a secret then run again)',
    );
  if ((await stat(file)).mode & 0o077) await chmod(file, 0o600);
  return Buffer.from(text.trim(), 'hex');
}
