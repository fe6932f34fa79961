/** The SAN roots a host's artifacts are published to (`san.tftp`, `san.nfs`, ...): the one list of them. */
export const TARGET_NAMES = ['tftp', 'nfs', 'nbd', 'conf'] as const;

export type TargetName = (typeof TARGET_NAMES)[number];

/** An object with one value per target, in TARGET_NAMES order. */
export function perTarget<T>(value: (name: TargetName) => T): Record<TargetName, T> {
  return Object.fromEntries(TARGET_NAMES.map((n) => [n, value(n)])) as Record<TargetName, T>;
}
