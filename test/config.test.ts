import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Project, ROOT } from './helpers.js';

interface Expected {
  code: string | null;
  exit: number;
  stderr: string;
  /** The field (or host and step) the message must name. */
  field?: string;
}

const cases = readdirSync(join(ROOT, 'test/fixtures/config-errors')).sort();
const expectedOf = (name: string) =>
  JSON.parse(readFileSync(join(ROOT, 'test/fixtures/config-errors', name, 'expected.json'), 'utf8')) as Expected;

describe('config validation: one fixture per error, asserting its code', () => {
  it('has at least 40 hostile configs, each refused with exit 2 and its field named', () => {
    const refused = cases.filter((c) => expectedOf(c).exit === 2);
    expect(refused.length).toBeGreaterThanOrEqual(40);
    for (const c of refused) expect(expectedOf(c).field, c).toBeTruthy();
  });

  it.each(cases)('%s', (name) => {
    const expected = expectedOf(name);
    const project = new Project(`config-errors/${name}`);
    // The default cache is redirected into the project, so "nothing written" is checked there too.
    const env = { XDG_CACHE_HOME: project.path('xdg-cache') };
    try {
      // build, not just ls: the command that would write to the cache if the config got through.
      const r = project.run(expected.exit === 0 ? ['ls'] : ['build', '--all'], env);
      expect(r.code, r.stderr).toBe(expected.exit);
      expect(r.stderr).not.toContain('internal error');
      if (expected.code) {
        expect(r.stderr).toContain(`error [${expected.code}]`);
        // One message, no stack trace without --debug.
        expect(r.stderr).not.toMatch(/^\s+at /m);
      }
      expect(r.stderr).toContain(expected.stderr);
      if (expected.field) expect(r.stderr).toContain(expected.field);
      if (expected.exit === 0) return;
      // Refused before anything is written: no cache, no SAN root, nothing under a redirected default cache.
      for (const dir of ['cache', 'san', 'xdg-cache']) expect(existsSync(project.path(dir)), dir).toBe(false);
    } finally {
      project.remove();
    }
  });
});

describe('config loading', () => {
  it('finds the config upwards from a subdirectory, and takes --config', () => {
    const project = new Project('lab');
    try {
      const sub = project.path('deep/er');
      mkdirSync(sub, { recursive: true });
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/netboot.js'), 'ls', '--json'], {
        cwd: sub,
        encoding: 'utf8',
      });
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout).config).toBe(project.path('netboot.config.ts'));
      const explicit = project.run(['ls', '--config', 'nowhere.ts']);
      expect(explicit.code).toBe(2);
      expect(explicit.stderr).toContain('[CONFIG_LOAD]');
    } finally {
      project.remove();
    }
  });

  it('caches the transpiled config by content, and notices a changed imported file', () => {
    const project = new Project('lab');
    try {
      expect(project.run(['ls']).code).toBe(0);
      const compiled = () => readdirSync(project.path('.netboot/config')).filter((f) => f.endsWith('.mjs'));
      expect(compiled()).toHaveLength(1);
      expect(project.run(['ls']).code).toBe(0);
      expect(compiled()).toHaveLength(1);
      // The plugin file is bundled into the config: editing it must not serve the stale bundle.
      const plugins = project.path('lab-plugins.ts');
      writeFileSync(plugins, readFileSync(plugins, 'utf8').replace("name: 'lab-slow'", "name: 'lab-slower'"));
      expect(project.run(['ls']).stdout).toContain('lab-slower@1');
    } finally {
      project.remove();
    }
  });
});
