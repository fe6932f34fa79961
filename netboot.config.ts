import { defineConfig } from 'netboot';

// The default config: one Debian bullseye host with an NBD root, on qemu's user network (the
// SAN is 10.0.2.2 as a qemu guest sees it), published to ./san beside this file.
// `netboot boot-test bullseye-nbd` PXE-boots it in qemu. Log in as root, password "netboot"
// (the config only ever holds the hash: make your own with `openssl passwd -6`).
const demoPassword =
  '$6$netbootdemo$IOPuwfV28qqe7bd1zUArIrQ.D8We6qWkRD8oUFDxPAyh0zl6/B6Zo1Qxvn2HZNhroqNSNYXHlDRo79e78BFp.1';

export default defineConfig({
  cache: '.netboot/cache',
  sourceDateEpoch: 1700000000,
  san: { server: '10.0.2.2', tftp: 'san/tftp', nfs: 'san/nfs', nbd: 'san/nbd', conf: 'san/conf' },
  hosts: {
    'bullseye-nbd': {
      recipe: 'debian-bullseye-nbd',
      mac: '52:54:00:12:34:56',
      ip: '10.0.2.15',
      params: {
        rootPasswordHash: demoPassword,
        users: [{ name: 'demo', passwordHash: demoPassword, sudo: true }],
        imageSize: '2G',
      },
    },
    // A FreeBSD 10 diskless jail host: `netboot build freebsd10-jailhost`. Its sets come from the
    // FreeBSD release archive; netboot fetches only pinned content, so set each sha256 from the
    // release's MANIFEST (checked against the release announcement's signed checksums) first.
    // Offline, the error says which file to put where. ezjail comes as a pkg archive (packages:
    // [{ url | path, sha256 }]); FreeBSD 10's package repositories are gone, so bring your own.
    'freebsd10-jailhost': {
      recipe: 'freebsd10-nfs-ezjail',
      mac: '52:54:00:12:34:58',
      ip: '10.0.2.17',
      params: {
        sets: {
          base: { url: 'http://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases/amd64/10.4-RELEASE/base.txz' },
          kernel: {
            url: 'http://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases/amd64/10.4-RELEASE/kernel.txz',
          },
        },
        gateway: '10.0.2.2',
        jails: [{ name: 'www', ip: '10.0.2.50' }],
        // The CHAP secret stays out of this file: add chapUser and secretFile (a file beside it).
        iscsi: { portal: '10.0.2.2:3260', target: 'iqn.2026-11.lan.netboot:freebsd10-jailhost' },
      },
    },
  },
});
