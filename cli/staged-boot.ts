import { errors, isNetbootError, type NetbootError } from '../base/errors.js';
import type { BootFirmware } from '../boot/ovmf.js';
import { stagedRoots } from '../boot/staged-root.js';
import type { StagedRelease } from '../publish/publisher.js';
import type { CommandContext } from './command.js';
import { bootHost } from './commands/boot-test.js';
import type { Session } from './session.js';

export interface StagedBoot {
  firmwares: BootFirmware[];
  timeout: number;
  /** The live release before the switch, for the message ('' when nothing is live yet). */
  live: string;
  /** Where the boot test's own lines go (the nightly keeps them out of its report). */
  out: (line: string) => void;
  /** Firmwares that reached login, filled in as they do. */
  passed: BootFirmware[];
}

/**
 * Boot-before-switch: a publisher hook that boots the staged release, from a scratch view of the
 * SAN (boot/staged-root.ts), with each firmware in turn, and refuses the switch
 * (BOOT_TEST_FAILED, the console's last lines in its details) unless every boot reaches login.
 */
export function bootBeforeSwitch(session: Session, ctx: CommandContext, o: StagedBoot) {
  return async (s: StagedRelease): Promise<void> => {
    const h = session.config.hosts.get(s.host)!;
    const { tftp, nbd, nfs, conf } = session.config.san;
    if ([tftp, nbd, nfs].some((r) => r.startsWith('ssh://')))
      throw errors.bootTestUnsupported(s.host, 'the boot test needs the SAN roots on this machine');
    const view = stagedRoots(s, { tftp, nbd, nfs, conf });
    try {
      for (const firmware of o.firmwares) {
        o.out(`${s.host}: booting staged release ${s.id} (${firmware}) before it goes live`);
        try {
          await bootHost(
            { ...ctx, io: { ...ctx.io, out: o.out } },
            {
              host: s.host,
              mac: h.info.mac,
              tftp: view.tftp,
              nbd: view.nbd,
              nfsSource: view.nfsSource,
              firmware,
              timeout: o.timeout,
            },
          );
        } catch (e) {
          // Only the guest not booting is the release's fault; a missing OVMF or qemu is the host's, and
          // keeps its own code (the release is not switched in either way).
          if (isNetbootError(e) && e.code === 'BOOT_FAILED')
            throw errors.bootTestFailed(s.host, s.id, o.live, firmware, e);
          throw e;
        }
        o.passed.push(firmware);
      }
    } finally {
      view.remove();
    }
  };
}

/** The console lines a BOOT_TEST_FAILED carries (its details, after their heading). */
export function consoleOf(e: NetbootError): string[] {
  return e.details.filter((d) => d !== 'last console lines:').map((d) => d.replace(/^ {2}/, ''));
}
