import { execFile, execFileSync } from 'node:child_process';
import { lookup } from 'node:dns';
import * as fs from 'node:fs';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unchangedUpstream } from '../../cli/fast-noop.js';
import { changedLocally, configFileOf, envOf, racy, type Stamp, signature } from '../../cli/noop-stamp.js';
import { startTrace } from '../../cli/noop-trace.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'netboot-noop-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const stampOf = (files: Record<string, string | null>, env: Record<string, string | null> = {}): Stamp => ({
  version: 1,
  argv: ['build'],
  cwd: dir,
  configFile: join(dir, 'netboot.config.ts'),
  files,
  env,
  envListed: false,
  urls: [],
  out: [],
});

describe('a signature', () => {
  it('changes with the content, the mode, and a file put in its place; not with a read', () => {
    const f = join(dir, 'a');
    writeFileSync(f, 'one');
    const first = signature(f);
    readFileSync(f);
    expect(signature(f)).toBe(first);
    writeFileSync(f, 'two');
    const second = signature(f);
    expect(second).not.toBe(first);
    fs.chmodSync(f, 0o600);
    expect(signature(f)).not.toBe(second);
    expect(signature(join(dir, 'missing'))).toBeNull();
    expect(signature(join(f, 'below-a-file'))).toBe('error:ENOTDIR');
  });

  it('of a symlink names its target too', () => {
    writeFileSync(join(dir, 't1'), 'x');
    writeFileSync(join(dir, 't2'), 'x');
    symlinkSync('t1', join(dir, 'link'));
    const before = signature(join(dir, 'link'));
    rmSync(join(dir, 't1'));
    fs.renameSync(join(dir, 't2'), join(dir, 't1'));
    expect(signature(join(dir, 'link'))?.split('>')[0]).toBe(before?.split('>')[0]);
    expect(signature(join(dir, 'link'))).not.toBe(before);
  });

  it('is racy while its timestamps are within a second of the look, by mtime or ctime', () => {
    const f = join(dir, 'a');
    writeFileSync(f, 'x');
    const now = BigInt(Date.now()) * 1_000_000n;
    expect(racy(signature(f), now)).toBe(true);
    utimesSync(f, 1_600_000_000, 1_600_000_000);
    expect(racy(signature(f), now)).toBe(true); // ctime moved with utimes
    expect(racy(signature(f), now + 5_000_000_000n)).toBe(false);
    expect(racy(null, now)).toBe(false);
  });
});

describe('a stamp', () => {
  it('has changed when a file, an environment variable, or a file that was absent changed', () => {
    const f = join(dir, 'a');
    writeFileSync(f, 'x');
    const s = stampOf({ [f]: signature(f), [join(dir, 'absent')]: null }, envOf(new Map([['A', '1']]), false, {}));
    expect(changedLocally(s, { A: '1' })).toBeUndefined();
    expect(changedLocally(s, { A: '2' })).toBe('environment variable A');
    expect(changedLocally(s, {})).toBe('environment variable A');
    writeFileSync(join(dir, 'absent'), '');
    expect(changedLocally(s, { A: '1' })).toBe(join(dir, 'absent'));
  });

  it('of a run that listed the environment has changed when any variable is added', () => {
    const s = stampOf({}, envOf(new Map(), true, { A: '1' }));
    expect(s.env).toEqual({ A: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(changedLocally({ ...s, envListed: true }, { A: '1' })).toBeUndefined();
    expect(changedLocally({ ...s, envListed: true }, { A: '1', B: '' })).toBe('environment variable B');
  });

  it('is found beside the config a command names, or the nearest one upwards', () => {
    writeFileSync(join(dir, 'netboot.config.ts'), '');
    fs.mkdirSync(join(dir, 'sub'));
    expect(configFileOf(['build', '--all'], join(dir, 'sub'))).toBe(join(dir, 'netboot.config.ts'));
    expect(configFileOf(['build', '--config', 'x.ts'], dir)).toBe(join(dir, 'x.ts'));
    expect(configFileOf(['build', '--config=y.ts'], dir)).toBe(join(dir, 'y.ts'));
    expect(configFileOf(['-c', '/z.ts', 'build'], dir)).toBe('/z.ts');
  });
});

describe('a trace', () => {
  it('sees reads through fs (sync, promises, ESM bindings), absent paths, and env lookups', async () => {
    const f = join(dir, 'read');
    writeFileSync(f, 'x');
    process.env.NETBOOT_TRACE_TEST = 'v';
    const t = startTrace();
    let r: ReturnType<typeof t.stop>;
    try {
      readFileSync(f);
      await readFile(f);
      existsSync(join(dir, 'absent'));
      expect(process.env.NETBOOT_TRACE_TEST).toBe('v');
      expect('NETBOOT_TRACE_OTHER' in process.env).toBe(false);
    } finally {
      r = t.stop();
      delete process.env.NETBOOT_TRACE_TEST;
    }
    expect(r.files.get(f)).toBe(signature(f));
    expect(r.files.get(join(dir, 'absent'))).toBeNull();
    expect(r.env).toEqual(
      new Map([
        ['NETBOOT_TRACE_TEST', 'v'],
        ['NETBOOT_TRACE_OTHER', undefined],
      ]),
    );
    expect(r.envListed).toBe(false);
    expect(r.unchecked).toBeUndefined();
  });

  it('marks what it cannot check again: a program run, a recursive listing; counts requests', () => {
    const t = startTrace();
    let r: ReturnType<typeof t.stop>;
    try {
      execFileSync('true');
      const req = request('http://127.0.0.1:9/');
      req.on('error', () => {});
      req.destroy();
      void Object.keys(process.env);
    } finally {
      r = t.stop();
    }
    expect(r.unchecked).toBe('it called execFileSync(true)');
    expect(r.requests).toBe(1);
    expect(r.envListed).toBe(true);
    const t2 = startTrace();
    fs.readdirSync(dir, { recursive: true });
    expect(t2.stop().unchecked).toBe('it listed a tree');
  });

  it("keeps util.promisify's own versions working, and watched", async () => {
    const t = startTrace();
    let out: string;
    let r: ReturnType<typeof t.stop>;
    try {
      out = (await promisify(execFile)('echo', ['rev'])).stdout;
      expect(await promisify(fs.exists)(dir)).toBe(true);
    } finally {
      r = t.stop();
    }
    expect(out.trim()).toBe('rev');
    expect(r.unchecked).toBe('it called execFile(echo)');
    expect(r.files.has(dir)).toBe(true);
  });

  it('sees name lookups, /sys, and what os.homedir() reads; not the sockets of a counted request', async () => {
    const t = startTrace();
    const req = request('http://127.0.0.1:9/');
    req.on('error', () => {});
    req.end();
    homedir();
    const quiet = { ...t.stop() };
    expect(quiet.unchecked).toBeUndefined();
    expect(quiet.env.has('HOME')).toBe(true);
    for (const act of [() => lookup('localhost', () => {}), () => existsSync('/sys/class/net')]) {
      const t2 = startTrace();
      act();
      expect(t2.stop().unchecked).toBeDefined();
    }
  });

  it('puts every function and process.env back when it stops', () => {
    const before = { readFileSync: fs.readFileSync, env: process.env };
    startTrace().stop();
    expect(fs.readFileSync).toBe(before.readFileSync);
    expect(readFileSync).toBe(before.readFileSync);
    expect(process.env).toBe(before.env);
  });
});

describe('an upstream URL asked again', () => {
  it('is unchanged on a 304 only with validators, on a 404 only if it was absent, and through redirects', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      if (req.url === '/moved') return void res.writeHead(301, { location: '/same' }).end();
      if (req.url === '/same') return void res.writeHead(200).end('body');
      if (req.url === '/gone') return void res.writeHead(404).end();
      res.writeHead(304).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
    const sha = (await import('node:crypto')).createHash('sha256').update('body').digest('hex');
    try {
      expect(await unchangedUpstream([{ url: `${base}/nm`, digest: sha, etag: '"x"' }])).toBe(true);
      expect(await unchangedUpstream([{ url: `${base}/nm`, digest: sha }])).toBe(false);
      expect(await unchangedUpstream([{ url: `${base}/gone`, digest: null }])).toBe(true);
      expect(await unchangedUpstream([{ url: `${base}/gone`, digest: sha }])).toBe(false);
      expect(await unchangedUpstream([{ url: `${base}/moved`, digest: sha }])).toBe(true);
      expect(await unchangedUpstream([{ url: `${base}/moved`, digest: 'f'.repeat(64) }])).toBe(false);
      expect(await unchangedUpstream([{ url: 'http://127.0.0.1:9/', digest: sha }])).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
