// The remote cache: action records and their outputs in an OCI registry, one OCI 1.1 artifact
// manifest per action key, tagged by the key. Pulled content is checked digest by digest and
// enters the local cache only through its normal atomic path, the record last.
import { copyFile, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../../base/canonical.js';
import type { Artifact } from '../artifact.js';
import { type ActionRecord, type Cache, TreeDigestMismatch } from '../store.js';
import { parseManifest } from '../tree.js';
import { compressFile, downloadBlob, ZSTD } from './blob-file.js';
import { writeKnown } from './known.js';
import {
  type Descriptor,
  DigestMismatch,
  fileReader,
  Registry,
  type RegistryOptions,
  sha256Digest,
} from './registry.js';
import { Materializer, packTree, unpackTree } from './tree-transfer.js';

export const ACTION_ARTIFACT = 'application/vnd.netboot.action.v1+json';
export const MEDIA = {
  record: 'application/vnd.netboot.action-record.v1+json',
  log: 'application/vnd.netboot.log.v1',
  file: 'application/vnd.netboot.file.v1',
  treeTar: 'application/vnd.netboot.tree.v1.tar',
  treeManifest: 'application/vnd.netboot.tree-manifest.v1+json',
  treeFile: 'application/vnd.netboot.tree-file.v1',
} as const;
/** The OCI 1.1 empty config descriptor, for artifacts that have no config. */
export const EMPTY_CONFIG: Descriptor = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  data: 'e30=',
};
const ANN = { role: 'org.netboot.role', output: 'org.netboot.output', digest: 'org.netboot.digest' } as const;

/** A tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}: a key (64 hex digits) fits as it is, with a prefix. */
export function tagFor(key: string): string {
  return `action-${/^[0-9a-f]{64}$/.test(key) ? key : sha256(key)}`;
}

export interface RemoteCacheOptions extends RegistryOptions {
  url: string;
  /** Trees as one tar blob each (netboot's choice) or a manifest blob plus one blob per file. */
  treeFormat?: 'tar' | 'files';
  /** Repositories on the same registry to mount blobs from before uploading them. */
  mountFrom?: string[];
}

export class RemoteCache {
  readonly registry: Registry;
  private readonly looked = new Map<string, Promise<{ rec: ActionRecord; layers: Descriptor[] } | undefined>>();
  constructor(
    readonly cache: Cache,
    readonly o: RemoteCacheOptions,
  ) {
    this.registry = new Registry(o.url, o);
  }

  /**
   * The key's record in the registry, its outputs left there (a build that does not read them
   * never pulls them), or undefined if the registry has none. Known from then on (remote/ in
   * the local cache: see known.ts). Throws on a record that is not the key's.
   */
  async record(key: string): Promise<ActionRecord | undefined> {
    const found = await this.lookup(key);
    if (found) await writeKnown(this.cache, found.rec);
    return found?.rec;
  }

  /**
   * The key's record from the registry, with every output and its log stored locally first; or
   * undefined if the registry has no artifact for it. Throws on a digest that does not match.
   */
  async pull(key: string): Promise<ActionRecord | undefined> {
    const found = await this.lookup(key);
    if (!found) return undefined;
    const { rec, layers } = found;
    for (const [name, a] of Object.entries(rec.outputs)) {
      if (await this.cache.hasArtifact(a)) continue;
      const mine = layers.filter((l) => l.annotations?.[ANN.output] === name);
      await this.pullArtifact(a, mine, name);
    }
    if (rec.log) {
      const d = layers.find((l) => l.mediaType === MEDIA.log);
      if (!d || d.digest !== sha256Digest(rec.log))
        throw new DigestMismatch(`${tagFor(key)}: its log is not the record's`);
      await this.cache.putObject(rec.log, (await this.registry.blob(d))!);
    }
    await this.cache.writeAction(rec);
    return rec;
  }

  /** The manifest and record of a key (each fetched once per process), checked to be the key's. */
  private lookup(key: string): Promise<{ rec: ActionRecord; layers: Descriptor[] } | undefined> {
    let p = this.looked.get(key);
    if (!p) {
      p = this.fetchRecord(key);
      this.looked.set(key, p);
      p.catch(() => this.looked.delete(key));
    }
    return p;
  }

  private async fetchRecord(key: string): Promise<{ rec: ActionRecord; layers: Descriptor[] } | undefined> {
    const m = await this.registry.manifest(tagFor(key));
    if (!m) return undefined;
    const layers = (m.json?.layers ?? []) as Descriptor[];
    if (m.json?.artifactType !== ACTION_ARTIFACT) throw new Error(`${tagFor(key)} is not a netboot action artifact`);
    const recDesc = layers.find((l) => l.mediaType === MEDIA.record);
    if (!recDesc) throw new Error(`${tagFor(key)} has no action record`);
    const rec = JSON.parse((await this.registry.blob(recDesc))!.toString('utf8')) as ActionRecord;
    if (rec?.v !== 1 || rec.key !== key || typeof rec.outputs !== 'object')
      throw new DigestMismatch(`${tagFor(key)}: the record is not the record of key ${key}`);
    return { rec, layers };
  }

  private async pullArtifact(a: Artifact, layers: Descriptor[], name: string): Promise<void> {
    const tmp = await this.cache.scratch(`pull-${a.digest.slice(0, 12)}`);
    try {
      if (a.kind === 'file') {
        // Compressed (its blob digest is the compressed bytes'), or as it is (the file's digest).
        const d = layers.find((l) => l.mediaType === MEDIA.file + ZSTD || l.digest === sha256Digest(a.digest));
        if (!d) throw new DigestMismatch(`output ${name}: no blob ${a.digest}`);
        const got = await downloadBlob(this.registry, d, join(tmp, 'file'));
        if (got !== a.digest) throw new DigestMismatch(`output ${name}: file ${a.digest} arrived as ${got}: refused`);
        await this.cache.ingestFile(join(tmp, 'file'), a.mode, got);
        return;
      }
      const dir = join(tmp, 'tree');
      const tarLayer = layers.find((l) => l.mediaType === MEDIA.treeTar || l.mediaType === MEDIA.treeTar + ZSTD);
      if (tarLayer) {
        await downloadBlob(this.registry, tarLayer, join(tmp, 'tree.tar'));
        await unpackTree(join(tmp, 'tree.tar'), dir);
      } else await this.pullFiles(layers, a.digest, dir, tmp);
      await this.cache.ingestTree(dir, a.digest).catch((e: unknown) => {
        throw e instanceof TreeDigestMismatch ? new DigestMismatch(`output ${name}: ${e.message}`) : e;
      });
    } finally {
      await this.cache.removeTemp(tmp);
    }
  }

  /** The per-file format: the manifest blob (named by the tree's digest), then each file's blob. */
  private async pullFiles(layers: Descriptor[], digest: string, dir: string, tmp: string): Promise<void> {
    const md = layers.find((l) => l.mediaType === MEDIA.treeManifest && l.digest === sha256Digest(digest));
    if (!md) throw new DigestMismatch(`tree ${digest}: no manifest blob`);
    const entries = parseManifest((await this.registry.blob(md))!.toString('utf8'));
    const sizes = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.digest!, e.size!]));
    const got = new Set<string>();
    const fetchOne = async (hex: string) => {
      const d = { mediaType: MEDIA.treeFile, digest: sha256Digest(hex), size: sizes.get(hex)! };
      await downloadBlob(this.registry, d, join(tmp, hex));
      got.add(hex);
    };
    await parallel([...sizes.keys()], 8, fetchOne);
    const m = new Materializer(dir);
    for (const e of entries) await m.add(e, (f, path) => copyFile(join(tmp, f.digest!), path));
    await m.finish();
  }

  /** Pushes a record's outputs and log, then the record, then its manifest: the tag is the commit point. */
  async push(rec: ActionRecord): Promise<void> {
    const layers: Descriptor[] = [];
    const tmp = await this.cache.scratch(`push-${rec.key.slice(0, 12)}`);
    try {
      for (const [name, a] of Object.entries(rec.outputs)) layers.push(...(await this.pushArtifact(name, a, tmp)));
      if (rec.log) {
        const size = (await stat(this.cache.objectPath(rec.log))).size;
        const d = { mediaType: MEDIA.log, digest: sha256Digest(rec.log), size };
        await this.send(d, fileReader(this.cache.objectPath(rec.log)));
        layers.push({ ...d, annotations: { [ANN.role]: 'log' } });
      }
      await this.send(EMPTY_CONFIG, async () => Buffer.from('{}'));
      const body = Buffer.from(JSON.stringify(rec));
      const recDesc = { mediaType: MEDIA.record, digest: sha256Digest(sha256(body)), size: body.length };
      await this.send(recDesc, async (o, n) => body.subarray(o, o + n));
      layers.unshift({ ...recDesc, annotations: { [ANN.role]: 'record' } });
      await this.registry.putManifest(tagFor(rec.key), {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: ACTION_ARTIFACT,
        config: EMPTY_CONFIG,
        layers,
        annotations: {
          'org.netboot.key': rec.key,
          'org.netboot.step': `${rec.by.host}/${rec.by.step}`,
          'org.opencontainers.image.created': rec.createdAt,
        },
      });
    } finally {
      await this.cache.removeTemp(tmp);
    }
  }

  private async pushArtifact(name: string, a: Artifact, tmp: string): Promise<Descriptor[]> {
    const ann = (extra: Record<string, string> = {}) => ({ [ANN.output]: name, [ANN.digest]: a.digest, ...extra });
    const zst = join(tmp, `${a.digest}.zst`);
    if (a.kind === 'file') {
      const z = await compressFile(this.cache.objectPath(a.digest), zst);
      const d = { mediaType: MEDIA.file + ZSTD, digest: sha256Digest(z.hex), size: z.size };
      await this.send(d, fileReader(zst));
      await rm(zst, { force: true });
      return [{ ...d, annotations: ann() }];
    }
    if (this.o.treeFormat === 'files') return this.pushFiles(a.digest, ann);
    const path = join(tmp, `${a.digest}.tar`);
    await packTree(this.cache, a.digest, path);
    const z = await compressFile(path, zst);
    await rm(path, { force: true });
    const d = { mediaType: MEDIA.treeTar + ZSTD, digest: sha256Digest(z.hex), size: z.size };
    await this.send(d, fileReader(zst));
    await rm(zst, { force: true });
    return [{ ...d, annotations: ann() }];
  }

  private async pushFiles(digest: string, ann: (x?: Record<string, string>) => Record<string, string>) {
    const manifest = await readFile(this.cache.objectPath(digest));
    const md = { mediaType: MEDIA.treeManifest, digest: sha256Digest(digest), size: manifest.length };
    await this.send(md, async (o, n) => manifest.subarray(o, o + n));
    const out: Descriptor[] = [{ ...md, annotations: ann() }];
    const root = this.cache.treePath(digest);
    const files = new Map<string, { size: number; path: string }>();
    for (const e of await this.cache.manifest(digest))
      if (e.type === 'file') files.set(e.digest!, { size: e.size!, path: join(root, e.path) });
    await parallel([...files.keys()], 8, async (hex) => {
      const f = files.get(hex)!;
      await this.send({ mediaType: MEDIA.treeFile, digest: sha256Digest(hex), size: f.size }, fileReader(f.path));
    });
    for (const [hex, f] of files)
      out.push({ mediaType: MEDIA.treeFile, digest: sha256Digest(hex), size: f.size, annotations: ann() });
    return out;
  }

  private send(d: Descriptor, read: (offset: number, length: number) => Promise<Buffer>) {
    return this.registry.pushBlob(d, read, this.o.mountFrom);
  }
}

async function parallel<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}
