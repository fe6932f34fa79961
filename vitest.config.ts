import { defineConfig } from 'vitest/config';

// Two projects: `unit` (test/unit: imports modules directly, needs no root, network or Debian
// tools; `npm run test:unit`) and `e2e` (the rest: spawns the CLI). `npm test` runs both.
export default defineConfig({
  test: {
    pool: 'forks',
    // Two files at a time even on 2 cores (vitest's default is cores - 1): the e2e files mostly
    // wait on qemu under TCG, mmdebstrap and the network, so a second worker halves CI's wall time.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
