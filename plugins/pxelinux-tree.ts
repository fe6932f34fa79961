import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import { definePlugin, type Firmware, type HostInfo } from '../core/plugin.js';
import type { PublishLink } from '../core/recipe.js';
import { p } from '../core/schema.js';
import { IPXE_FILES, ipxeScript } from './ipxe-files.js';
import { GRUB_DISPATCH, grubEntry, UEFI_FILES, uefiSources } from './uefi-files.js';

const PXELINUX = '/usr/lib/PXELINUX/pxelinux.0';
const MODULES = '/usr/lib/syslinux/modules/bios';
const C32 = ['ldlinux.c32', 'menu.c32', 'libutil.c32', 'libcom32.c32'];

/** What a host's TFTP directory boots: legacy BIOS (PXELINUX), UEFI (shim and GRUB), or both. */
export const firmwareList = p.array(p.enum(['bios', 'uefi'] as const)).default(['bios', 'uefi']);

/** The firmware a host boots with: its config's `boot.firmware` (default both). */
export const hostFirmware = (host: HostInfo): Firmware[] => host.boot?.firmware ?? ['bios', 'uefi'];

/** The loader: PXELINUX (BIOS) and shim + GRUB (UEFI), or iPXE for both. */
export const loaderParam = p.enum(['pxelinux', 'ipxe'] as const).default('pxelinux');

/** The tftp step's loader params for a host: its loader and, for iPXE over HTTP, its directory's URL. */
export function loaderParams(host: HostInfo): { loader?: 'ipxe'; httpBase?: string } {
  if (host.boot?.loader !== 'ipxe') return {};
  return { loader: 'ipxe', ...(host.boot.http ? { httpBase: `${host.boot.http}${host.name}/` } : {}) };
}

/**
 * The stable link a UEFI host's release needs: the TFTP root's `grub/grub.cfg`, the one path
 * Debian's signed GRUB network image reads, to the host's copy of the dispatcher (identical
 * bytes in every host's directory, so whichever host it points to, every host boots its own).
 */
export const bootLinks = (host: HostInfo): PublishLink[] =>
  hostFirmware(host).includes('uefi') && host.boot?.loader !== 'ipxe'
    ? [{ target: 'tftp', path: 'grub/grub.cfg', to: 'grub/grub.cfg' }]
    : [];

/** The boot files the host's DHCP entry hands out, per firmware (for server-configs' params). */
export function dhcpBootFiles(host: HostInfo): {
  bootfile: string;
  bios?: false;
  efiBootfile?: string;
  ipxeScript?: string;
} {
  const fw = hostFirmware(host);
  const ipxe = host.boot?.loader === 'ipxe';
  return {
    bootfile: `${host.name}/${ipxe ? 'undionly.kpxe' : 'pxelinux.0'}`,
    ...(fw.includes('bios') ? {} : { bios: false as const }),
    ...(fw.includes('uefi') ? { efiBootfile: `${host.name}/${ipxe ? 'snponly.efi' : 'shimx64.efi'}` } : {}),
    ...(ipxe ? { ipxeScript: `${loaderParams(host).httpBase ?? `${host.name}/`}boot.ipxe` } : {}),
  };
}

/**
 * A host's TFTP directory, for each firmware it boots with, with its kernel and initrd.
 * - bios: its own pxelinux.0 and modules (Debian's pxelinux and syslinux-common). Booted as
 *   `<host>/pxelinux.0`, PXELINUX looks for `<host>/pxelinux.cfg/01-<mac>` and resolves
 *   KERNEL/INITRD in `<host>/` (its path prefix).
 * - uefi: Debian's signed shim as `shimx64.efi` and signed GRUB network image as `grubx64.efi`
 *   (shim loads that name from the directory it was booted from), the host's `grub.cfg`, and
 *   `grub/grub.cfg`, the same for every host, which the recipe links at the TFTP root's
 *   `grub/grub.cfg` (the one path that GRUB image reads): it hands over to `$cmdpath/grub.cfg`,
 *   the directory GRUB was booted from (see uefi-files.ts).
 * So each host's directory is whole on its own and switches atomically.
 */
export const pxelinuxTreePlugin = definePlugin({
  name: 'pxelinux-tree',
  version: '2',
  description: "a host's TFTP directory: pxelinux (BIOS) and/or shim + GRUB (UEFI), kernel, initrd, configs",
  params: {
    mac: p.mac(),
    label: p.string({ pattern: /^[A-Za-z0-9_.-]+$/, what: 'a label' }),
    // A control character would end the APPEND line, and what follows would be pxelinux directives.
    append: p.line('a kernel command line (one line, no control characters)'),
    serial: p.boolean().default(true),
    firmware: firmwareList,
    loader: loaderParam,
    /** iPXE: the http:// URL of the host's published directory (kernel and initrd over HTTP); absent: TFTP. */
    httpBase: p.optional(p.string({ pattern: /^http:\/\/[A-Za-z0-9.:_~/-]+\/$/, what: 'an http:// URL ending in /' })),
  },
  inputs: ['vmlinuz', 'initrd'],
  produces: { tree: 'tree' },
  // The boot loader files are local inputs: a syslinux, shim or GRUB upgrade changes the key
  // (only the loaders of the firmware the host boots with).
  sources: (params) =>
    params.loader === 'ipxe'
      ? IPXE_FILES.filter((f) => params.firmware.includes(f.firmware)).map((f) => f.from)
      : [
          ...(params.firmware.includes('bios') ? [PXELINUX, ...C32.map((m) => `${MODULES}/${m}`)] : []),
          ...(params.firmware.includes('uefi') ? uefiSources() : []),
        ],
  hostFiles: [
    { path: PXELINUX, package: 'pxelinux' },
    ...C32.map((m) => ({ path: `${MODULES}/${m}`, package: 'syslinux-common' })),
    ...UEFI_FILES.map((f) => ({ path: f.from, package: f.package })),
    ...IPXE_FILES.map((f) => ({ path: f.from, package: f.package })),
  ],
  async run(ctx) {
    const out = ctx.outputs.tree;
    const { mac, label, append, serial, firmware, loader, httpBase } = ctx.params;
    await chmod(out, 0o755);
    const files = ['vmlinuz', 'initrd.img'];
    await copyFile(ctx.inputs.vmlinuz.path, join(out, 'vmlinuz'));
    await copyFile(ctx.inputs.initrd.path, join(out, 'initrd.img'));
    if (loader === 'ipxe') {
      // iPXE expands ${...} in every command line: a kernel argument holding one would be rewritten.
      if (append.includes('${')) throw errors.badValue('pxelinux-tree.append', 'holds "${", which iPXE would expand');
      for (const f of IPXE_FILES.filter((x) => firmware.includes(x.firmware))) {
        await copyFile(f.from, join(out, f.name));
        files.push(f.name);
      }
      await writeFile(join(out, 'boot.ipxe'), ipxeScript(label, append, httpBase ?? ''));
      for (const f of files) await chmod(join(out, f), 0o644);
      return;
    }
    if (firmware.includes('bios')) {
      await mkdir(join(out, 'pxelinux.cfg'));
      await copyFile(PXELINUX, join(out, 'pxelinux.0'));
      for (const m of C32) await copyFile(`${MODULES}/${m}`, join(out, m));
      const cfg = pxelinuxEntry(label, append, serial);
      await writeFile(join(out, `pxelinux.cfg/01-${mac.replace(/:/g, '-')}`), cfg);
      // Any other machine that boots this directory gets the same entry.
      await writeFile(join(out, 'pxelinux.cfg/default'), cfg);
      files.push('pxelinux.0', ...C32);
    }
    if (firmware.includes('uefi')) {
      for (const f of UEFI_FILES) await copyFile(f.from, join(out, f.name));
      await writeFile(join(out, 'grub.cfg'), grubEntry(label, append));
      await mkdir(join(out, 'grub'));
      await writeFile(join(out, 'grub/grub.cfg'), GRUB_DISPATCH);
      files.push(...UEFI_FILES.map((f) => f.name));
    }
    for (const f of files) await chmod(join(out, f), 0o644);
  },
});

function pxelinuxEntry(label: string, append: string, serial: boolean): string {
  return [
    '# written by netboot',
    ...(serial ? ['SERIAL 0 115200'] : []),
    `DEFAULT ${label}`,
    'PROMPT 0',
    'TIMEOUT 0',
    `LABEL ${label}`,
    '  KERNEL vmlinuz',
    '  INITRD initrd.img',
    `  APPEND ${append}`,
    '',
  ].join('\n');
}
