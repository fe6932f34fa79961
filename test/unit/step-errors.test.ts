import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codes, errors, type NetbootError } from '../../base/errors.js';
import { Cache } from '../../cache/store.js';
import { executeStep } from '../../core/executor.js';
import { definePlugin } from '../../core/plugin.js';
import { ToolVersions } from '../../core/tools.js';
import { LocalTarget } from '../../publish/local-target.js';
import { prune } from '../../publish/publisher.js';
import type { Target } from '../../publish/target.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netboot-unit-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

describe('tool versions', () => {
  it('keys the first line a tool prints', async () => {
    const tools = await ToolVersions.open(join(dir, 'tools.json'));
    expect(await tools.version({ name: await script('good', 'echo "good 1.2.3"') })).toBe('good 1.2.3');
  });

  it('fails, naming the tool and the command, when --version fails', async () => {
    const tools = await ToolVersions.open(join(dir, 'tools.json'));
    const bad = await script('bad', 'exit 3');
    const e = (await tools.version({ name: bad }).catch((x) => x)) as NetbootError;
    expect(e.code).toBe('TOOL_VERSION_FAILED');
    expect(e.message).toContain(`"${bad}"`);
    expect(e.message).toContain(`${bad} --version`);
  });

  it('fails when the tool prints nothing, rather than keying "unknown"', async () => {
    const tools = await ToolVersions.open(join(dir, 'tools.json'));
    const e = (await tools.version({ name: await script('mute', 'true') }).catch((x) => x)) as NetbootError;
    expect(e.code).toBe('TOOL_VERSION_FAILED');
  });
});

describe('prune reports only what it deleted', () => {
  const quiet = { keep: 1, notice: () => {} };
  const fake = (remove: Target['remove']): Target =>
    ({
      name: 'nfs',
      state: async () => ({ current: 'r3', ids: ['r1', 'r2', 'r3'], history: ['r2', 'r3'] }),
      manifest: async () => undefined,
      remove,
      disks: async () => [],
    }) as unknown as Target;

  it('a release the target did not delete is not reported as pruned', async () => {
    expect(await prune('h', [fake(async () => [])], quiet)).toEqual([]);
    expect(await prune('h', [fake(async (_h, ids) => ids)], quiet)).toEqual(['nfs:r1']);
  });

  it('a delete that fails fails the prune', async () => {
    const failing = fake(async () => {
      throw Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' });
    });
    await expect(prune('h', [failing], quiet)).rejects.toMatchObject({ code: 'EBUSY' });
  });

  it('the local target says which releases it removed', async () => {
    const root = join(dir, 'nfs');
    await mkdir(join(root, '.releases', 'h', 'r1'), { recursive: true });
    const t = new LocalTarget('nfs', root, new Cache(join(dir, 'cache')));
    expect(await t.remove('h', ['r1', 'r0'])).toEqual(['r1']);
  });
});

describe('a plugin that refuses a value while it runs', () => {
  const run = async (fail: () => never) => {
    const cache = new Cache(join(dir, 'cache'), () => {});
    await cache.init();
    const plugin = definePlugin({ name: 'refuser', version: '1', produces: {}, run: fail });
    const parts = { plugin: 'refuser', version: '1', params: {}, inputs: {}, tools: {}, fingerprint: null };
    const env = { sourceDateEpoch: 0 };
    const host = { name: 'h' } as Parameters<typeof executeStep>[0]['host'];
    const node = { id: 's', plugin, params: {}, inputs: {} };
    const signal = new AbortController().signal;
    const args = { cache, host, node, inputs: {}, parts: { ...parts, env }, key: 'k'.repeat(64), signal, baseDir: dir };
    return (await executeStep(args).catch((e) => e)) as NetbootError;
  };

  it('fails the build with a build-kind code, not CONFIG_INVALID: the config was valid', async () => {
    const e = await run(() => {
      throw errors.badValue('step s input tree', 'has a control character');
    });
    expect(e.code).toBe(codes.BAD_STEP_VALUE);
    expect(e.kind).toBe('build');
    expect(e.exitCode).toBe(1);
    expect(e.message).toContain('host h, step s');
  });

  it('keeps any other code the plugin chose', async () => {
    const e = await run(() => {
      throw errors.digestMismatch('file', 'a'.repeat(64), 'b'.repeat(64), 1);
    });
    expect(e.code).toBe('DIGEST_MISMATCH');
    expect(e.kind).toBe('build');
  });
});
