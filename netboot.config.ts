import { defineConfig } from 'netboot';

// The default config: demo hosts on qemu's user network (the SAN is 10.0.2.2 as the guest sees it),
// publishing to ./san beside this file.
export default defineConfig({
  cache: '.netboot/cache',
  san: { server: '10.0.2.2', tftp: 'san/tftp', nfs: 'san/nfs', nbd: 'san/nbd', conf: 'san/conf' },
  hosts: {
    demo: {
      recipe: 'demo',
      mac: '52:54:00:12:34:56',
      ip: '10.0.2.15',
      params: { motd: 'Welcome to the netboot demo.\n' },
    },
  },
});
