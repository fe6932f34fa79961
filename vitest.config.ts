import { defineConfig } from 'vitest/config';

// Two projects: `unit` (test/unit: imports modules directly, needs no root, network or Debian
// tools; `npm run test:unit`) and `e2e` (the rest: spawns the CLI). `npm test` runs both.
export default defineConfig({
  test: {
    pool: 'forks',
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
