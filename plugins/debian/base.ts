import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ifMissing } from '../../base/errno.js';
import type { DebStore } from '../../cache/deb-store.js';
import { definePlugin, type StepLogger } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { sh } from './chroot.js';
import { inReleaseDigest } from './mirror.js';

/** The values every Debian step shares: each reaches mmdebstrap's arguments, sources.list or an apt command line. */
export const suiteName = p.string({ pattern: /^[a-z][a-z0-9-]*$/, what: 'a Debian suite name' });
export const mirrorUrl = p.string({
  pattern: /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~%+-]+)*\/?$/,
  what: 'an http(s) mirror URL',
});
export const packageName = p.string({ pattern: /^[a-z0-9][a-z0-9.+-]*$/, what: 'a package name' });

/**
 * A Debian base tree from mmdebstrap. mmdebstrap rather than debootstrap: about as fast, it
 * cleans apt lists and caches itself, and with SOURCE_DATE_EPOCH set it clamps mtimes, so two
 * runs against the same mirror state differ only where Debian's postinst scripts insist.
 * mmdebstrap makes /dev/console 0666; a real system has it 0600 (any local user could write to
 * the console, and read it before devtmpfs is mounted over /dev).
 */
export const debianBasePlugin = definePlugin({
  name: 'debian-base',
  version: '2',
  description: 'mmdebstrap a Debian suite into a tree (fingerprint: the suite InRelease digest)',
  params: {
    suite: suiteName,
    mirror: mirrorUrl,
    variant: p.enum(['minbase', 'essential', 'apt', 'required', 'important', 'standard'] as const).default('minbase'),
    arch: p.string({ pattern: /^[a-z0-9]+$/, what: 'a Debian architecture' }).default('amd64'),
    include: p.array(packageName).default([]),
  },
  produces: { tree: 'tree' },
  tools: [{ name: 'mmdebstrap', package: 'mmdebstrap' }],
  fingerprint: (ctx) => inReleaseDigest(ctx.params.mirror, ctx.params.suite, ctx),
  async run(ctx) {
    const { suite, mirror, variant, arch, include } = ctx.params;
    const inc = include.length ? [`--include=${include.join(',')}`] : [];
    const hook =
      'rm -f "$1"/etc/resolv.conf; : > "$1"/etc/resolv.conf; : > "$1"/etc/machine-id; ' +
      'rm -f "$1"/etc/ssh/ssh_host_*; chmod 0600 "$1"/dev/console';
    // variant and arch are schema-checked words, so zx writes each option as one unquoted word either way
    const opts = [`--variant=${variant}`, `--architectures=${arch}`];
    const store = ctx.downloads ? storeHooks(ctx.downloads.dir, join(ctx.tmp, 'debs')) : [];
    const out = ctx.outputs.tree;
    await ctx.$`mmdebstrap --mode=root ${opts} ${inc} ${store} --customize-hook=${hook} ${suite} ${out} ${mirror}`;
    if (ctx.downloads) await storeFetched(ctx.downloads, join(ctx.tmp, 'debs'), ctx.log);
  },
});

/**
 * The download store in mmdebstrap's run. The setup hook runs apt-get update itself (mmdebstrap
 * then skips its own) and links in every stored package the fresh index names by SHA256, each
 * checked with sha256sum first (a damaged one is removed and downloaded again); `download/empty`
 * lets mmdebstrap start with them. A customize hook keeps what is in the archive dir at the end
 * (`essential/unlink` skipped, so the essential packages are still there) with the index's SHA256
 * of each, and storeFetched adds those the store lacks, checked again by their content.
 */
/**
 * awk over a file of SHA256s, then Packages indexes: "SHA256 NAME" for each package whose SHA256 is
 * in the first file, NAME as apt names it in its archive dir (name_version_arch.deb, an epoch's
 * ':' as %3a), never one with a '/'. Test: test/unit/deb-store.test.ts.
 */
export const APT_NAMES_AWK =
  // A name that could leave the archive dir (a hostile unsigned index) is never printed: the hook links to it as root.
  'function out() { if (s in want) { n = p "_" v "_" a ".deb"; gsub(/:/, "%3a", n); ' +
  'if (n ~ /^[A-Za-z0-9+~%][A-Za-z0-9.+~%_-]*$/) print s, n } s = "" } ' +
  'FILENAME == ARGV[1] { want[$1] = 1; next } FNR == 1 { out() } ' +
  '/^Package: / { p = $2 } /^Version: / { v = $2 } /^Architecture: / { a = $2 } /^SHA256: / { s = $2 } ' +
  '/^$/ { out() } END { out() }';

function storeHooks(storeDir: string, out: string): string[] {
  const names = APT_NAMES_AWK;
  const lists = '"$1"/var/lib/apt/lists/*_Packages';
  const setup = [
    'set -e',
    `S=${sh`${storeDir}`}`,
    // The store's last indexes first (checked; mtime 0, so apt never takes a 304 for a changed one):
    // apt answers "Hit" for a suite whose InRelease is the same, and fetches no index of it.
    'L="$1"/var/lib/apt/lists; mkdir -p "$L"',
    'for n in $(ls "$S/lists" 2>/dev/null || :); do',
    '  sha=$(cat "$S/lists/$n"); f="$S/$(printf %.2s "$sha")/$sha"',
    '  if printf "%s  %s\\n" "$sha" "$f" | sha256sum -c --status 2>/dev/null; then',
    '    { ln -f "$f" "$L/$n" || cp "$f" "$L/$n"; } && touch -h -d @0 "$L/$n"; fi',
    'done',
    'APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get update --error-on=any -q',
    // What apt has now, for storeFetched to keep (mmdebstrap removes the lists at its end).
    `mkdir -p ${sh`${out}.lists`}`,
    `for f in "$L"/*; do [ -f "$f" ] && [ "\${f##*/}" != lock ] && ln -f "$f" ${sh`${out}.lists`}/ || :; done`,
    'A="$1"/var/cache/apt/archives; mkdir -p "$A"',
    `{ find "$S" -type f -name '${'?'.repeat(64)}' -printf '%f\\n' 2>/dev/null || :; } > "$1"/tmp/netboot-have`,
    `awk ${sh`${names}`} "$1"/tmp/netboot-have ${lists} | while read -r sha name; do`,
    '  f="$S/$(printf %.2s "$sha")/$sha"',
    '  if printf "%s  %s\\n" "$sha" "$f" | sha256sum -c --status; then ln -f "$f" "$A/$name" || cp "$f" "$A/$name"',
    '  else rm -f "$f"; fi',
    'done',
    'rm -f "$1"/tmp/netboot-have',
  ].join('\n');
  const collect = [
    'set -e',
    `O=${sh`${out}`}`,
    'mkdir -p "$O"',
    'for f in "$1"/var/cache/apt/archives/*.deb; do [ -f "$f" ] && ln -f "$f" "$O/" || :; done',
    `ls "$O" | awk '{ print "-", $1 }' > "$O.names"`,
    // every SHA256 of the index, then keep those whose name is in the archive dir
    // (no uncompressed index, nothing to name: the store just gains nothing)
    `awk '/^SHA256: / { print $2 }' ${lists} > "$O.all" || :`,
    `awk ${sh`${names}`} "$O.all" ${lists} | awk 'FNR==NR { have[$2] = 1; next } ($2 in have)' "$O.names" - ` +
      '> "$O.map" || :',
  ].join('\n');
  return ['--skip=download/empty', '--skip=essential/unlink', `--setup-hook=${setup}`, `--customize-hook=${collect}`];
}

/** Adds what mmdebstrap fetched to the store (each checked against the index's SHA256), and says what it took. */
async function storeFetched(store: DebStore, out: string, log: StepLogger): Promise<void> {
  const map = await readFile(`${out}.map`, 'utf8').catch(ifMissing(''));
  let added = 0;
  let have = 0;
  for (const line of map.split('\n')) {
    const [sha, name] = line.split(' ');
    if (!sha || !name || name.includes('/')) continue;
    if (await store.has(sha)) have++;
    else if (await store.add(join(out, name), sha)) added++;
  }
  log.info(`downloads: ${have} packages were in the store, ${added} fetched and stored`);
  let lists = 0;
  for (const name of await readdir(`${out}.lists`).catch(ifMissing([] as string[])))
    if (await store.keepList(name, join(`${out}.lists`, name))) lists++;
  log.info(`apt lists: ${lists} kept in the store`);
}
