import { homedir } from 'node:os';
import { isIPv4 } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parseAllowPublic } from './allow-public.js';
import { checkSanRoots, reservedHostName, sshRootProblem } from './config-san.js';
import { errors } from '../base/errors.js';
import type { AnyPlugin, HostInfo } from '../core/plugin.js';
import type { Recipe, RecipeHooks } from '../core/recipe.js';
import { plugins as builtinPlugins } from '../plugins/index.js';
import { isPlainObject, parseShape, show, type Issues } from '../core/schema.js';

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
  san: {
    server: string;
    tftp: string;
    nfs: string;
    nbd: string;
    conf: string;
    keep: number;
    reload: Partial<Record<'tftp' | 'nfs' | 'nbd' | 'conf', string>>;
    ssh: { identityFile?: string; options?: string[] };
    allowPublic: string[];
  };
  sourceDateEpoch: number;
  hosts: Map<string, ResolvedHost>;
  plugins: AnyPlugin[];
  recipes: Map<string, Recipe<any>>;
  extend: Record<string, RecipeHooks>;
  warnings: string[];
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
/**
 * 2^31 - 1 (2038-01-19T03:14:07Z). cpio newc and gzip headers hold 2^32 - 1 and odc and ustar
 * 2^33 - 1, but an ext4 image with 128-byte inodes (mke2fs's choice for small file systems) and
 * a 32-bit time_t reader (FreeBSD 10 on i386) stop at 2^31 - 1: the one bound every writer and reader keeps.
 */
export const MAX_SOURCE_DATE_EPOCH = 2 ** 31 - 1;
// Labels joined by single dots, as dhcpd and dnsmasq take a host name (a..b or a trailing dot would fail there later).
const HOST_NAME = /^(?=.{1,63}$)[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;
const TOP_KEYS = new Set(['cache', 'san', 'sourceDateEpoch', 'hosts', 'plugins', 'recipes', 'extend']);
const SAN_KEYS = ['server', 'tftp', 'nfs', 'nbd', 'conf', 'keep', 'reload', 'ssh', 'allowPublic'] as const;
const HOST_KEYS = new Set(['recipe', 'mac', 'ip', 'params', 'description', 'allowPublic']);

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
  const err = (m: string) => issues.errors.push(m);
  if (!isPlainObject(raw)) throw errors.configInvalid(file, ['the default export is not an object (use export default defineConfig({...}))']);
  for (const k of Object.keys(raw)) if (!TOP_KEYS.has(k)) issues.warnings.push(`${k}: unknown key (ignored)`);

  const str = (v: unknown, path: string, fallback: string) => {
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || v === '') return void err(`${path}: ${show(v)} is not a path`), fallback;
    return v;
  };

  const cache = raw.cache === undefined ? defaultCacheDir() : resolve(dir, str(raw.cache, 'cache', '.netboot/cache'));
  const sanRaw = raw.san === undefined ? {} : raw.san;
  const san: ResolvedConfig['san'] = { server: '10.0.2.2', tftp: 'san/tftp', nfs: 'san/nfs', nbd: 'san/nbd', conf: 'san/conf', keep: 3, reload: {}, ssh: {}, allowPublic: [] };
  if (!isPlainObject(sanRaw)) err(`san: ${show(sanRaw)} is not an object`);
  else {
    for (const k of Object.keys(sanRaw)) if (!(SAN_KEYS as readonly string[]).includes(k)) issues.warnings.push(`san.${k}: unknown key (ignored)`);
    san.server = str(sanRaw.server, 'san.server', san.server);
    san.allowPublic = parseAllowPublic(sanRaw.allowPublic, 'san.allowPublic', err);
    if (!isIPv4(san.server)) err(`san.server: "${san.server}" is not an IPv4 address (clients have no DNS at boot)`);
    for (const k of ['tftp', 'nfs', 'nbd', 'conf'] as const) {
      const v = str(sanRaw[k], `san.${k}`, san[k]);
      if (v.startsWith('ssh://')) {
        const why = sshRootProblem(v);
        if (why) err(`san.${k}: "${v}" ${why}`);
        san[k] = v;
      } else san[k] = resolve(dir, v);
    }
    if (sanRaw.keep !== undefined) {
      if (typeof sanRaw.keep !== 'number' || !Number.isInteger(sanRaw.keep) || sanRaw.keep < 1) err(`san.keep: ${show(sanRaw.keep)} is not a whole number of releases (1 or more)`);
      else san.keep = sanRaw.keep;
    }
    if (sanRaw.reload !== undefined) {
      if (!isPlainObject(sanRaw.reload)) err('san.reload: not an object of commands per target');
      else
        for (const [k, v] of Object.entries(sanRaw.reload)) {
          if (!['tftp', 'nfs', 'nbd', 'conf'].includes(k)) err(`san.reload.${k}: not a target (tftp, nfs, nbd, conf)`);
          else if (typeof v !== 'string') err(`san.reload.${k}: not a command string`);
          else san.reload[k as 'tftp'] = v;
        }
    }
    if (sanRaw.ssh !== undefined) {
      const ssh = sanRaw.ssh;
      if (!isPlainObject(ssh)) err('san.ssh: not an object');
      else {
        if (ssh.identityFile !== undefined) {
          const f = str(ssh.identityFile, 'san.ssh.identityFile', '');
          san.ssh.identityFile = f.startsWith('~/') ? resolve(homedir(), f.slice(2)) : resolve(dir, f);
        }
        if (ssh.options !== undefined) {
          if (!Array.isArray(ssh.options) || ssh.options.some((o) => typeof o !== 'string')) err('san.ssh.options: not a list of strings');
          else san.ssh.options = ssh.options as string[];
        }
      }
    }
  }

  // Configs on the SAN name paths as the SAN sees them: for ssh:// roots, the remote path.
  // A refused ssh:// root is reported below; until then it only has to not throw here.
  const onSan = (root: string) => (root.startsWith('ssh://') ? (/^ssh:\/\/[^/]*(\/.*)$/.exec(root)?.[1] ?? '/') : root);
  const sanPaths = { tftp: onSan(san.tftp), nfs: onSan(san.nfs), nbd: onSan(san.nbd), conf: onSan(san.conf) };

  let sourceDateEpoch = 0;
  if (raw.sourceDateEpoch !== undefined) {
    const v = raw.sourceDateEpoch;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_SOURCE_DATE_EPOCH)
      err(`sourceDateEpoch: ${show(v)} is not a whole number of seconds from 0 to ${MAX_SOURCE_DATE_EPOCH} (2038-01-19, the last time every archive and image format holds)`);
    else sourceDateEpoch = v;
  }

  const plugins: AnyPlugin[] = [];
  if (raw.plugins !== undefined) {
    if (!Array.isArray(raw.plugins)) err('plugins: not a list');
    else
      raw.plugins.forEach((pl, i) => {
        if (!pl || typeof pl !== 'object' || !(pl as AnyPlugin).__plugin) return err(`plugins[${i}]: not a plugin (wrap it in definePlugin)`);
        if (plugins.some((q) => q.name === (pl as AnyPlugin).name)) throw errors.duplicatePlugin((pl as AnyPlugin).name);
        // Keys are named by plugin name and version: a user plugin called "tar" would share the built-in's cache entries.
        if (Object.values(builtinPlugins).some((b) => b.name === (pl as AnyPlugin).name && b !== pl)) throw errors.pluginNameTaken((pl as AnyPlugin).name);
        plugins.push(pl as AnyPlugin);
      });
  }

  const recipes = new Map(builtins.map((r) => [r.name, r]));
  if (raw.recipes !== undefined) {
    if (!Array.isArray(raw.recipes)) err('recipes: not a list');
    else
      raw.recipes.forEach((r, i) => {
        if (!r || typeof r !== 'object' || !(r as Recipe).__recipe) return err(`recipes[${i}]: not a recipe (wrap it in defineRecipe)`);
        recipes.set((r as Recipe).name, r as Recipe);
      });
  }

  const extend: Record<string, RecipeHooks> = {};
  if (raw.extend !== undefined) {
    if (!isPlainObject(raw.extend)) err('extend: not an object');
    else
      for (const [name, hooks] of Object.entries(raw.extend)) {
        if (!recipes.has(name)) throw errors.unknownRecipe(`extend.${name}`, name, [...recipes.keys()]);
        if (!isPlainObject(hooks) || (hooks.after !== undefined && !isPlainObject(hooks.after))) {
          err(`extend.${name}: expected { after: { stepId: (step, r) => ... } }`);
          continue;
        }
        for (const [step, fn] of Object.entries(hooks.after ?? {}))
          if (typeof fn !== 'function') err(`extend.${name}.after.${step}: not a function`);
        extend[name] = hooks as RecipeHooks;
      }
  }

  const hosts = new Map<string, ResolvedHost>();
  const byMac = new Map<string, string>();
  const byIp = new Map<string, string>();
  if (!isPlainObject(raw.hosts)) err('hosts: required object of hosts is missing');
  else
    for (const [name, h] of Object.entries(raw.hosts)) {
      const at = `hosts.${name}`;
      if (!HOST_NAME.test(name)) {
        err(`${at}: "${name}" is not a valid host name (letters, digits, '_', '-', labels joined by single dots)`);
        continue;
      }
      const reserved = reservedHostName(name);
      if (reserved) throw errors.hostNameReserved(at, reserved);
      if (!isPlainObject(h)) {
        err(`${at}: not an object`);
        continue;
      }
      for (const k of Object.keys(h)) if (!HOST_KEYS.has(k)) issues.warnings.push(`${at}.${k}: unknown key (ignored)`);
      const mac = typeof h.mac === 'string' && MAC.test(h.mac) ? h.mac.toLowerCase() : undefined;
      if (!mac) err(`${at}.mac: ${show(h.mac)} is not a MAC address`);
      const ip = typeof h.ip === 'string' && isIPv4(h.ip) ? h.ip : undefined;
      if (!ip) err(`${at}.ip: ${show(h.ip)} is not an IPv4 address`);
      if (mac && byMac.has(mac)) throw errors.duplicateAddress('MAC', mac, byMac.get(mac)!, name);
      if (ip && byIp.has(ip)) throw errors.duplicateAddress('IP', ip, byIp.get(ip)!, name);
      if (mac) byMac.set(mac, name);
      if (ip) byIp.set(ip, name);
      if (typeof h.recipe !== 'string') {
        err(`${at}.recipe: required recipe name is missing`);
        continue;
      }
      const recipe = recipes.get(h.recipe);
      if (!recipe) throw errors.unknownRecipe(`${at}.recipe`, h.recipe, [...recipes.keys()]);
      const params = parseShape(recipe.params ?? {}, h.params, `${at}.params`, issues);
      const allowPublic = parseAllowPublic(h.allowPublic, `${at}.allowPublic`, err);
      if (mac && ip && params)
        hosts.set(name, { name, recipe, params, allowPublic, info: { name, mac, ip, server: san.server, san: sanPaths } });
    }

  if (issues.errors.length) throw errors.configInvalid(file, issues.errors);
  checkSanRoots({ tftp: san.tftp, nfs: san.nfs, nbd: san.nbd, conf: san.conf }, cache, dir);
  return { file, dir, cache, san, sourceDateEpoch, hosts, plugins, recipes, extend, warnings: issues.warnings };
}
