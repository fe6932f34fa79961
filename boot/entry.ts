import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BootFirmware } from './ovmf.js';

/** A published host's boot entry for one firmware: where it is, what qemu boots, the kernel's command line. */
export interface BootEntry {
  /** The entry file, relative to the host's TFTP directory. */
  file: string;
  /** The boot file the DHCP reply names, relative to the TFTP root. */
  bootFile: string;
  /** Files beside the host directories the loader reads (relative to the TFTP root). */
  site: string[];
  /** The kernel command line, as the entry gives it; undefined when the entry is missing. */
  append?: string;
  /** iPXE: the http:// base the script loads kernel and initrd from (absent: TFTP). */
  http?: string;
  /** iPXE: the guest's NIC keeps qemu's iPXE ROM, which runs the script as its boot file. */
  ipxe?: boolean;
}

/** GRUB's word quoting undone: '...' literal, "..." and bare words as written. */
function grubWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/(?:'[^']*'|"[^"]*"|\\.|[^\s'"\\])+/g))
    words.push(m[0].replace(/'([^']*)'|"([^"]*)"|\\(.)/g, (_, a, b, c) => a ?? b ?? c));
  return words;
}

/**
 * The entry `firmware` boots in a host's published TFTP directory: PXELINUX's `01-<mac>` for
 * bios, the GRUB config beside shim for uefi and secureboot (see plugins/uefi-files.ts).
 */
export function bootEntry(hostTftp: string, host: string, mac: string, firmware: BootFirmware): BootEntry {
  const script = join(hostTftp, 'boot.ipxe');
  if (existsSync(script)) {
    // `kernel BASE/vmlinuz initrd=initrd.img ARGS`, as plugins/ipxe-files.ts writes it.
    const kernel = /^kernel\s+(\S*)vmlinuz\s+initrd=initrd\.img\s*(.*)$/m.exec(readFileSync(script, 'utf8'));
    return {
      file: 'boot.ipxe',
      bootFile: `${host}/boot.ipxe`,
      site: [],
      append: kernel?.[2] ?? '',
      ipxe: true,
      ...(kernel?.[1].startsWith('http://') ? { http: kernel[1] } : {}),
    };
  }
  if (firmware === 'bios') {
    const file = join('pxelinux.cfg', `01-${mac.replace(/:/g, '-')}`);
    const path = join(hostTftp, file);
    const append = existsSync(path) ? (/^\s*APPEND\s+(.*)$/m.exec(readFileSync(path, 'utf8'))?.[1] ?? '') : undefined;
    return { file, bootFile: `${host}/pxelinux.0`, site: [], append };
  }
  const path = join(hostTftp, 'grub.cfg');
  const line = existsSync(path) ? (/^\s*linux\s+\S+\s*(.*)$/m.exec(readFileSync(path, 'utf8'))?.[1] ?? '') : undefined;
  return {
    file: 'grub.cfg',
    bootFile: `${host}/shimx64.efi`,
    site: ['grub/grub.cfg'],
    append: line === undefined ? undefined : grubWords(line).join(' '),
  };
}
