import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isNetbootError } from '../../base/errors.js';
import { credentialsFor, parseChallenge } from '../../cache/remote/auth.js';
import { tagFor } from '../../cache/remote/remote-cache.js';
import { validateConfig } from '../../cli/config-validate.js';
import { builtinRecipes } from '../../pipelines/index.js';
import { ROOT } from '../helpers.js';

const FILE = join(ROOT, 'netboot.config.ts');
const config = (cache: unknown) => ({
  cache,
  hosts: { alpha: { recipe: 'demo', mac: '52:54:00:ab:cd:ef', ip: '10.0.2.15' } },
});
function refusal(raw: unknown): string {
  try {
    validateConfig(raw, FILE, builtinRecipes);
  } catch (e) {
    if (isNetbootError(e) && e.code === 'CONFIG_INVALID') return [e.message, ...e.details].join('\n');
    throw e;
  }
  throw new Error('the config was accepted');
}

describe('the cache section', () => {
  it('a plain string is the directory, with no remote', () => {
    const c = validateConfig(config('.netboot/cache'), FILE, builtinRecipes);
    expect(c.cache).toBe(join(ROOT, '.netboot/cache'));
    expect(c.remote).toBeUndefined();
  });

  it('{ dir, remote } gives the directory and the remote with its defaults', () => {
    const c = validateConfig(
      config({ dir: 'c', remote: { url: 'oci://127.0.0.1:5000/netboot/cache' } }),
      FILE,
      builtinRecipes,
    );
    expect(c.cache).toBe(join(ROOT, 'c'));
    expect(c.remote).toEqual({
      url: 'oci://127.0.0.1:5000/netboot/cache',
      push: true,
      insecure: false,
      required: false,
      timeoutMs: 10_000,
      mountFrom: [],
    });
  });

  it('refuses what is not a remote, naming the field', () => {
    expect(refusal(config({ remote: { url: 'https://ghcr.io/x' } }))).toMatch(/cache\.remote\.url: .* is not oci:\/\//);
    expect(refusal(config({ remote: { url: 'oci://ghcr.io/Upper/Case' } }))).toMatch(
      /cache\.remote\.url: .*not a valid OCI repository name/,
    );
    expect(refusal(config({ remote: { url: 'oci://h/r', push: 'yes' } }))).toMatch(/cache\.remote\.push: "yes"/);
    expect(refusal(config({ remote: { url: 'oci://h/r', timeoutMs: 5 } }))).toMatch(/cache\.remote\.timeoutMs/);
    expect(refusal(config(42))).toMatch(/^.*cache: 42 is not a path/);
  });
});

describe('tags and challenges', () => {
  it('a tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}, whatever the key', () => {
    const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
    expect(tagFor('ab'.repeat(32))).toBe(`action-${'ab'.repeat(32)}`);
    for (const key of ['ab'.repeat(32), 'x'.repeat(500), 'not/a tag:at all']) expect(tagFor(key)).toMatch(TAG);
  });

  it('parses Bearer and Basic challenges, quoted and escaped', () => {
    expect(
      parseChallenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"'),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull,push' },
    });
    expect(parseChallenge('Basic realm="say \\"hi\\""')).toEqual({ scheme: 'basic', params: { realm: 'say "hi"' } });
    expect(parseChallenge(null)).toBeUndefined();
  });

  it('credentials: the environment first, then the Docker config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netboot-docker-'));
    const auth = Buffer.from('alice:s3cret:with-colon').toString('base64');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'reg.example:5000': { auth } } }));
    expect(await credentialsFor('reg.example:5000', { DOCKER_CONFIG: dir })).toEqual({
      username: 'alice',
      password: 's3cret:with-colon',
    });
    expect(await credentialsFor('other:5000', { DOCKER_CONFIG: dir })).toBeUndefined();
    const env = { DOCKER_CONFIG: dir, NETBOOT_REGISTRY_USERNAME: 'ci', NETBOOT_REGISTRY_PASSWORD: 'pw' };
    expect(await credentialsFor('reg.example:5000', env)).toEqual({ username: 'ci', password: 'pw' });
  });
});
