import { createHash } from 'node:crypto';
import type { HostInfo } from '../core/plugin.js';
import type { ArtifactRef, RecipeBuilder } from '../core/recipe.js';
import { p, type ShapeOut } from '../core/schema.js';
import { aptInstallPlugin } from '../plugins/debian/apt-install.js';
import { debianBasePlugin, mirrorUrl, packageName } from '../plugins/debian/base.js';
import { debianCustomizePlugin, passwordHash, user } from '../plugins/debian/customize.js';
import { debianKernelPlugin } from '../plugins/debian/kernel.js';
import { debianPackageManifestPlugin } from '../plugins/debian/package-manifest.js';
import { component, debianSources, SUITE_NAMES, SUITES } from '../plugins/debian/sources.js';
import { debianUpgradePlugin } from '../plugins/debian/upgrade.js';

/** Parameters every Debian recipe shares (the NBD one, kvm-host, lxc-host). */
export const debianParams = {
  /** The Debian release (one netboot knows: its sources format, initrd and module layout differ). */
  suite: p.enum(SUITE_NAMES).default('bullseye'),
  mirror: mirrorUrl.default('http://deb.debian.org/debian'),
  /** Where `<suite>-security` comes from. */
  securityMirror: mirrorUrl.default('http://deb.debian.org/debian-security'),
  /**
   * The security mirror is an unsigned local archive (a test repository): apt takes it with
   * [trusted=yes]. Never for a real mirror.
   */
  securityMirrorTrusted: p.boolean().default(false),
  /** Archive components; bookworm and later may add non-free-firmware. */
  components: p.array(component).default(['main']),
  /** A deliberately frozen image: the main suite only, no -updates and no -security (no upgrade step). */
  frozen: p.boolean().default(false),
  /** Added to the recipe's own package list. */
  packages: p.array(packageName).default([]),
  rootPasswordHash: p.optional(passwordHash),
  users: p.array(user).default([]),
  /** Extra kernel command line arguments (written into pxelinux.cfg's APPEND line: no control characters). */
  kernelArgs: p.line('a kernel command line (one line, no control characters)').default(''),
};

export type DebianParams = ShapeOut<typeof debianParams>;

/**
 * What boots to a login with network and SSH, whatever the root is served by (systemd-networkd, in systemd, is
 * the DHCP client).
 */
export const BASE_PACKAGES = [
  'linux-image-amd64',
  'initramfs-tools',
  'systemd-sysv',
  'openssh-server',
  'sudo',
  'iproute2',
];

/**
 * The shared part of every Debian recipe: base (mmdebstrap, shared by every host on the same
 * suite and mirror), the recipe's packages, the config's extra packages, customization, kernel
 * and initrd. Returns the refs a recipe
 * lays out and publishes its own way.
 */
export function debianRoot(
  r: RecipeBuilder,
  params: DebianParams,
  host: HostInfo,
  o: { packages: string[]; fstab: string; initrdRequires?: string[]; overlayRoot?: boolean },
) {
  const base = r.step('base', debianBasePlugin, { params: { suite: params.suite, mirror: params.mirror } });
  const sources = debianSources(params);
  // zstd where the suite's initramfs-tools compresses with it (without it, mkinitramfs falls back to gzip).
  const suitePackages = SUITES[params.suite].zstdInitrd ? ['zstd'] : [];
  const recipePackages = [...new Set([...BASE_PACKAGES, ...suitePackages, ...o.packages])].sort();
  // The main suite only: a security fix changes neither the base nor this step, which every host
  // of the recipe (and suite) shares.
  const packages = r.step('packages', aptInstallPlugin, {
    params: { suite: params.suite, sources: sources.main, packages: recipePackages },
    inputs: { tree: base.out('tree') },
  });
  // What a security update re-runs, from here on: dist-upgrade of a copy (only the changed
  // packages are downloaded), keyed on the -updates and -security suites' state.
  const upgraded = params.frozen
    ? packages.out('tree')
    : r
        .step('upgrade', debianUpgradePlugin, {
          params: { suite: params.suite, sources: sources.all, watch: sources.all.map(updateSuitesOnly(params.suite)) },
          inputs: { tree: packages.out('tree') },
        })
        .out('tree');
  // The config's own packages on top, in a step of their own: adding one re-runs only from here,
  // and every host of the recipe shares the steps above.
  const extra = params.packages.filter((x) => !recipePackages.includes(x));
  const installed = extra.length
    ? r
        .step('extra-packages', aptInstallPlugin, {
          params: { suite: params.suite, sources: sources.all, packages: [...new Set(extra)].sort() },
          inputs: { tree: upgraded },
        })
        .out('tree')
    : upgraded;
  const manifest = r.step('package-manifest', debianPackageManifestPlugin, { inputs: { tree: installed } });
  const rootfs = r.step('customize', debianCustomizePlugin, {
    params: {
      hostname: host.name,
      ip: host.ip,
      mac: host.mac,
      fstab: o.fstab,
      rootPasswordHash: params.rootPasswordHash,
      users: params.users,
      ...(o.overlayRoot ? { overlayRoot: true } : {}),
    },
    inputs: { tree: installed },
  });
  const kernel = r.step('kernel', debianKernelPlugin, {
    params: o.initrdRequires ? { require: o.initrdRequires } : {},
    inputs: { tree: rootfs.out('tree') },
  });
  return {
    rootfs: rootfs.out('tree') as ArtifactRef,
    vmlinuz: kernel.out('vmlinuz'),
    initrd: kernel.out('initrd'),
    /** Published to the conf target, not TFTP: a list of versions tells anyone which fixes a host lacks. */
    packageManifest: { target: 'conf' as const, path: 'packages.json', from: manifest.out('manifest') },
  };
}

/** A stable UUID for a host's file system: the same host always gets the same image. */
export function hostUuid(host: string, purpose: string): string {
  const h = createHash('sha256').update(`netboot:${purpose}:${host}`).digest('hex');
  return (
    `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-` +
    `${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
  );
}

/** The sources an upgrade watches: the update suites, not the main one (its state is in the input tree). */
function updateSuitesOnly(suite: string) {
  return <S extends { suites: string[] }>(s: S): S => ({ ...s, suites: s.suites.filter((x) => x !== suite) });
}
