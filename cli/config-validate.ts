// A config resolved in Vite's manner: the config is described with `p`, one resolver per section
// in the module that owns it (san: config-san.ts; hosts: config-hosts.ts; plugins, recipes and
// extend: config-code.ts), and parseShape walks it, naming every problem's field.
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { errors } from '../base/errors.js';
import type { AnyPlugin, HostInfo } from '../core/plugin.js';
import type { Recipe, RecipeHooks } from '../core/recipe.js';
import { type Issues, isPlainObject, p, parseShape, show } from '../core/schema.js';
import { perTarget } from '../core/targets.js';
import { cacheSection, type RemoteConfig } from './config-cache.js';
import { extendSection, pluginsSection, recipesSection } from './config-code.js';
import { type ConfigHost, hostsSection } from './config-hosts.js';
import { type NightlyConfig, nightlySection } from './config-nightly.js';
import { checkSanRoots, type ResolvedSan, sanSection } from './config-san.js';

export interface ResolvedHost {
  name: string;
  info: HostInfo;
  recipe: Recipe<any>;
  params: Record<string, unknown>;
  /** Paths of this host's TFTP directory published although they look private (with san.allowPublic). */
  allowPublic: string[];
}

export interface ResolvedConfig {
  file: string;
  dir: string;
  cache: string;
  /** The remote cache (`cache: { remote }`), if one is configured. */
  remote?: RemoteConfig;
  san: ResolvedSan;
  sourceDateEpoch: number;
  hosts: Map<string, ResolvedHost>;
  plugins: AnyPlugin[];
  recipes: Map<string, Recipe<any>>;
  extend: Record<string, RecipeHooks>;
  /** What `netboot nightly` does (defaults when the config has no `nightly` section). */
  nightly: NightlyConfig;
  warnings: string[];
}

/**
 * 2^31 - 1 (2038-01-19T03:14:07Z). cpio newc and gzip headers hold 2^32 - 1 and odc and ustar
 * 2^33 - 1, but an ext4 image with 128-byte inodes (mke2fs's choice for small file systems) and
 * a 32-bit time_t reader (FreeBSD 10 on i386) stop at 2^31 - 1: the one bound every writer and reader keeps.
 */
export const MAX_SOURCE_DATE_EPOCH = 2 ** 31 - 1;

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.XDG_CACHE_HOME || resolve(homedir(), '.cache'), 'netboot');
}

/**
 * Checks a loaded config and resolves it: paths made absolute (relative to the config file),
 * each host's params parsed against its recipe. Every problem names its field; all are reported.
 */
export function validateConfig(raw: unknown, file: string, builtins: Recipe<any>[]): ResolvedConfig {
  const dir = dirname(file);
  const issues: Issues = { errors: [], warnings: [], baseDir: dir };
  if (!isPlainObject(raw))
    throw errors.configInvalid(file, ['the default export is not an object (use export default defineConfig({...}))']);
  const recipes = new Map(builtins.map((r) => [r.name, r]));
  const c = parseShape(configShape(dir, recipes), raw, '', issues)!;
  if (issues.errors.length) throw errors.configInvalid(file, issues.errors);
  checkSanRoots(
    perTarget((name) => c.san[name]),
    c.cache.dir,
    dir,
  );
  // Configs on the SAN name paths as the SAN sees them: for ssh:// roots, the remote path.
  const sanPaths = perTarget((name) => onSan(c.san[name]));
  const hosts = new Map<string, ResolvedHost>();
  for (const h of c.hosts.values()) hosts.set(h.name, resolveHost(h, c.san.server, sanPaths, c.san.http));
  const {
    cache: { dir: cache, remote },
    san,
    sourceDateEpoch,
    plugins = [],
    extend = {},
    nightly,
  } = c;
  const unknown = Object.keys(nightly.bootTest).filter((h) => !hosts.has(h));
  if (unknown.length)
    throw errors.configInvalid(
      file,
      unknown.map((h) => `nightly.bootTest.${h}: no such host; configured hosts: ${[...hosts.keys()].join(', ')}`),
    );
  return {
    file,
    dir,
    cache,
    remote,
    san,
    sourceDateEpoch,
    hosts,
    plugins,
    recipes,
    extend,
    nightly,
    warnings: issues.warnings,
  };
}

/** The config as a shape, in walk order (recipes before extend and hosts: they look names up in `recipes`). */
function configShape(dir: string, recipes: Map<string, Recipe<any>>) {
  return {
    cache: cacheSection(dir, defaultCacheDir()),
    san: sanSection(dir),
    sourceDateEpoch: p
      .custom<number>('number', (v, path, issues) => {
        if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_SOURCE_DATE_EPOCH) return v;
        issues.errors.push(
          `${path}: ${show(v)} is not a whole number of seconds from 0 to ${MAX_SOURCE_DATE_EPOCH} ` +
            '(2038-01-19, the last time every archive and image format holds)',
        );
      })
      .default(0),
    plugins: p.optional(pluginsSection),
    recipes: p.optional(recipesSection(recipes)),
    extend: p.optional(extendSection(recipes)),
    hosts: hostsSection(recipes),
    nightly: nightlySection(dir),
  };
}

const onSan = (root: string) => (root.startsWith('ssh://') ? (/^ssh:\/\/[^/]*(\/.*)$/.exec(root)?.[1] ?? '/') : root);

function resolveHost(h: ConfigHost, server: string, san: HostInfo['san'], http?: string): ResolvedHost {
  const { name, mac, ip, recipe, params, allowPublic, boot } = h;
  const withHttp = http && boot.loader === 'ipxe' ? { ...boot, http } : boot;
  return { name, recipe, params, allowPublic, info: { name, mac, ip, server, san, boot: withHttp } };
}
