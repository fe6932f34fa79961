import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestRegistry } from '../bench/registry.js';
import { freePort } from '../boot/processes.js';
import { Registry, type RegistryOptions } from '../cache/remote/registry.js';
import { byStep, Project, type StepRow } from './helpers.js';
import { TokenServer } from './token-server.js';

// The OCI distribution client (cache/remote/registry.ts) against a real docker-registry: every
// request it makes is recorded, so the tests say which API calls a push or a pull costs.

const calls: string[] = [];
const realFetch = globalThis.fetch;
function recordFetch() {
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const u = new URL(String(input instanceof Request ? input.url : input));
    calls.push(`${init?.method ?? 'GET'} ${u.pathname.replace(/uploads\/[0-9a-f-]+$/, 'uploads/<id>')}`);
    return realFetch(input, init);
  }) as typeof fetch;
}
const blobOf = (bytes: Buffer) => ({
  mediaType: 'application/octet-stream',
  digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
  size: bytes.length,
});
const reader = (bytes: Buffer) => async (o: number, n: number) => bytes.subarray(o, o + n);
const base: RegistryOptions = { insecure: true, timeoutMs: 5000, push: true, retries: 0 };

describe('blobs: HEAD before upload, monolithic and chunked uploads, cross-repository mounts', () => {
  const registry = new TestRegistry();
  beforeAll(async () => {
    await registry.start();
    recordFetch();
  });
  afterEach(() => {
    calls.length = 0;
  });
  afterAll(async () => {
    globalThis.fetch = realFetch;
    await registry.remove();
  });

  it('a small blob goes up in one PUT, after a HEAD that says it is missing; a second push is one HEAD', async () => {
    const r = new Registry(registry.url('netboot/one'), base);
    const bytes = Buffer.from('a small blob\n');
    expect(await r.pushBlob(blobOf(bytes), reader(bytes))).toBe('uploaded');
    expect(calls).toEqual([
      `HEAD /v2/netboot/one/blobs/${blobOf(bytes).digest}`,
      'POST /v2/netboot/one/blobs/uploads/',
      'PUT /v2/netboot/one/blobs/uploads/<id>',
    ]);
    calls.length = 0;
    expect(await r.pushBlob(blobOf(bytes), reader(bytes))).toBe('present');
    expect(calls).toEqual([`HEAD /v2/netboot/one/blobs/${blobOf(bytes).digest}`]);
  });

  it('a blob larger than the chunk size goes up in PATCH chunks and reads back byte for byte', async () => {
    const r = new Registry(registry.url('netboot/one'), { ...base, chunkSize: 1 << 20 });
    const bytes = Buffer.alloc((5 << 19) + 123, 7);
    for (let i = 0; i < bytes.length; i += 997) bytes[i] = i & 0xff;
    expect(await r.pushBlob(blobOf(bytes), reader(bytes))).toBe('uploaded');
    expect(calls.filter((c) => c.startsWith('PATCH'))).toHaveLength(3);
    expect(calls.at(-1)).toBe('PUT /v2/netboot/one/blobs/uploads/<id>');
    expect(readFileSync(registry.blobPath(blobOf(bytes).digest)).equals(bytes)).toBe(true);
    expect((await r.blob(blobOf(bytes)))!.equals(bytes)).toBe(true);
  });

  it('a blob another repository has is mounted, not uploaded', async () => {
    const bytes = Buffer.from('shared between repositories\n');
    await new Registry(registry.url('netboot/one'), base).pushBlob(blobOf(bytes), reader(bytes));
    calls.length = 0;
    const two = new Registry(registry.url('netboot/two'), base);
    expect(await two.pushBlob(blobOf(bytes), reader(bytes), ['netboot/one'])).toBe('mounted');
    expect(calls.some((c) => c.startsWith('PUT') || c.startsWith('PATCH'))).toBe(false);
    expect(await two.hasBlob(blobOf(bytes).digest)).toBe(true);
  });

  it('a blob whose bytes do not match its digest is refused', async () => {
    const bytes = Buffer.from('the real bytes\n');
    const r = new Registry(registry.url('netboot/one'), base);
    await r.pushBlob(blobOf(bytes), reader(bytes));
    writeFileSync(registry.blobPath(blobOf(bytes).digest), 'the real bytez\n');
    await expect(r.blob(blobOf(bytes))).rejects.toThrow(/refused/);
  });
});

describe('retries with backoff', () => {
  const registry = new TestRegistry();
  let proxy: Server;
  let port = 0;
  let failNext = 0;
  beforeAll(async () => {
    await registry.start();
    // In front of the registry: answers 503 to the next `failNext` requests, passes the rest on.
    proxy = createHttpServer((req, res) => {
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end('{"errors":[{"message":"try again"}]}');
        return;
      }
      const up = request({
        host: '127.0.0.1',
        port: registry.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      });
      up.on('response', (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    port = await freePort();
    await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
  });
  afterAll(async () => {
    proxy.close();
    await registry.remove();
  });

  it('a 503 is asked again after 250 ms, then 500 ms; a third one is an error naming the status', async () => {
    const r = new Registry(`oci://127.0.0.1:${port}/netboot/one`, { ...base, retries: 2 });
    const bytes = Buffer.from('through a flaky proxy\n');
    failNext = 2;
    const t0 = Date.now();
    expect(await r.pushBlob(blobOf(bytes), reader(bytes))).toBe('uploaded');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
    expect(await r.hasBlob(blobOf(bytes).digest)).toBe(true);
    failNext = 3;
    await expect(r.hasBlob(blobOf(bytes).digest)).rejects.toThrow(/HEAD .*: 503/);
  });
});

describe('token auth: the Bearer realm challenge, against docker-registry with auth: token', () => {
  const user = { name: 'ci', password: 'token-pass' };
  let tokens: TokenServer;
  let registry: TestRegistry;
  const projects: Project[] = [];
  beforeAll(async () => {
    tokens = new TokenServer(mkdtempSync(join(tmpdir(), 'netboot-token-')), user);
    await tokens.start();
    const { realm, service, issuer, certFile } = tokens;
    registry = new TestRegistry({ token: { realm, service, issuer, certFile } });
    await registry.start();
  });
  afterAll(async () => {
    await registry.remove();
    await tokens.stop();
    for (const p of projects) p.remove();
  });

  it('gets a token for pull and push from the realm, and two builders share through it', async () => {
    const env = {
      NETBOOT_TEST_REMOTE: registry.url(),
      NETBOOT_REGISTRY_USERNAME: user.name,
      NETBOOT_REGISTRY_PASSWORD: user.password,
    };
    const a = new Project('remote-cache');
    const b = new Project('remote-cache');
    projects.push(a, b);
    const first = await a.jsonAsync(['build', 'probe'], env);
    expect(first.stderr).not.toContain('warning');
    expect(tokens.asked).toContain('repository:netboot/cache:pull,push');
    expect(registry.tags()).toHaveLength(5);
    const second = await b.jsonAsync(['build', 'probe'], env);
    expect(second.stderr).not.toContain('warning');
    const remote = second.data.steps.filter((s: StepRow) => s.outcome === 'remote').map((s: StepRow) => s.step);
    expect(remote.sort()).toEqual(['after-gate', 'disk', 'label', 'many']);
    expect(byStep(second.data.steps).gate.outcome).toBe('unpulled');
  });

  it('a wrong password: the token server refuses, one warning, a local build', async () => {
    const p = new Project('remote-cache');
    projects.push(p);
    const r = await p.jsonAsync(['build', 'probe'], {
      NETBOOT_TEST_REMOTE: registry.url(),
      NETBOOT_REGISTRY_USERNAME: user.name,
      NETBOOT_REGISTRY_PASSWORD: 'wrong',
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/cannot get a token: the token server .* answered 401/);
  });
});
