import type { AnyPlugin } from '../core/plugin.js';
import type { Recipe, RecipeHooks } from '../core/recipe.js';
import type { ShapeIn } from '../core/schema.js';
import type { TargetName } from '../core/targets.js';
import type { BuiltinRecipes } from '../pipelines/index.js';

export interface SanConfig {
  /** Address the diskless clients use to reach the SAN (TFTP next-server, NFS/NBD server). */
  server?: string;
  /** Each root: a local directory (relative to the config file) or ssh://user@host[:port]/path. */
  tftp?: string;
  nfs?: string;
  nbd?: string;
  conf?: string;
  /** Releases kept per host and target (the live one and the one before it are always kept). Default 3. */
  keep?: number;
  /**
   * A command per target, run with `sh -c` after a switch (e.g. 'systemctl reload nbd-server');
   * `site` runs after the site release (all hosts' server configs) switched.
   */
  reload?: Partial<Record<TargetName | 'site', string>>;
  /** How to reach ssh:// roots. */
  ssh?: { identityFile?: string; options?: string[] };
  /** Paths of every host's TFTP directory to publish although they look private (see README, Permission model). */
  allowPublic?: string[];
  /** The URL (http://IPv4[:port]/..., ending in '/') from which the SAN serves the TFTP root, for iPXE hosts. */
  http?: string;
  /** iSCSI disks the SAN serves with tgt, for hosts whose recipe has `iscsi` params. */
  iscsi?: {
    /** Where netboot creates sparse backing files (default san/iscsi); a configured file must lie below it. */
    storage?: string;
    disks?: Record<
      string,
      {
        /** A block device (/dev/...) or a file below `storage`; default: a sparse `<storage>/<host>.img`. */
        backingStore?: string;
        /** Size of the sparse file netboot creates (default 1G); never changed or deleted after. */
        size?: string;
        /** On the SAN: the host's CHAP secret (needed with the recipe's `iscsi.chapUser`), read at publish. */
        secretFile?: string;
      }
    >;
  };
}

type ParamsIn<R> = R extends Recipe<infer S, any> ? ShapeIn<S> : never;

type HostFor<Name extends string, R> = {
  recipe: Name;
  /** The boot interface's MAC address, aa:bb:cc:dd:ee:ff. */
  mac: string;
  /** The host's IPv4 address. */
  ip: string;
  description?: string;
  /** Paths of this host's TFTP directory to publish although they look private (see README, Permission model). */
  allowPublic?: string[];
  /** What the host's TFTP directory boots (default both firmwares) and with which loader (default pxelinux). */
  boot?: { firmware?: ('bios' | 'uefi')[]; loader?: 'pxelinux' | 'ipxe' };
} & ({} extends ParamsIn<R> ? { params?: ParamsIn<R> } : { params: ParamsIn<R> });

type RecipeMap<R extends readonly Recipe<any, string>[]> = BuiltinRecipes & { [X in R[number] as X['name']]: X };

export type HostConfig<M = BuiltinRecipes> = { [K in keyof M & string]: HostFor<K, M[K]> }[keyof M & string];

export interface CacheConfig {
  dir?: string;
  remote?: {
    url: string;
    push?: boolean;
    insecure?: boolean;
    required?: boolean;
    timeoutMs?: number;
    mountFrom?: string[];
  };
}

export interface NetbootConfig<R extends readonly Recipe<any, string>[] = []> {
  /**
   * Cache directory, relative to the config file (default: $XDG_CACHE_HOME/netboot, i.e.
   * ~/.cache/netboot), or `{ dir, remote: { url: 'oci://host:port/repo', push, insecure } }` to
   * share steps through an OCI registry (see README, Remote cache).
   */
  cache?: string | CacheConfig;
  san?: SanConfig;
  /** Timestamp (seconds) that every archive and image netboot writes is clamped to: 0 to 2147483647. Default 0. */
  sourceDateEpoch?: number;
  hosts: Record<string, HostConfig<RecipeMap<R>>>;
  /** Your own plugins, so `netboot ls` lists them and their names stay unique. */
  plugins?: AnyPlugin[];
  /** Your own recipes, usable as `recipe:` of a host. */
  recipes?: R;
  /** Steps to add to a recipe: `extend: { 'recipe-name': { after: { stepId: (step, r) => ... } } }`. */
  extend?: { [K in keyof RecipeMap<R>]?: RecipeHooks };
  /** What `netboot nightly` does unattended (see README, Nightly rebuilds). */
  nightly?: {
    /** Run with `sh -c`, the report on its stdin, when something changed or failed (e.g. 'mail -s netboot root'). */
    notify?: string;
    /** OnCalendar of the timer `netboot nightly --install-timer` writes. Default '*-*-* 03:00:00'. */
    onCalendar?: string;
    /** The timer's RandomizedDelaySec, in seconds. Default 1800. */
    randomizedDelaySec?: number;
    /** Directory of the report (last.txt, last.json), relative to the config file. Default .netboot/nightly. */
    report?: string;
    /** Hosts whose new release is booted in qemu before it goes live, and with which firmwares. */
    bootTest?: Record<string, ('bios' | 'uefi' | 'secureboot')[]>;
    /** Seconds one boot may take to reach the login prompt. Default 300. */
    bootTimeout?: number;
  };
}

/**
 * Declares netboot's configuration. An identity helper: it returns its argument, and gives
 * editors the types (each host's `params` are checked against its recipe's declaration).
 */
export function defineConfig<const R extends readonly Recipe<any, string>[] = []>(
  config: NetbootConfig<R>,
): NetbootConfig<R> {
  return config;
}
