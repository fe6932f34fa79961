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
    // release's directory on FreeBSD's archive (10.4 is end-of-life), each verified against the
    // release's MANIFEST; the first build records every digest it trusted in netboot.lock beside
    // this file (commit it; `--frozen` then refuses to change it). FreeBSD 13 or 14: recipe
    // 'freebsd-nfs-ezjail', release '14.3-RELEASE', packages: ['ezjail'] (from pkg.freebsd.org).
    'freebsd10-jailhost': {
      recipe: 'freebsd10-nfs-ezjail',
      mac: '52:54:00:12:34:58',
      ip: '10.0.2.17',
      params: {
        sets: { release: '10.4-RELEASE', arch: 'amd64' },
        gateway: '10.0.2.2',
        jails: [{ name: 'www', ip: '10.0.2.50' }],
        // The CHAP secret stays out of this file: add chapUser and secretFile (a file beside it).
        iscsi: { portal: '10.0.2.2:3260', target: 'iqn.2026-11.lan.netboot:freebsd10-jailhost' },
      },
    },
  },
});
