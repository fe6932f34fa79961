import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRegistry } from '../bench/registry.js';
import { freePort } from '../boot/processes.js';
import { type Descriptor, Registry } from '../cache/remote/registry.js';
import { tagFor } from '../cache/remote/remote-cache.js';
import { byStep, exitOf, Project, type StepRow } from './helpers.js';

// The remote cache against Debian's docker-registry (CNCF distribution), started per suite on
// 127.0.0.1. Builders are separate project directories with separate local caches.

const PRIVATE = ['secret', 'from-secret'];
// Steps that only other steps read (no publish item names them): a builder whose readers all hit
// never pulls their outputs.
const INTERMEDIATE = [
  'probe/gate',
  'demo/config',
  'demo/rootfs',
  'demo/overlay-src',
  'demo/initrd',
  'demo/pxelinux-entry',
];
const outcomes = (steps: StepRow[]) => Object.fromEntries(steps.map((s) => [`${s.host}/${s.step}`, s.outcome]));
const outputsOf = (steps: StepRow[]) => Object.fromEntries(steps.map((s) => [`${s.host}/${s.step}`, s.outputs]));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('two builders share one registry', () => {
  const registry = new TestRegistry();
  let a: Project;
  let b: Project;
  let first: StepRow[];
  beforeAll(async () => {
    await registry.start();
    a = new Project('remote-cache');
    b = new Project('remote-cache');
    const r = await a.jsonAsync(['build', '--all'], { NETBOOT_TEST_REMOTE: registry.url() });
    expect(r.code, r.stderr).toBe(0);
    first = r.data.steps;
  });
  afterAll(async () => {
    await registry.remove();
    a?.remove();
    b?.remove();
  });

  it('builder A runs every step and pushes each one that is not private, tagged by its key', () => {
    expect(new Set(first.map((s) => s.outcome))).toEqual(new Set(['ran']));
    const pushed = first.filter((s) => !PRIVATE.includes(s.step)).map((s) => tagFor(s.key!));
    expect(registry.tags()).toEqual(pushed.sort());
  });

  it('builder B, with an empty cache, runs no shared step: pulls what it delivers, the rest stays remote', async () => {
    const r = await b.jsonAsync(['build', '--all'], { NETBOOT_TEST_REMOTE: registry.url() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('warning');
    const want = Object.fromEntries(
      first.map((s) => {
        const id = `${s.host}/${s.step}`;
        return [id, PRIVATE.includes(s.step) ? 'ran' : INTERMEDIATE.includes(id) ? 'unpulled' : 'remote'];
      }),
    );
    expect(outcomes(r.data.steps)).toEqual(want);
    // Top-down: an intermediate step whose readers were all remote hits left its outputs in the
    // registry. B has no record of its key and none of its outputs, only the outputs' digests.
    const steps = r.data.steps as StepRow[];
    const pulledDigests = new Set(
      steps.filter((s) => s.outcome !== 'unpulled').flatMap((s) => Object.values(s.outputs!).map((o) => o.digest)),
    );
    for (const s of steps.filter((x) => x.outcome === 'unpulled')) {
      expect(existsSync(b.path('.netboot/cache/actions', s.key!.slice(0, 2), `${s.key}.json`)), s.step).toBe(false);
      expect(s.outputs).toEqual(byStep(first.filter((x) => x.host === s.host))[s.step].outputs);
      for (const o of Object.values(s.outputs!)) {
        if (pulledDigests.has(o.digest)) continue;
        const where = o.kind === 'tree' ? ['trees', o.digest] : ['objects', o.digest.slice(0, 2), o.digest];
        expect(existsSync(b.path('.netboot/cache', ...where)), `${s.step} ${o.digest}`).toBe(false);
      }
    }
    const mine = byStep(r.data.steps.filter((s: StepRow) => s.host === 'probe'));
    for (const s of first.filter((x) => x.host === 'probe')) expect(mine[s.step].outputs).toEqual(s.outputs);
    for (const s of r.data.steps as StepRow[])
      if (s.outcome === 'remote') expect(s.reasons[0]).toContain(registry.host);
    // The sparse disk image stays sparse: the pull skips runs of zeros.
    const img = mine.disk.outputs!.file.digest;
    const st = statSync(b.path('.netboot/cache/objects', img.slice(0, 2), img));
    expect(st.size).toBe(16 << 20);
    expect(st.blocks * 512).toBeLessThan(1 << 20);
    // What B pulled is a whole, valid cache entry: verify re-hashes every object and tree.
    expect(b.run(['cache', 'verify']).code).toBe(0);
    // A second build is all local hits, the intermediates still left remote; status agrees.
    const again = await b.jsonAsync(['build', '--all'], { NETBOOT_TEST_REMOTE: registry.url() });
    expect(outcomes(again.data.steps)).toEqual(
      Object.fromEntries(Object.entries(want).map(([id, o]) => [id, o === 'unpulled' ? o : 'cached'])),
    );
    const status = b.run(['status']);
    expect(status.stdout).toMatch(/^demo: up to date .*\nprobe: up to date/);
    expect(b.run(['explain', 'probe', 'gate']).stdout).toMatch(/^gate \(remote-gate@1\): in the remote cache: /);
  });

  it('publishes bit-identical files from both caches', async () => {
    for (const p of [a, b]) expect((await p.runAsync(['publish', '--all'])).code).toBe(0);
    const files = (p: Project) => {
      const out: Record<string, string> = {};
      const list = execFileSync('find', ['-L', '.', '-type', 'f', '!', '-name', '.netboot-release.json'], {
        cwd: p.path('san'),
        encoding: 'utf8',
      });
      // The site release is this SAN's own config: it names the SAN's absolute paths (tftp-root).
      const own = (f: string) => f.startsWith('./conf/site/') || f.startsWith('./conf/.releases/site/');
      for (const f of list.split('\n').filter(Boolean).sort()) if (!own(f)) out[f] = sha(p.path('san', f));
      return out;
    };
    const fa = files(a);
    expect(Object.keys(fa).length).toBeGreaterThan(300);
    expect(files(b)).toEqual(fa);
  });

  it('a step that must run and reads a step left remote: that step is pulled first, and only it', async () => {
    const r = await b.jsonAsync(['build', 'probe'], { NETBOOT_TEST_REMOTE: registry.url(), NETBOOT_TEST_LABEL: 'two' });
    expect(r.code, r.stderr).toBe(0);
    const theirs = byStep(first.filter((s) => s.host === 'probe'));
    const s = byStep(r.data.steps);
    expect(Object.fromEntries(r.data.steps.map((x: StepRow) => [x.step, x.outcome]))).toEqual({
      many: 'cached',
      secret: 'cached',
      'from-secret': 'cached',
      gate: 'remote',
      'after-gate': 'cached',
      label: 'ran',
      disk: 'cached',
    });
    expect(s.gate.reasons[0]).toContain('a step that runs reads its outputs');
    expect(s.gate.outputs).toEqual(theirs.gate.outputs);
    const label = s.label.outputs!.file.digest;
    expect(readFileSync(b.path('.netboot/cache/objects', label.slice(0, 2), label), 'utf8')).toBe('two: gated one\n');
    expect(existsSync(b.path('.netboot/cache/actions', s.gate.key!.slice(0, 2), `${s.gate.key}.json`))).toBe(true);
    expect(b.run(['cache', 'verify']).code).toBe(0);
  });

  it('with the registry off, a step that reads a step left remote runs that one here first', async () => {
    const c = new Project('remote-cache');
    try {
      const env = { NETBOOT_TEST_REMOTE: registry.url() };
      expect((await c.jsonAsync(['build', 'probe'], env)).code).toBe(0);
      // Plan mode knows the intermediate's outputs from its record: nothing would run.
      const plan = c.json(['status', 'probe'], env);
      expect(byStep(plan.data.steps).gate.outcome).toBe('unpulled');
      expect(c.run(['status', 'probe'], env).stdout).toMatch(/^probe: up to date/);
      const r = await c.jsonAsync(['build', 'probe', '--no-remote'], { ...env, NETBOOT_TEST_LABEL: 'three' });
      expect(r.code, r.stderr).toBe(0);
      const s = byStep(r.data.steps);
      expect([s.gate.outcome, s.label.outcome, s['after-gate'].outcome]).toEqual(['ran', 'ran', 'cached']);
      expect(s.gate.outputs).toEqual(byStep(first.filter((x) => x.host === 'probe')).gate.outputs);
      expect(c.run(['cache', 'verify']).code).toBe(0);
    } finally {
      c.remove();
    }
  });

  it('--no-remote leaves the registry alone for one run', async () => {
    const c = new Project('remote-cache');
    try {
      const r = await c.jsonAsync(['build', 'demo', '--no-remote'], { NETBOOT_TEST_REMOTE: registry.url() });
      expect(new Set(r.data.steps.map((s: StepRow) => s.outcome))).toEqual(new Set(['ran']));
    } finally {
      c.remove();
    }
  });

  it('a blob damaged in the registry storage is refused, never stored, and the step runs locally', async () => {
    const many = byStep(first.filter((s) => s.host === 'probe')).many;
    const tags = join(registry.storage, 'docker/registry/v2/repositories/netboot/cache/_manifests/tags');
    const link = readFileSync(join(tags, tagFor(many.key!), 'current/link'), 'utf8').trim();
    const manifest = JSON.parse(readFileSync(registry.blobPath(link), 'utf8'));
    expect(manifest.artifactType).toBe('application/vnd.netboot.action.v1+json');
    expect(manifest.config.mediaType).toBe('application/vnd.oci.empty.v1+json');
    const tar = manifest.layers.find((l: { mediaType: string }) => l.mediaType.includes('tree.v1.tar'));
    const data = readFileSync(registry.blobPath(tar.digest));
    data[1000] ^= 0x20;
    writeFileSync(registry.blobPath(tar.digest), data);
    const c = new Project('remote-cache');
    try {
      const r = await c.jsonAsync(['build', 'probe'], { NETBOOT_TEST_REMOTE: registry.url() });
      expect(r.code, r.stderr).toBe(0);
      const steps = byStep(r.data.steps);
      expect(steps.many.outcome).toBe('ran');
      expect(steps.gate.outcome).toBe('unpulled');
      expect(steps['after-gate'].outcome).toBe('remote');
      expect(r.stderr).toMatch(new RegExp(`warning: remote cache ${registry.url()}: step probe/many: .*refused`));
      expect(steps.many.outputs).toEqual(many.outputs);
      expect(c.run(['cache', 'verify']).code).toBe(0);
    } finally {
      c.remove();
    }
  });
});

describe('a registry that is down or fails does not fail the build', () => {
  it('an unreachable registry: one warning naming it and the step, and everything builds locally', async () => {
    const p = new Project('remote-cache');
    try {
      const url = `oci://127.0.0.1:${await freePort()}/netboot/cache`;
      const r = await p.jsonAsync(['build', '--all'], { NETBOOT_TEST_REMOTE: url });
      expect(r.code, r.stderr).toBe(0);
      expect(new Set(r.data.steps.map((s: StepRow) => s.outcome))).toEqual(new Set(['ran']));
      const warnings = r.stderr.split('\n').filter((l) => l.includes('warning'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        new RegExp(`remote cache ${url}: (pulling|looking up) step (demo|probe)/[a-z-]+ failed: .*ECONNREFUSED`),
      );
    } finally {
      p.remove();
    }
  });

  it('a registry that accepts but never answers: one warning after the timeout (3 s here), then local', async () => {
    const silent = createServer(() => {});
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    const p = new Project('remote-cache');
    try {
      const url = `oci://127.0.0.1:${port}/netboot/cache`;
      const t0 = Date.now();
      const r = await p.jsonAsync(['build', 'probe'], { NETBOOT_TEST_REMOTE: url });
      expect(r.code, r.stderr).toBe(0);
      expect(new Set(r.data.steps.map((s: StepRow) => s.outcome))).toEqual(new Set(['ran']));
      const warnings = r.stderr.split('\n').filter((l) => l.includes('warning'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/no answer within 3000 ms \(cache\.remote\.timeoutMs\)/);
      // Asked once, not again per step: the build does not wait a timeout per step.
      expect(Date.now() - t0).toBeLessThan(30_000);
    } finally {
      silent.close();
      p.remove();
    }
  });

  it('with required: true the failure fails the build, naming the registry', async () => {
    const p = new Project('remote-cache');
    try {
      const url = `oci://127.0.0.1:${await freePort()}/netboot/cache`;
      const r = await p.jsonAsync(['build', 'probe'], { NETBOOT_TEST_REMOTE: url, NETBOOT_TEST_REMOTE_REQUIRED: '1' });
      expect(r.code).toBe(1);
      const failed = r.data.steps.filter((s: StepRow & { error: { code: string } | null }) => s.error);
      expect(failed.map((s: { error: { code: string } }) => s.error.code)).toContain('REMOTE_FAILED');
    } finally {
      p.remove();
    }
  });

  it('a registry stopped in the middle of a build: the build still succeeds locally, with one warning', async () => {
    const registry = new TestRegistry();
    const p = new Project('remote-cache');
    try {
      await registry.start();
      const gate = join(p.dir, 'gate-open');
      const child = p.spawn(['build', 'probe'], { NETBOOT_TEST_REMOTE: registry.url(), NETBOOT_TEST_GATE: gate });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (err += d));
      const exited = new Promise<number>((r) => child.once('exit', (code) => r(code ?? 128)));
      for (let i = 0; i < 400 && !out.includes('[probe] gate: running'); i++) await sleep(25);
      expect(out).toContain('[probe] gate: running');
      await registry.stop();
      writeFileSync(gate, '');
      expect(await exited, err).toBe(0);
      expect(out).toMatch(/after-gate: done/);
      const warnings = err.split('\n').filter((l) => l.includes('warning'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`remote cache ${registry.url()}`);
      expect(warnings[0]).toMatch(/(pulling|looking up|pushing) step probe\/[a-z-]+ failed: /);
    } finally {
      await registry.remove();
      p.remove();
    }
  });
});

describe('auth: htpasswd (bcrypt) basic auth over TLS', () => {
  const user = { name: 'builder', password: 'p4ss-w0rd' };
  const registry = new TestRegistry({ user, tls: true });
  const projects: Project[] = [];
  const project = () => {
    const p = new Project('remote-cache');
    projects.push(p);
    return p;
  };
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    await registry.start();
    env = { NETBOOT_TEST_REMOTE: registry.url(), NETBOOT_TEST_REMOTE_TLS: '1', NODE_EXTRA_CA_CERTS: registry.caFile };
  });
  afterAll(async () => {
    await registry.remove();
    for (const p of projects) p.remove();
  });

  it('pushes with the login from the Docker config, and pulls with the one from the environment', async () => {
    const docker = mkdtempSync(join(tmpdir(), 'netboot-docker-'));
    const auth = Buffer.from(`${user.name}:${user.password}`).toString('base64');
    writeFileSync(join(docker, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth } } }));
    const a = await project().jsonAsync(['build', 'probe'], { ...env, DOCKER_CONFIG: docker });
    expect(a.code, a.stderr).toBe(0);
    expect(a.stderr).not.toContain('warning');
    expect(registry.tags().length).toBe(5);
    const b = await project().jsonAsync(['build', 'probe'], {
      ...env,
      DOCKER_CONFIG: join(docker, 'none'),
      NETBOOT_REGISTRY_USERNAME: user.name,
      NETBOOT_REGISTRY_PASSWORD: user.password,
    });
    expect(b.stderr).not.toContain('warning');
    expect(outcomes(b.data.steps)).toMatchObject({
      'probe/many': 'remote',
      'probe/gate': 'unpulled',
      'probe/after-gate': 'remote',
      'probe/label': 'remote',
      'probe/disk': 'remote',
    });
  });

  it('without a login: a warning that the registry wants one, and a local build', async () => {
    const r = await project().jsonAsync(['build', 'probe'], { ...env, DOCKER_CONFIG: '/nonexistent' });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/wants a login and none is configured/);
  });

  it('a certificate the system does not trust is refused (TLS is checked)', async () => {
    const r = await project().jsonAsync(['build', 'probe'], { ...env, NODE_EXTRA_CA_CERTS: '' });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: remote cache .*(SELF_SIGNED|self-signed|DEPTH_ZERO)/i);
  });
});

describe('netboot cache push|pull: explicit seeding', () => {
  it('push sends what a local-only build made; pull fetches it into an empty cache, running no step', async () => {
    const registry = new TestRegistry();
    const a = new Project('remote-cache');
    const b = new Project('remote-cache');
    try {
      await registry.start();
      const env = { NETBOOT_TEST_REMOTE: registry.url() };
      expect((await a.runAsync(['build', '--all', '--no-remote'], env)).code).toBe(0);
      expect(registry.tags()).toEqual([]);
      const pushed = await a.jsonAsync(['cache', 'push', '--all'], env);
      expect(pushed.code, pushed.stderr).toBe(0);
      const notPushed = pushed.data.steps.filter((s: { pushed: boolean }) => !s.pushed);
      expect(notPushed.map((s: { step: string }) => s.step).sort()).toEqual(['from-secret', 'secret']);
      expect(registry.tags()).toHaveLength(pushed.data.steps.length - 2);
      const pulled = await b.jsonAsync(['cache', 'pull', '--all'], env);
      expect(pulled.code, pulled.stderr).toBe(0);
      const pulledSteps = pulled.data.steps.filter((s: StepRow) => s.outcome === 'remote');
      expect(pulledSteps).toHaveLength(pushed.data.steps.length - 2);
      const local = await b.jsonAsync(['build', '--all', '--no-remote'], env);
      const ranSteps = local.data.steps.filter((s: StepRow) => s.outcome === 'ran').map((s: StepRow) => s.step);
      expect(ranSteps.sort()).toEqual(['from-secret', 'secret']);
    } finally {
      await registry.remove();
      a.remove();
      b.remove();
    }
  });
});

describe('a registry that serves another tree under a valid blob digest', () => {
  it('is refused when the tree is stored: nothing of it enters the cache, the step runs locally', async () => {
    const registry = new TestRegistry();
    const a = new Project('remote-cache');
    const c = new Project('remote-cache');
    try {
      await registry.start();
      const env = { NETBOOT_TEST_REMOTE: registry.url() };
      const built = await a.jsonAsync(['build', '--all'], env);
      const steps = byStep(built.data.steps.filter((s: StepRow) => s.host === 'probe'));
      const config = byStep(built.data.steps.filter((s: StepRow) => s.host === 'demo')).config;
      // A hostile pusher: the manifest of `many` now names the tar of demo's config tree.
      const r = new Registry(registry.url(), { insecure: true, push: true, timeoutMs: 5000 });
      const manyM = (await r.manifest(tagFor(steps.many.key!)))!.json;
      const configM = (await r.manifest(tagFor(config.key!)))!.json;
      const tarOf = (m: { layers: Descriptor[] }) => m.layers.findIndex((l) => l.mediaType.includes('tree.v1.tar'));
      const other = configM.layers[tarOf(configM)];
      manyM.layers[tarOf(manyM)] = { ...manyM.layers[tarOf(manyM)], digest: other.digest, size: other.size };
      await r.putManifest(tagFor(steps.many.key!), manyM);
      const pulled = await c.jsonAsync(['build', 'probe'], env);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(byStep(pulled.data.steps).many.outcome).toBe('ran');
      expect(pulled.stderr).toMatch(/step probe\/many: output tree: tree [0-9a-f]+ arrived as [0-9a-f]+: refused/);
      expect(existsSync(c.path('.netboot/cache/trees', config.outputs!.tree.digest))).toBe(false);
      expect(byStep(pulled.data.steps).many.outputs).toEqual(steps.many.outputs);
    } finally {
      await registry.remove();
      a.remove();
      c.remove();
    }
  });
});

describe('a pull killed at any moment', () => {
  it('SIGKILL at 4 random moments of a pull: verify stays clean, the next build pulls what is missing', async () => {
    const registry = new TestRegistry();
    const a = new Project('remote-cache');
    const b = new Project('remote-cache');
    try {
      await registry.start();
      const env = { NETBOOT_TEST_REMOTE: registry.url() };
      const built = await a.jsonAsync(['build', '--all'], env);
      expect(built.code).toBe(0);
      const t0 = Date.now();
      expect((await b.runAsync(['cache', 'pull', '--all'], env)).code).toBe(0);
      const span = Date.now() - t0;
      for (let i = 0; i < 4; i++) {
        rmSync(b.path('.netboot'), { recursive: true, force: true });
        const child = b.spawn(['build', '--all'], env);
        const done = exitOf(child);
        await sleep(Math.random() * span);
        child.kill('SIGKILL');
        await done;
        const v = b.json(['cache', 'verify']);
        expect(v.code, `kill ${i}: ${v.stderr}`).toBe(0);
        const after = await b.jsonAsync(['build', '--all'], env);
        expect(after.code, `build after kill ${i}: ${after.stderr}`).toBe(0);
        expect(after.stderr).not.toContain('warning');
        for (const s of after.data.steps as StepRow[]) {
          expect(['remote', 'unpulled', 'cached', 'ran']).toContain(s.outcome);
          if (s.outcome === 'ran') expect(PRIVATE).toContain(s.step);
        }
        expect(outputsOf(after.data.steps)).toEqual(outputsOf(built.data.steps));
      }
    } finally {
      await registry.remove();
      a.remove();
      b.remove();
    }
  });
});
