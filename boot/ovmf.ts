import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

/** What `boot-test --firmware` boots with: SeaBIOS (legacy PXE), OVMF, or OVMF with Secure Boot enforced. */
export type BootFirmware = 'bios' | 'uefi' | 'secureboot';
export const BOOT_FIRMWARES: readonly BootFirmware[] = ['bios', 'uefi', 'secureboot'];

const OVMF = '/usr/share/OVMF';
/** Debian's ovmf: the firmware code (read-only) and the variable store template for each mode. */
export const OVMF_FILES = {
  uefi: { code: `${OVMF}/OVMF_CODE_4M.fd`, vars: `${OVMF}/OVMF_VARS_4M.fd` },
  // The variable store with Microsoft's keys enrolled (PK, KEK, db): Secure Boot is on from the start.
  secureboot: { code: `${OVMF}/OVMF_CODE_4M.secboot.fd`, vars: `${OVMF}/OVMF_VARS_4M.ms.fd` },
} as const;

/** The OVMF files a firmware needs that are missing here (none for bios). */
export function missingOvmf(firmware: BootFirmware): string[] {
  if (firmware === 'bios') return [];
  const f = OVMF_FILES[firmware];
  return [f.code, f.vars].filter((p) => !existsSync(p));
}

/**
 * qemu's machine and firmware arguments. UEFI boots from a private copy of the variable store
 * (OVMF writes its boot entries there; the package's template stays as shipped). Secure Boot
 * needs q35 with SMM, and the flash marked secure, or OVMF's SMM-protected variables refuse to
 * start. The NIC gets no option ROM under UEFI: qemu's iPXE ROMs are not signed (refused under
 * Secure Boot), and OVMF's own network stack boots the same way in both modes.
 */
export function firmwareArgs(firmware: BootFirmware, work: string): { machine: string[]; nicRom: string[] } {
  if (firmware === 'bios') return { machine: [], nicRom: [] };
  const f = OVMF_FILES[firmware];
  const vars = join(work, 'OVMF_VARS.fd');
  copyFileSync(f.vars, vars);
  const secure =
    firmware === 'secureboot'
      ? ['-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on']
      : [];
  return {
    machine: [
      ...secure,
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${f.code}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${vars}`,
    ],
    nicRom: ['romfile='],
  };
}
