import { defineConfig } from 'netboot';

// The default config: one Debian bullseye host with an NBD root, on qemu's user network (the
// SAN is 10.0.2.2 as a qemu guest sees it), published to ./san beside this file.
// `netboot boot-test bullseye-nbd` PXE-boots it in qemu. Log in as root, password "netboot"
// (the config only ever holds the hash: make your own with `openssl passwd -6`).
const demoPassword = '$6$netbootdemo$IOPuwfV28qqe7bd1zUArIrQ.D8We6qWkRD8oUFDxPAyh0zl6/B6Zo1Qxvn2HZNhroqNSNYXHlDRo79e78BFp.1';

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
  },
});
