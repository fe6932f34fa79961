import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedConfig } from './config-validate.js';
import { execWord, unitPath } from './systemd-quote.js';

export const UNIT = 'netboot-nightly';

/**
 * The service runs one nightly; the timer starts it at `onCalendar`, catches up a run missed
 * while the machine was off (Persistent=true) and spreads the start (RandomizedDelaySec). A run
 * still going when the timer fires again is not started twice (systemd starts a running service
 * once; the nightly's own lock covers a manual run beside it).
 */
export function units(c: ResolvedConfig, node: string, bin: string): { service: string; timer: string } {
  const n = c.nightly;
  const service = [
    '[Unit]',
    'Description=netboot nightly rebuild (build, boot-test, publish what boots, report)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `WorkingDirectory=${unitPath(c.dir)}`,
    `ExecStart=${[node, bin, 'nightly', '--config', c.file].map(execWord).join(' ')}`,
    // Exit 1 (a host failed) is reported by the nightly itself; systemd marks the unit failed too.
    'Nice=10',
    'IOSchedulingClass=idle',
    '',
  ].join('\n');
  const timer = [
    '[Unit]',
    'Description=netboot nightly rebuild',
    '',
    '[Timer]',
    `OnCalendar=${n.onCalendar}`,
    'Persistent=true',
    `RandomizedDelaySec=${n.randomizedDelaySec}`,
    `Unit=${UNIT}.service`,
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
  return { service, timer };
}

export async function writeUnits(dir: string, u: { service: string; timer: string }): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = [join(dir, `${UNIT}.service`), join(dir, `${UNIT}.timer`)];
  await writeFile(files[0], u.service);
  await writeFile(files[1], u.timer);
  return files;
}
