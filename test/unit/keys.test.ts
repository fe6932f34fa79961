import { describe, expect, it } from 'vitest';
import { isNetbootError } from '../../base/errors.js';
import {
  actionKey,
  diffParts,
  type FingerprintProvider,
  type KeyParts,
  type KeyProviders,
  keyParts,
  type SourceDigester,
  type ToolVersionProvider,
} from '../../core/keys.js';
import { type AnyPlugin, type Artifact, definePlugin, type ToolSpec } from '../../core/plugin.js';
import type { StepNode } from '../../core/recipe.js';
import { p } from '../../core/schema.js';

const base: KeyParts = {
  plugin: 'cpio',
  version: '1',
  params: { format: 'newc', opts: { gzip: true } },
  inputs: { tree: { kind: 'tree', digest: 'a'.repeat(64) } },
  tools: { cpio: 'cpio 2.13', 'lib:zlib': '1.3' },
  sources: { overlay: `tree:${'b'.repeat(64)}` },
  fingerprint: 'c'.repeat(64),
  env: { sourceDateEpoch: 1700000000 },
};

/** One change to each part, and the words diffParts must use for it. */
const changes: [string, (k: KeyParts) => void, RegExp][] = [
  ['plugin', (k) => (k.plugin = 'tar'), /^plugin cpio -> tar$/],
  ['version', (k) => (k.version = '2'), /^plugin version 1 -> 2$/],
  ['a param', (k) => ((k.params as { format: string }).format = 'odc'), /^param format: "newc" -> "odc"$/],
  ['a nested param', (k) => ((k.params as { opts: { gzip: boolean } }).opts.gzip = false), /^param opts\.gzip: /],
  ['an input digest', (k) => (k.inputs.tree.digest = 'd'.repeat(64)), /^input tree: aaaaaaaaaaaa -> dddddddddddd$/],
  ['an input mode', (k) => (k.inputs.tree = { kind: 'file', digest: 'a'.repeat(64), mode: 0o644 }), /^input tree: /],
  ['a new input', (k) => (k.inputs.extra = { kind: 'file', digest: 'e'.repeat(64) }), /^input extra: none -> e{12}$/],
  ['a tool version', (k) => (k.tools.cpio = 'cpio 2.14'), /^tool cpio: "cpio 2.13" -> "cpio 2.14"$/],
  ['a library version', (k) => (k.tools['lib:zlib'] = '1.4'), /^tool lib:zlib: "1.3" -> "1.4"$/],
  ['a source', (k) => (k.sources!.overlay = `tree:${'f'.repeat(64)}`), /^source overlay: b{12} -> f{12}$/],
  ['the fingerprint', (k) => (k.fingerprint = '0'.repeat(64)), /^fingerprint: cccccccccccc -> 000000000000$/],
  ['no fingerprint', (k) => (k.fingerprint = null), /^fingerprint: cccccccccccc -> none$/],
  ['sourceDateEpoch', (k) => (k.env.sourceDateEpoch = 1), /^sourceDateEpoch: 1700000000 -> 1$/],
];

describe('actionKey and diffParts', () => {
  it('equal parts give one key, whatever the order of their object keys, and no differences', () => {
    const reordered: KeyParts = JSON.parse(JSON.stringify({ ...base, env: base.env, plugin: base.plugin }));
    reordered.params = { opts: { gzip: true }, format: 'newc' };
    expect(actionKey(reordered)).toBe(actionKey(base));
    expect(actionKey(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(diffParts(base, reordered)).toEqual([]);
  });

  for (const [what, change, words] of changes)
    it(`changing ${what} changes the key, and the diff names that change alone`, () => {
      const after = structuredClone(base);
      change(after);
      expect(actionKey(after)).not.toBe(actionKey(base));
      const diff = diffParts(base, after);
      expect(diff).toHaveLength(1);
      expect(diff[0]).toMatch(words);
    });

  it('names every change when several parts change at once', () => {
    const after = structuredClone(base);
    for (const [, change] of changes.slice(0, 3)) change(after);
    expect(diffParts(base, after)).toHaveLength(3);
  });
});

/** Providers that answer from tables and count what they are asked. */
function fakes(o: { versions?: Record<string, string>; files?: string[]; fingerprint?: string } = {}) {
  const calls = {
    versions: [] as string[],
    files: [] as string[],
    sources: [] as [string, boolean][],
    fingerprints: [] as unknown[],
  };
  const tools: ToolVersionProvider = {
    version: async (spec: ToolSpec) => {
      calls.versions.push(spec.name);
      return o.versions?.[spec.name];
    },
    hostFile: async (path) => {
      calls.files.push(path);
      return (o.files ?? []).includes(path);
    },
  };
  const sources: SourceDigester = {
    digest: async (path, secret) => {
      calls.sources.push([path, secret]);
      return `${secret ? 'hmac' : 'tree'}:${path.length}`;
    },
  };
  const fingerprints: FingerprintProvider = {
    fingerprint: async (_plugin: AnyPlugin, params) => {
      calls.fingerprints.push(params);
      return o.fingerprint ?? 'fp-1';
    },
  };
  const providers: KeyProviders = { tools, sources, fingerprints };
  return { providers, calls };
}

const at = { host: 'alpha', step: 'the-step' };
const env = { sourceDateEpoch: 1700000000, baseDir: '/project' };
const node = (plugin: AnyPlugin, params: Record<string, unknown> = {}): StepNode => ({
  id: 'the-step',
  plugin,
  params,
  inputs: {},
});

const everything = definePlugin({
  name: 'unit-everything',
  version: '3',
  params: { dir: p.string(), secret: p.string() },
  inputs: ['tree'],
  produces: { file: 'file' },
  tools: ['cpio', { name: 'mkfs.ext4', package: 'e2fsprogs', versionArgs: ['-V'] }],
  hostFiles: [{ path: '/usr/lib/syslinux/pxelinux.0', package: 'pxelinux' }],
  libraries: { zlib: '1.3' },
  sources: (params) => [params.dir, params.secret],
  secretSources: (params) => [params.secret],
  fingerprint: () => 'unused: the provider answers',
  run() {},
});

describe('keyParts through its providers', () => {
  const versions = { cpio: 'cpio 2.13', 'mkfs.ext4': 'mke2fs 1.47' };
  const files = ['/usr/lib/syslinux/pxelinux.0'];
  const tree: Artifact = { kind: 'tree', digest: '1'.repeat(64), size: 10, files: 2 };
  const params = { dir: 'overlay', secret: '/etc/chap.secret' };

  it('asks each provider what the plugin declares, and nothing else', async () => {
    const { providers, calls } = fakes({ versions, files });
    const parts = await keyParts(node(everything, params), { tree }, at, providers, env);
    expect(calls.versions).toEqual(['cpio', 'mkfs.ext4']);
    expect(calls.files).toEqual(files);
    expect(calls.sources).toEqual([
      ['/project/overlay', false],
      ['/etc/chap.secret', true],
    ]);
    expect(calls.fingerprints).toEqual([params]);
    expect(parts).toEqual({
      plugin: 'unit-everything',
      version: '3',
      params,
      inputs: { tree: { kind: 'tree', digest: tree.digest } },
      tools: { cpio: 'cpio 2.13', 'mkfs.ext4': 'mke2fs 1.47', 'lib:zlib': '1.3' },
      sources: { overlay: 'tree:16', '/etc/chap.secret': 'hmac:16' },
      fingerprint: 'fp-1',
      env: { sourceDateEpoch: 1700000000 },
    });
  });

  it('a plugin that declares no tools, sources or fingerprint asks no provider', async () => {
    const plain = definePlugin({ name: 'unit-plain', version: '1', produces: { file: 'file' }, run() {} });
    const { providers, calls } = fakes();
    const parts = await keyParts(node(plain), {}, at, providers, env);
    expect(calls).toEqual({ versions: [], files: [], sources: [], fingerprints: [] });
    expect(parts.sources).toBeUndefined();
    expect(parts.fingerprint).toBeNull();
  });

  it('a provider answer that changes changes the key, and the diff says which', async () => {
    const one = await keyParts(node(everything, params), { tree }, at, fakes({ versions, files }).providers, env);
    const newer = { ...versions, cpio: 'cpio 2.15' };
    const keyed = (o: Parameters<typeof fakes>[0]) =>
      keyParts(node(everything, params), { tree }, at, fakes(o).providers, env);
    const two = await keyed({ versions: newer, files });
    const three = await keyed({ versions, files, fingerprint: 'fp-2' });
    expect(actionKey(two)).not.toBe(actionKey(one));
    expect(diffParts(one, two)).toEqual(['tool cpio: "cpio 2.13" -> "cpio 2.15"']);
    expect(diffParts(one, three)).toEqual(['fingerprint: fp-1 -> fp-2']);
  });

  it('a missing tool or host file is an error naming its package, host and step', async () => {
    const noTool = fakes({ versions: { cpio: 'cpio 2.13' }, files });
    const e1 = await keyParts(node(everything, params), { tree }, at, noTool.providers, env).catch((e) => e);
    expect(isNetbootError(e1) && e1.message).toMatch(/mkfs\.ext4.*e2fsprogs|e2fsprogs.*mkfs\.ext4/s);
    expect(noTool.calls.sources).toEqual([]);
    const noFile = fakes({ versions });
    const e2 = await keyParts(node(everything, params), { tree }, at, noFile.providers, env).catch((e) => e);
    expect(isNetbootError(e2) && e2.message).toMatch(/pxelinux/);
    expect(isNetbootError(e2) && `${e2.message} ${e2.details.join(' ')}`).toMatch(/alpha/);
  });
});
