// The `hosts` section of a config: each host's name, addresses and recipe, and its params parsed
// against that recipe. Names and addresses are unique; a name netboot or a boot loader uses at
// the top of a SAN root is refused.
import { errors } from '../base/errors.js';
import type { Firmware, HostBoot } from '../core/plugin.js';
import type { Recipe } from '../core/recipe.js';
import { type Issues, isPlainObject, p, parseShape, show } from '../core/schema.js';
import { firmwareList, loaderParam } from '../plugins/pxelinux-tree.js';
import { allowPublicList } from './allow-public.js';

/**
 * Names a host may not have: what netboot or a boot loader puts beside the host directories at a
 * root's top (pxelinux.cfg/ holds the stable links, .releases/ and .disks/ the releases), and
 * the names PXE, EFI and GRUB clients look for there. Compared without case: TFTP clients and
 * some SAN file systems do not keep it.
 */
export const RESERVED_HOST_NAMES = [
  // the conf target's site release (all hosts' server configs at once)
  'site',
  'pxelinux.cfg',
  'pxelinux.0',
  'lpxelinux.0',
  'gpxelinux.0',
  'ldlinux.c32',
  'grub',
  'grub2',
  'efi',
  'boot',
  'ipxe',
  'conf',
  'releases',
  'disks',
  'default',
  'lost+found',
];

/** The host-name part of a config error, or nothing if the name is free. */
function reservedHostName(name: string): string | undefined {
  if (!RESERVED_HOST_NAMES.includes(name.toLowerCase())) return undefined;
  return `"${name}" is a name netboot or a boot loader uses at the top of a SAN root`;
}

export interface ConfigHost {
  name: string;
  mac: string;
  ip: string;
  recipe: Recipe<any>;
  params: Record<string, unknown>;
  /** Paths of this host's TFTP directory published although they look private (with san.allowPublic). */
  allowPublic: string[];
  boot: HostBoot;
}

const hostName = p.hostName();
const hostShape = {
  recipe: p.custom<string>('recipe name', (v, path, issues) =>
    typeof v === 'string' ? v : void issues.errors.push(`${path}: ${show(v)} is not a recipe name`),
  ),
  mac: p.mac(),
  ip: p.ipv4(),
  /** Parsed once the recipe is known: its params say what they hold. */
  params: p.optional(p.custom<unknown>('object', (v) => v)),
  description: p.optional(p.string()),
  allowPublic: allowPublicList,
  /** `boot.firmware`: what the host's TFTP directory boots (default both; see plugins/pxelinux-tree.ts). */
  boot: p.section({ firmware: firmwareList, loader: loaderParam }),
};

/** `hosts`: every host, its recipe looked up in `known`. */
export function hostsSection(known: Map<string, Recipe<any>>) {
  return p.custom<Map<string, ConfigHost>>('object of hosts', (v, path, issues) => {
    if (!isPlainObject(v)) return void issues.errors.push(`${path}: ${show(v)} is not an object of hosts`);
    const hosts = new Map<string, ConfigHost>();
    const seen = { MAC: new Map<string, string>(), IP: new Map<string, string>() };
    for (const [name, raw] of Object.entries(v)) {
      const host = parseHost(name, raw, `${path}.${name}`, { known, seen, issues });
      if (host) hosts.set(name, host);
    }
    return hosts;
  });
}

interface HostContext {
  known: Map<string, Recipe<any>>;
  /** Each address already taken, with its host's name. */
  seen: Record<'MAC' | 'IP', Map<string, string>>;
  issues: Issues;
}

function parseHost(
  name: string,
  raw: unknown,
  at: string,
  { known, seen, issues }: HostContext,
): ConfigHost | undefined {
  if (hostName.parse(name, at, issues) === undefined) return undefined;
  const reserved = reservedHostName(name);
  if (reserved) throw errors.hostNameReserved(at, reserved);
  const h = parseShape(hostShape, raw, at, issues);
  if (!h) return undefined;
  for (const [what, value] of [
    ['MAC', h.mac],
    ['IP', h.ip],
  ] as const) {
    if (value === undefined) continue;
    const other = seen[what].get(value);
    if (other !== undefined) throw errors.duplicateAddress(what, value, other, name);
    seen[what].set(value, name);
  }
  if (h.recipe === undefined) return undefined;
  const recipe = known.get(h.recipe);
  if (!recipe) throw errors.unknownRecipe(`${at}.recipe`, h.recipe, [...known.keys()]);
  const params = parseShape(recipe.params ?? {}, h.params, `${at}.params`, issues);
  if (!h.mac || !h.ip || !params) return undefined;
  const boot: HostBoot = {
    firmware: [...new Set(h.boot?.firmware ?? [])].sort() as Firmware[],
    ...(h.boot?.loader === 'ipxe' ? { loader: 'ipxe' as const } : {}),
  };
  if (h.boot && !boot.firmware.length)
    throw errors.badValue(`${at}.boot.firmware`, 'is empty: name bios, uefi or both');
  return { name, mac: h.mac, ip: h.ip, recipe, params, allowPublic: h.allowPublic, boot };
}
