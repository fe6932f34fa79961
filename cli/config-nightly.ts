// The `nightly` section of a config: what `netboot nightly` does unattended (cli/commands/nightly.ts).
import { join } from 'node:path';
import { BOOT_FIRMWARES, type BootFirmware } from '../boot/ovmf.js';
import { HOST_NAME, HOST_NAME_WHAT, p } from '../core/schema.js';
import { pathIn } from './config-san.js';

export interface NightlyConfig {
  /** A command run with `sh -c`, the report on its stdin, when something changed or failed. */
  notify?: string;
  /** systemd's OnCalendar for `--install-timer` (default daily at 03:00). */
  onCalendar: string;
  /** The timer's RandomizedDelaySec, in seconds (default 1800). */
  randomizedDelaySec: number;
  /** Where the report goes: `<report>/last.txt` and `<report>/last.json` (default .netboot/nightly). */
  report: string;
  /** Hosts whose new release is booted before it goes live, with the firmwares to boot. */
  bootTest: Record<string, BootFirmware[]>;
  /** Seconds one boot may take to reach `login:` (default 300). */
  bootTimeout: number;
}

/** systemd.time(7) calendar events: words, digits, `*`, `,`, `:`, `-`, `.`, `/`, `~` and spaces; one line. */
const CALENDAR = /^[A-Za-z0-9*,:./~ -]{1,100}$/;

export function nightlySection(dir: string) {
  return p.section({
    notify: p.optional(p.line('a command (one line, no control characters)')),
    onCalendar: p
      .string({ pattern: CALENDAR, what: 'a systemd OnCalendar expression (e.g. "*-*-* 03:00:00")' })
      .default('*-*-* 03:00:00'),
    randomizedDelaySec: p.number({ integer: true, min: 0, max: 86_400 }).default(1800),
    report: pathIn(dir).default(join(dir, '.netboot/nightly')),
    bootTest: p
      .record(p.array(p.enum(BOOT_FIRMWARES as readonly BootFirmware[])), { pattern: HOST_NAME, what: HOST_NAME_WHAT })
      .default({}),
    bootTimeout: p.number({ integer: true, min: 10, max: 3600 }).default(300),
  });
}
