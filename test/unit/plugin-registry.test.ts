// The rule: a plugin named N lives in plugins/N.ts, in plugins/<family>/<rest>.ts when N is
// <family>-<rest> (a family folder may also hold a plugin named for its file alone, such as
// debian/apt-install.ts), or in plugins/N/index.ts; its registry key is N in camelCase.
import { readdirSync } from 'node:fs';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../cli/config-validate.js';
import type { AnyPlugin } from '../../core/plugin.js';
import { definePlugin } from '../../core/plugin.js';
import { plugins, REGISTRY_ALIASES } from '../../plugins/index.js';
import { ROOT } from '../helpers.js';

const PLUGINS = join(ROOT, 'plugins');

/** Every plugin object a module under plugins/ exports, with the file that defines it. */
async function pluginFiles(): Promise<{ file: string; plugin: AnyPlugin }[]> {
  const files = readdirSync(PLUGINS, { recursive: true, encoding: 'utf8' }).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.d.ts'),
  );
  const found = new Map<AnyPlugin, string>();
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(PLUGINS, f)).href)) as Record<string, unknown>;
    for (const v of Object.values(mod)) {
      const pl = v as AnyPlugin;
      if (pl && typeof pl === 'object' && pl.__plugin && f !== 'index.ts' && !found.has(pl))
        found.set(pl, f.split(sep).join('/'));
    }
  }
  // A re-export (server-configs/index.ts) would name the plugin twice: the defining file is the one kept.
  return [...found].map(([plugin, file]) => ({ plugin, file }));
}

/** The names a plugin in `file` may have under the rule. */
function namesFor(file: string): string[] {
  const parts = file.replace(/\.ts$/, '').split('/');
  if (parts.length === 1) return [parts[0]];
  const [family, rest] = parts;
  return rest === 'index' ? [family] : [`${family}-${rest}`, rest];
}

const camel = (name: string) => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

describe('plugin registry: file name = plugin name = registry key', () => {
  it('names every plugin after the file it lives in', async () => {
    const found = await pluginFiles();
    expect(found.length).toBeGreaterThanOrEqual(20);
    for (const { file, plugin } of found)
      expect(namesFor(file), `${plugin.name} in plugins/${file}`).toContain(plugin.name);
  });

  it('keys every registry entry by its plugin name in camelCase (or a listed older key)', () => {
    for (const [key, plugin] of Object.entries(plugins))
      expect(key, plugin.name).toBe(REGISTRY_ALIASES[key] ? key : camel(plugin.name));
    for (const [alias, name] of Object.entries(REGISTRY_ALIASES))
      expect((plugins as Record<string, AnyPlugin>)[alias].name).toBe(name);
  });

  it('registers every plugin under plugins/', async () => {
    const registered = new Set<AnyPlugin>(Object.values(plugins));
    const missing = (await pluginFiles())
      .filter(({ plugin }) => !registered.has(plugin))
      .map(({ plugin }) => plugin.name);
    expect(missing).toEqual([]);
  });

  it('knows the rule', () => {
    expect(namesFor('cpio.ts')).toEqual(['cpio']);
    expect(namesFor('debian/kernel.ts')).toContain('debian-kernel');
    expect(namesFor('server-configs/index.ts')).toEqual(['server-configs']);
    expect(namesFor('debian/initramfs.ts')).not.toContain('debian-kernel');
  });
});

describe('the built-in-name guard', () => {
  const user = (name: string) => definePlugin({ name, version: '1', produces: {}, async run() {} });
  const refusal = (name: string) => {
    try {
      validateConfig({ plugins: [user(name)], hosts: {} }, join(ROOT, 'netboot.config.ts'), []);
      return undefined;
    } catch (e) {
      return e as { code?: string; message: string };
    }
  };

  it('refuses a user plugin named like every built-in one, debian-iscsi included', () => {
    for (const name of ['debian-iscsi', 'tar', 'pxelinux-tree']) {
      const e = refusal(name);
      expect(e?.code, name).toBe('DUPLICATE_PLUGIN');
      expect(e?.message).toContain(`"${name}" is the name of a built-in plugin`);
    }
  });

  it('takes a user plugin with a name of its own', () => {
    expect(refusal('my-own')?.message ?? '').not.toContain('built-in');
  });
});
