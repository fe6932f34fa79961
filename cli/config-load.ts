import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sha256 } from '../base/canonical.js';
import { ifMissing, isMissing } from '../base/errno.js';
import { errors, isNetbootError } from '../base/errors.js';
import { SEARCH_PLACES } from './config-places.js';

// In the bundle (dist/netboot.js) every module shares the bundle's URL, and the bundle is the
// public entry; unbundled (tests of the tsc output), the entry is index.js beside this file.
const HERE = import.meta.url;
const SELF_ENTRY = HERE.endsWith('/cli/config-load.js') ? new URL('../index.js', HERE).href : HERE;
const SELF_VERSION = (() => {
  for (const rel of ['../package.json', '../../package.json'])
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, HERE), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'netboot' && pkg.version) return pkg.version;
    } catch (e) {
      if (!isMissing(e)) throw e; // not there: try the next place
    }
  return 'dev';
})();

/** Finds the config file: --config if given, else cosmiconfig's search from `cwd` upwards. */
export async function findConfig(cwd: string, explicit?: string): Promise<string> {
  if (explicit) {
    const file = resolve(cwd, explicit);
    if (!existsSync(file)) throw errors.configLoad(file, 'no such file');
    return file;
  }
  // The common case, a config in the working directory, needs no search library at all.
  for (const name of SEARCH_PLACES) if (existsSync(join(cwd, name))) return join(cwd, name);
  const { cosmiconfig } = await import('cosmiconfig');
  const explorer = cosmiconfig('netboot', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'global',
    loaders: { '.ts': (f: string) => f, '.mts': (f: string) => f, '.js': (f: string) => f, '.mjs': (f: string) => f },
  });
  const found = await explorer.search(cwd);
  if (!found) throw errors.configNotFound(cwd);
  return found.filepath;
}

interface CompiledMeta {
  inputs: Record<string, string>;
}

/**
 * Imports the config module. TypeScript configs are bundled with esbuild (relative imports of
 * your own plugin files included) into `.netboot/config/` beside the config, keyed by content:
 * a later run re-hashes the inputs and imports the cached module without loading esbuild.
 */
export async function importConfig(file: string): Promise<unknown> {
  let url: string;
  try {
    url = ['.ts', '.mts', '.cts'].includes(extname(file)) ? await compiled(file) : pathToFileURL(file).href;
  } catch (e) {
    if (isNetbootError(e)) throw e;
    throw errors.configLoad(file, syntaxError(e) ?? (e as Error).message.split('\n')[0], e);
  }
  try {
    const mod = (await import(url)) as { default?: unknown };
    return mod.default;
  } catch (e) {
    if (isNetbootError(e)) throw e;
    throw errors.configLoad(file, (e as Error).message.split('\n')[0], e);
  }
}

/** esbuild's first error as `file:line:column: text` (its message says only "Build failed with 1 error"). */
function syntaxError(e: unknown): string | undefined {
  const first = (e as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] })
    .errors?.[0];
  if (!first) return undefined;
  const at = first.location;
  return at ? `${resolve(process.cwd(), at.file)}:${at.line}:${at.column + 1}: ${first.text}` : first.text;
}

async function compiled(file: string): Promise<string> {
  const source = await readFile(file);
  const id = `${sha256(`${SELF_VERSION}\0${SELF_ENTRY}\0${file}\0`).slice(0, 16)}-${sha256(source).slice(0, 32)}`;
  const outDir = join(dirname(file), '.netboot', 'config');
  const outFile = join(outDir, `${basename(file)}.${id}.mjs`);
  const metaFile = `${outFile}.json`;
  if (existsSync(outFile) && existsSync(metaFile)) {
    const meta = JSON.parse(await readFile(metaFile, 'utf8')) as CompiledMeta;
    let fresh = true;
    for (const [input, digest] of Object.entries(meta.inputs)) {
      const content = input === file ? source : await readFile(input).catch(ifMissing(undefined));
      if (!content || sha256(content) !== digest) fresh = false;
    }
    if (fresh) return pathToFileURL(outFile).href;
  }
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [file],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    metafile: true,
    logLevel: 'silent',
    packages: 'external',
    plugins: [
      {
        // One engine instance: the config's defineConfig/definePlugin are the running CLI's.
        name: 'netboot-self',
        setup(b) {
          b.onResolve({ filter: /^netboot$/ }, () => ({ path: SELF_ENTRY, external: true }));
        },
      },
    ],
  });
  const inputs: Record<string, string> = {};
  for (const input of Object.keys(result.metafile!.inputs)) {
    const abs = resolve(process.cwd(), input);
    inputs[abs] = sha256(abs === file ? source : await readFile(abs));
  }
  await mkdir(outDir, { recursive: true });
  const tmp = `${outFile}.${process.pid}.tmp`;
  await writeFile(tmp, result.outputFiles![0].contents);
  await rename(tmp, outFile);
  await writeFile(`${metaFile}.${process.pid}.tmp`, JSON.stringify({ inputs } satisfies CompiledMeta));
  await rename(`${metaFile}.${process.pid}.tmp`, metaFile);
  return pathToFileURL(outFile).href;
}
