import { execFileSync } from 'node:child_process';

/**
 * What a suite offers today, read from the mirror's own Packages indexes (curl and xz, outside
 * netboot): for each package, the newest version among the suites given (amd64 and all).
 */
export function newestOffered(indexes: { uri: string; suite: string }[]): Map<string, string> {
  const best = new Map<string, string>();
  for (const { uri, suite } of indexes) {
    const url = `${uri}/dists/${suite}/main/binary-amd64/Packages.xz`;
    const text = execFileSync('bash', ['-c', `set -o pipefail; curl -fsS ${url} | xz -dc`], {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    });
    for (const stanza of text.split('\n\n')) {
      const name = /^Package: (.+)$/m.exec(stanza)?.[1];
      const version = /^Version: (.+)$/m.exec(stanza)?.[1];
      if (!name || !version) continue;
      const had = best.get(name);
      if (!had || newer(version, had)) best.set(name, version);
    }
  }
  return best;
}

/** dpkg's own version order. */
export function newer(a: string, b: string): boolean {
  try {
    execFileSync('dpkg', ['--compare-versions', a, 'gt', b]);
    return true;
  } catch {
    return false;
  }
}
