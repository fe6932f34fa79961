import { readFile } from 'node:fs/promises';
import { errors } from '../../base/errors.js';
import { readHistory } from '../../cache/history.js';
import { PACKAGE_MANIFEST_FORMAT, type PackageManifest } from '../../plugins/debian/package-manifest.js';
import type { Command } from '../command.js';
import { Session } from '../session.js';

/** The step whose output is a Debian host's package manifest (pipelines/debian.ts). */
const STEP = 'package-manifest';

export const packages: Command = {
  summary: "The packages in a host's last built root: name, version, architecture, source package.",
  usage: 'netboot packages <host> [--json]',
  options: {},
  async run(args, ctx) {
    const [host] = args.positionals;
    if (!host || args.positionals.length > 1) throw errors.badOption(`usage: ${packages.usage}`);
    const session = await Session.open({
      config: args.values.config as string | undefined,
      cwd: ctx.io.cwd,
      warn: ctx.warn,
    });
    const graph = session.graph(host);
    if (!graph.steps.has(STEP)) throw errors.noPackageManifest(host, `its recipe makes no package manifest`);
    const last = (await readHistory(session.cache, host)).steps[STEP]?.outputs.manifest;
    if (!last)
      throw errors.noPackageManifest(host, `no build has made its package manifest yet: run netboot build ${host}`);
    const text = await readFile(session.cache.objectPath(last.digest), 'utf8').catch(() => {
      throw errors.noPackageManifest(
        host,
        `its last package manifest is no longer in the cache: run netboot build ${host}`,
      );
    });
    const manifest = JSON.parse(text) as PackageManifest;
    if (manifest.format !== PACKAGE_MANIFEST_FORMAT)
      throw errors.noPackageManifest(
        host,
        `its manifest has format ${manifest.format}, not ${PACKAGE_MANIFEST_FORMAT}`,
      );
    if (args.values.json) {
      ctx.io.out(JSON.stringify({ host, ...manifest }, null, 2));
      return 0;
    }
    const w = (k: 'name' | 'version' | 'architecture') => Math.max(...manifest.packages.map((x) => x[k].length));
    const [wn, wv, wa] = [w('name'), w('version'), w('architecture')];
    for (const x of manifest.packages)
      ctx.io.out(`${x.name.padEnd(wn)}  ${x.version.padEnd(wv)}  ${x.architecture.padEnd(wa)}  ${x.source}`);
    ctx.io.out(`${manifest.packages.length} packages`);
    return 0;
  },
};
