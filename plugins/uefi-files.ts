// UEFI network boot with Secure Boot, from the build machine's Debian packages: the
// Microsoft-signed shim and Debian's signed GRUB network image. What each reads (checked in
// their binaries and by booting them under OVMF with Secure Boot enforced):
// - shim, booted by the firmware as `<host>/shimx64.efi`, fetches `grubx64.efi` over TFTP from
//   the same directory (its DEFAULT_LOADER, next to the boot file the DHCP reply named);
// - that GRUB image (`grubnetx64.efi.signed`) has the prefix `/grub` built in and a memdisk
//   config that sources `$prefix/x86_64-efi/grub.cfg` if it exists, else `$prefix/grub.cfg`: so
//   it reads `(tftp,<server>)/grub/grub.cfg` at the TFTP root, whatever directory it came from;
// - GRUB sets `$cmdpath` to `(tftp,<server>)<host>`: the directory of the boot file. The site's
//   `grub/grub.cfg` is the same for every host and hands over to `$cmdpath/grub.cfg`, the
//   host's own entry, which loads `$cmdpath/vmlinuz` and `$cmdpath/initrd.img`.

/** What a UEFI host's directory holds from the build machine, and the package each comes from. */
export const UEFI_FILES = [
  { name: 'shimx64.efi', from: '/usr/lib/shim/shimx64.efi.signed', package: 'shim-signed' },
  {
    name: 'grubx64.efi',
    from: '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed',
    package: 'grub-efi-amd64-signed',
  },
] as const;

export const uefiSources = () => UEFI_FILES.map((f) => f.from);

/** The TFTP root's `grub/grub.cfg`: the same bytes for every host, so any host may own the link. */
export const GRUB_DISPATCH = [
  "# written by netboot: the same for every host. Debian's signed GRUB network image reads this",
  "# file; the host's own entry is grub.cfg in the directory it booted from ($cmdpath).",
  'configfile $cmdpath/grub.cfg',
  '',
].join('\n');

/** A word as GRUB's parser reads it literally: in single quotes, a quote as '\''. */
const grubWord = (w: string) => `'${w.replace(/'/g, "'\\''")}'`;

/**
 * The host's GRUB entry: the same kernel, initrd and command line as its PXELINUX entry. Every
 * word of the command line is quoted, so `$`, `;` or `{` in it stay the kernel's.
 */
export function grubEntry(label: string, append: string): string {
  const args = append.split(/\s+/).filter(Boolean).map(grubWord).join(' ');
  return [
    '# written by netboot',
    'set default=0',
    'set timeout=0',
    `menuentry ${grubWord(label)} {`,
    `  linux $cmdpath/vmlinuz ${args}`.trimEnd(),
    '  initrd $cmdpath/initrd.img',
    '}',
    '',
  ].join('\n');
}
