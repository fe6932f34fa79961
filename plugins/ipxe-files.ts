// iPXE as a host's loader (`boot.loader: 'ipxe'`), from the build machine's Debian package ipxe:
// `undionly.kpxe` for BIOS (it drives the NIC through the PXE ROM's UNDI), `snponly.efi` for
// UEFI (through the firmware's SNP driver: the one that works on most UEFI NICs; `ipxe.efi`
// carries its own drivers). Neither is signed for Secure Boot. Once iPXE runs, it asks DHCP again
// with user-class "iPXE" and gets the host's script, `boot.ipxe`, which loads the kernel and
// initrd over TFTP (relative to the script) or HTTP (from `san.http`).

export const IPXE_FILES = [
  { name: 'undionly.kpxe', from: '/usr/lib/ipxe/undionly.kpxe', package: 'ipxe', firmware: 'bios' },
  { name: 'snponly.efi', from: '/usr/lib/ipxe/snponly.efi', package: 'ipxe', firmware: 'uefi' },
] as const;

/**
 * The host's iPXE script: the same kernel, initrd and command line as its PXELINUX entry.
 * `base` is '' (TFTP, relative to the script's own URI) or an http:// URL of the host's directory.
 * `initrd=initrd.img` names the initrd for the kernel's EFI stub (iPXE registers it under that name).
 */
export function ipxeScript(label: string, append: string, base: string): string {
  return [
    '#!ipxe',
    `# written by netboot: ${label}`,
    `kernel ${base}vmlinuz initrd=initrd.img ${append}`.trimEnd(),
    `initrd ${base}initrd.img`,
    'boot',
    '',
  ].join('\n');
}
