import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from '../../base/canonical.js';
import { type Infer, p } from '../../core/schema.js';
import { mirrorUrl, suiteName } from './base.js';
import { type Asker, suiteDigest } from './mirror.js';

/**
 * What netboot knows of each Debian release it builds. bookworm and later prefer deb822 sources
 * and have a non-free-firmware component; trixie's initramfs-tools compresses with zstd (without
 * the zstd program it falls back to gzip with a warning, so the image gets zstd).
 */
export const SUITES = {
  bullseye: { version: 11, deb822: false, zstdInitrd: false },
  bookworm: { version: 12, deb822: true, zstdInitrd: true },
  trixie: { version: 13, deb822: true, zstdInitrd: true },
} as const;
export type Suite = keyof typeof SUITES;
export const SUITE_NAMES = Object.keys(SUITES) as Suite[];

export const component = p.string({ pattern: /^[a-z][a-z0-9-]*$/, what: 'a Debian archive component' });

/** One archive apt reads: a URI, its suites, components, and (only for a local test archive) no signature check. */
export const aptSource = p.object({
  uri: mirrorUrl,
  suites: p.array(suiteName),
  components: p.array(component).default(['main']),
  trusted: p.boolean().default(false),
});
export type AptSource = Infer<typeof aptSource>;

/**
 * The state of every suite the sources name, as one fingerprint: each suite's InRelease (or, for an
 * unsigned archive, Release) digest. A `-updates` suite the mirror no longer serves (HTTP 404: an
 * end-of-life release's may go) is recorded as absent, and left out of the sources by `renderSources`.
 */
export async function sourcesFingerprint(sources: AptSource[], ctx: Asker): Promise<string> {
  const state: Record<string, string> = {};
  // All suites at once: one round trip, not one per suite.
  const pairs = sources.flatMap((s) => s.suites.map((suite) => ({ uri: s.uri, suite })));
  const digests = await Promise.all(pairs.map((x) => suiteDigest(x.uri, x.suite, ctx)));
  pairs.forEach(({ uri, suite }, i) => {
    const d = digests[i];
    if (d === null && !suite.endsWith('-updates'))
      throw new Error(`${uri.replace(/\/+$/, '')}/dists/${suite}/InRelease: HTTP 404`);
    state[`${uri} ${suite}`] = d ?? 'absent';
  });
  return canonicalJson(state);
}

/** The sources a step's fingerprint found present (all of them when it has none, as in a plan without one). */
export function presentSources(sources: AptSource[], fingerprint: string | undefined): AptSource[] {
  const state = fingerprint ? (JSON.parse(fingerprint) as Record<string, string>) : {};
  return sources
    .map((s) => ({ ...s, suites: s.suites.filter((x) => state[`${s.uri} ${x}`] !== 'absent') }))
    .filter((s) => s.suites.length);
}

/** The image's apt sources as the suite prefers them: deb822 debian.sources (bookworm and later), else sources.list. */
export function renderSources(suite: Suite, sources: AptSource[]): { path: string; text: string } {
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  if (SUITES[suite].deb822)
    return {
      path: 'etc/apt/sources.list.d/debian.sources',
      text: sources
        .map((s) =>
          [
            'Types: deb',
            `URIs: ${s.uri}`,
            `Suites: ${s.suites.join(' ')}`,
            `Components: ${s.components.join(' ')}`,
            s.trusted ? 'Trusted: yes' : `Signed-By: ${keyring}`,
          ].join('\n'),
        )
        .join('\n\n')
        .concat('\n'),
    };
  const lines = sources.flatMap((s) =>
    s.suites.map((x) => `deb ${s.trusted ? '[trusted=yes] ' : ''}${s.uri} ${x} ${s.components.join(' ')}`),
  );
  return { path: 'etc/apt/sources.list', text: `${lines.join('\n')}\n` };
}

/** Writes the sources into a tree, replacing whatever apt read before (mmdebstrap's one-line sources.list). */
export async function writeSources(root: string, suite: Suite, sources: AptSource[]): Promise<void> {
  const { path, text } = renderSources(suite, sources);
  await mkdir(join(root, 'etc/apt/sources.list.d'), { recursive: true });
  await rm(join(root, 'etc/apt/sources.list'), { force: true });
  await rm(join(root, 'etc/apt/sources.list.d/debian.sources'), { force: true });
  await writeFile(join(root, path), text);
}

/** The sources of a suite: the main archive, and unless frozen its -updates and the security archive's -security. */
export function debianSources(o: {
  suite: string;
  mirror: string;
  securityMirror: string;
  components: string[];
  frozen: boolean;
  securityMirrorTrusted?: boolean;
}): { main: AptSource[]; all: AptSource[] } {
  const main: AptSource = { uri: o.mirror, suites: [o.suite], components: o.components, trusted: false };
  if (o.frozen) return { main: [main], all: [main] };
  return {
    main: [main],
    all: [
      { ...main, suites: [o.suite, `${o.suite}-updates`] },
      {
        uri: o.securityMirror,
        suites: [`${o.suite}-security`],
        components: o.components,
        trusted: !!o.securityMirrorTrusted,
      },
    ],
  };
}
