import type { Shell } from 'zx';

/**
 * Runs a shell script chrooted into `root`, in a private mount namespace with /proc, /sys and
 * /dev mounted for it. The mounts live and die with that namespace: a killed build leaves no
 * bind mount behind in a scratch directory (where `rm -rf` would follow it into the host's /dev).
 * Services are kept from starting by a policy-rc.d for the duration.
 */
export async function inChroot(
  $: Shell,
  root: string,
  script: string,
  overlay?: { lower: string; upper: string; work: string },
): Promise<void> {
  const setup = [
    'set -e',
    `R=${JSON.stringify(root)}`,
    // Over a read-only input: the step sees the tree, its writes land in `upper`, the input is untouched.
    ...(overlay
      ? [
          `mkdir -p "$R" ${JSON.stringify(overlay.upper)} ${JSON.stringify(overlay.work)}`,
          'mount -t overlay overlay -o ' +
            shellQuote(`lowerdir=${overlay.lower},upperdir=${overlay.upper},workdir=${overlay.work}`) +
            ' "$R"',
        ]
      : []),
    'mount -t proc proc "$R/proc"',
    'mount -t sysfs sys "$R/sys"',
    'mount --rbind /dev "$R/dev"',
    'printf "#!/bin/sh\\nexit 101\\n" > "$R/usr/sbin/policy-rc.d"; chmod 755 "$R/usr/sbin/policy-rc.d"',
    'trap \'rm -f "$R/usr/sbin/policy-rc.d"\' EXIT',
    `chroot "$R" /bin/sh -ec ${shellQuote(script)}`,
  ].join('\n');
  await $`unshare --mount --propagation private /bin/sh -ec ${setup}`;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A shell command line with every interpolated value single-quoted: a value is always one word, never code. */
export function sh(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  return strings.reduce((out, s, i) => out + shellQuote(String(values[i - 1])) + s);
}

/** What a Debian tree must not carry out of a build step: caches, logs, host identity, secrets. */
export const SCRUB = [
  'apt-get clean',
  'rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/apt/lists/partial',
  'rm -f /var/log/dpkg.log /var/log/apt/*.log /var/log/alternatives.log /var/log/bootstrap.log ' +
    '/var/cache/ldconfig/aux-cache',
  'rm -f /etc/ssh/ssh_host_*',
  ': > /etc/machine-id',
  'rm -f /var/lib/dbus/machine-id',
  'rm -f /etc/resolv.conf && : > /etc/resolv.conf',
].join('\n');
