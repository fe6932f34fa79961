import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CliResult, Project, ROOT, writeAt } from './helpers.js';

// The no-op stamp (cli/noop-stamp.ts): a build that found every step cached leaves what it read;
// the same command next time is answered from it by stat, before the engine loads, unless
// something it read changed. NETBOOT_FAST_NOOP=why says which way each run went.

let project: Project;
beforeEach(() => {
  project = new Project('noop-stamp');
});
afterEach(() => project.remove());

const WHY = { NETBOOT_FAST_NOOP: 'why' };
const verdict = (r: CliResult) => /no-op stamp: (.*)/.exec(r.stderr)?.[1] ?? '(none)';
const summary = (r: CliResult) => r.stdout.trim().split('\n').at(-1);

/**
 * Builds until one is answered from the stamp. A build writes none while a file it read is less
 * than a second old (its timestamps may not show a change in the same tick), nor when it rewrote
 * what it read (the stat cache of a source it re-hashed): the next one does.
 */
async function untilAnswered(env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const said: string[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await project.runAsync(['build', '--all'], { ...WHY, ...env });
    expect(r.code, r.stderr).toBe(0);
    if (verdict(r).startsWith('nothing changed')) return r;
    said.push(r.stderr.trim());
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`twelve builds and none answered from the stamp:\n${said.join('\n')}`);
}

describe('a build that changed nothing', () => {
  it('is answered from the stamp, with the report of a build that found every step cached', async () => {
    const first = await project.runAsync(['build', '--all'], WHY);
    expect(first.code).toBe(0);
    expect(verdict(first)).toBe('none for this command yet');
    expect(summary(first)).toBe('7 steps: 7 ran, 0 cached');
    const fast = await untilAnswered();
    expect(fast.stdout).toContain('[demo] initrd: cached 0.00s\n');
    expect(summary(fast)).toBe('7 steps: 0 ran, 7 cached');
    expect(fast.stderr).toBe('netboot: no-op stamp: nothing changed; answered from it\n');
  });

  it('is not answered when the stamp is off, and then writes none', async () => {
    for (let i = 0; i < 3; i++)
      expect((await project.runAsync(['build', '--all'], { NETBOOT_FAST_NOOP: '0' })).code).toBe(0);
    expect(readdirSync(project.path('.netboot'))).not.toContain('noop');
  });

  it('is answered only for the same command: --json and --dry-run never are, and write no stamp', async () => {
    await untilAnswered();
    for (const extra of [['--json'], ['--dry-run'], ['demo']]) {
      const args = ['build', ...(extra[0] === 'demo' ? extra : ['--all', ...extra])];
      await project.runAsync(args, WHY);
      const again = await project.runAsync(args, WHY);
      if (extra[0] === 'demo') expect(verdict(again)).not.toBe('none for this command yet');
      else expect(verdict(again), args.join(' ')).toBe('none for this command yet');
    }
  });
});

describe('each input a build read makes the next build run in full', () => {
  const edit =
    (path: string, content: string, append = false) =>
    () => {
      (append ? appendFileSync : writeFileSync)(project.path(path), content);
      return {};
    };
  const changes: [string, () => NodeJS.ProcessEnv, RegExp, string][] = [
    [
      'an environment variable the config reads',
      () => ({ NOOP_ARGS: 'quiet' }),
      /^environment variable NOOP_ARGS/,
      'tftp',
    ],
    ['a file the config reads', edit('motd.txt', 'more\n', true), /motd\.txt changed$/, 'initrd'],
    ['a file of a local source tree', edit('overlay/etc/issue', 'v2\n'), /issue changed$/, 'overlay-src'],
    ['a new file in a local source tree', edit('overlay/etc/new', 'n\n'), /etc changed$/, 'overlay-src'],
  ];
  for (const [what, change, why, step] of changes)
    it(`${what}`, async () => {
      await untilAnswered();
      const env = change();
      const r = await project.runAsync(['build', '--all'], { ...WHY, ...env });
      expect(r.code, r.stderr).toBe(0);
      expect(verdict(r)).toMatch(why);
      expect(r.stdout).toMatch(new RegExp(`\\[demo\\] ${step}: done `));
      // Once the normal build has seen the new state, the stamp answers again.
      await untilAnswered(env);
    });

  it('a cache entry that is gone (gc, verify)', async () => {
    await untilAnswered();
    const actions = project.path('.netboot/cache/actions');
    for (const f of readdirSync(actions, { recursive: true }) as string[])
      if (f.endsWith('.json')) rmSync(`${actions}/${f}`);
    const r = await project.runAsync(['build', '--all'], WHY);
    expect(verdict(r)).toMatch(/changed$/);
    expect(summary(r)).toBe('7 steps: 7 ran, 0 cached');
  });
});

describe('an upstream URL a fingerprint asks', () => {
  let server: Server;
  let body = 'suite 1\n';
  const seen: { inm?: string }[] = [];
  beforeEach(async () => {
    server = createServer((req, res) => {
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
      seen.push({ inm: req.headers['if-none-match'] });
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304).end();
      res.writeHead(200, { etag }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
  });
  const url = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}/InRelease`;

  it('is asked once, conditionally, by an answered build; a change makes the build run in full', async () => {
    const env = { NOOP_URL: url() };
    await untilAnswered(env);
    seen.length = 0;
    const fast = await project.runAsync(['build', '--all'], { ...WHY, ...env });
    expect(verdict(fast)).toMatch(/^nothing changed/);
    expect(seen).toEqual([{ inm: expect.stringMatching(/^"/) }]);

    body = 'suite 2\n';
    const full = await project.runAsync(['build', '--all'], { ...WHY, ...env });
    expect(verdict(full)).toBe('an upstream file changed (or did not answer)');
    expect(full.stdout).toMatch(/\[probe\] upstream: done /);
  });

  for (const [how, env] of [
    ['fetch()', { NOOP_FETCH: '1' }],
    ['http.get', { NOOP_HTTP_GET: '1' }],
  ] as const)
    it(`gets no stamp when a fingerprint asks it with ${how}, which a stamp cannot ask again`, async () => {
      const all = { NOOP_URL: url(), ...env };
      for (let i = 0; i < 3; i++) expect((await project.runAsync(['build', '--all'], all)).code).toBe(0);
      await new Promise((r) => setTimeout(r, 1100));
      const r = await project.runAsync(['build', '--all'], { ...WHY, ...all });
      expect(r.stderr).toMatch(/no-op stamp: none for this command yet\n.*none written: it (used fetch|made requests)/);
    });
});

describe('what the stamp cannot check, or where it cannot answer', () => {
  for (const [what, env, why] of [
    ['a config that runs a program', { NOOP_RUN_PROGRAM: '1' }, 'it called execFileSync(true)'],
    ['a config that runs one through util.promisify', { NOOP_PROMISIFY: '1' }, 'it called execFile(echo)'],
  ] as const)
    it(`${what} builds as before and gets no stamp`, async () => {
      expect((await project.runAsync(['build', '--all'], env)).code).toBe(0);
      await new Promise((r) => setTimeout(r, 1100));
      const r = await project.runAsync(['build', '--all'], { ...WHY, ...env });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('[demo] tftp: cached');
      expect(r.stderr).toContain(`none written: ${why}`);
    });

  it('a package the config imports, whose package.json now names another main module', async () => {
    const pkg = project.path('node_modules/noop-motd');
    writeAt(`${pkg}/a.js`, "export const motd = 'from a\\n';\n");
    writeAt(`${pkg}/b.js`, "export const motd = 'from b\\n';\n");
    writeAt(`${pkg}/package.json`, JSON.stringify({ name: 'noop-motd', type: 'module', main: 'a.js' }));
    const env = { NOOP_PKG: '1' };
    await untilAnswered(env);
    writeFileSync(`${pkg}/package.json`, JSON.stringify({ name: 'noop-motd', type: 'module', main: 'b.js' }));
    const r = await project.runAsync(['build', '--all'], { ...WHY, ...env });
    expect(verdict(r)).toMatch(/package\.json changed$/);
    expect(r.stdout).toMatch(/\[demo\] initrd: done /);
  });

  it("another install of netboot does not take this one's answers", async () => {
    await untilAnswered();
    const other = mkdtempSync(join(tmpdir(), 'netboot-other-'));
    try {
      cpSync(join(ROOT, 'bin'), join(other, 'bin'), { recursive: true });
      cpSync(join(ROOT, 'dist'), join(other, 'dist'), { recursive: true });
      cpSync(join(ROOT, 'package.json'), join(other, 'package.json'));
      symlinkSync(join(ROOT, 'node_modules'), join(other, 'node_modules'));
      const r = spawnSync(process.execPath, [join(other, 'bin/netboot.js'), 'build', '--all'], {
        cwd: project.dir,
        env: { ...process.env, CI: 'true', ...WHY },
        encoding: 'utf8',
      });
      expect(r.stderr).toContain('no-op stamp: none for this command yet');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('a path it looked for that cannot be looked at now (a file where a directory was): a full build', async () => {
    await untilAnswered();
    writeFileSync(project.path('san'), 'not a directory\n');
    const r = await project.runAsync(['build', '--all'], WHY);
    const full = await project.runAsync(['build', '--all'], { NETBOOT_FAST_NOOP: '0' });
    expect(verdict(r)).toMatch(/changed$/);
    expect(r.code).toBe(full.code);
  });
});
