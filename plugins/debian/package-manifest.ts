import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { definePlugin } from '../../core/plugin.js';

/** The manifest's format name: a reader (`netboot packages`, a release diff) checks it before trusting the rest. */
export const PACKAGE_MANIFEST_FORMAT = 'netboot.debian-packages/1';

/** One installed package, as dpkg's status records it. */
export interface ManifestPackage {
  name: string;
  version: string;
  architecture: string;
  /** The source package (dpkg's Source field without its version; the package's own name when absent). */
  source: string;
  /** The source package's version (differs from `version` for binNMUs and some source uploads). */
  sourceVersion: string;
}

export interface PackageManifest {
  format: typeof PACKAGE_MANIFEST_FORMAT;
  /** Sorted by name, then architecture: two manifests diff line by line. */
  packages: ManifestPackage[];
}

/** The installed packages of a dpkg status file (stanzas whose Status is "install ok installed"). */
export function parseDpkgStatus(text: string): ManifestPackage[] {
  const out: ManifestPackage[] = [];
  for (const stanza of text.split(/\n\n+/)) {
    const f: Record<string, string> = {};
    for (const m of stanza.matchAll(/^([A-Za-z0-9-]+):[ \t]*(.*)$/gm)) f[m[1]] = m[2].trim();
    if (!f.Package || !/\binstalled$/.test(f.Status ?? '') || !/^install ok/.test(f.Status ?? '')) continue;
    const src = /^(\S+)(?:\s+\((\S+)\))?$/.exec(f.Source ?? '');
    out.push({
      name: f.Package,
      version: f.Version,
      architecture: f.Architecture,
      source: src?.[1] ?? f.Package,
      sourceVersion: src?.[2] ?? f.Version,
    });
  }
  return out.sort((a, b) =>
    a.name === b.name ? a.architecture.localeCompare(b.architecture) : a.name < b.name ? -1 : 1,
  );
}

/**
 * Every package a Debian tree holds (name, version, architecture, source package), read from its
 * dpkg status in-process: a stable JSON file that travels with the release and that `netboot
 * packages <host>` and a release diff read.
 */
export const debianPackageManifestPlugin = definePlugin({
  name: 'debian-package-manifest',
  version: '1',
  description: "the installed packages of a Debian tree, from dpkg's status (JSON)",
  inputs: ['tree'],
  produces: { manifest: 'file' },
  async run(ctx) {
    const status = await readFile(join(ctx.inputs.tree.path, 'var/lib/dpkg/status'), 'utf8');
    const manifest: PackageManifest = { format: PACKAGE_MANIFEST_FORMAT, packages: parseDpkgStatus(status) };
    if (!manifest.packages.length) throw new Error('the tree has no installed package (var/lib/dpkg/status)');
    ctx.log.info(`${manifest.packages.length} packages`);
    await writeFile(ctx.outputs.manifest, `${JSON.stringify(manifest, null, 1)}\n`);
  },
});
