#!/usr/bin/env node
// Entry point: compiled code lives in dist/ (built by `npm ci` through the prepare script).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/netboot.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('netboot: dist/ is missing; run `npm ci` (or `npm run build`) in the netboot checkout\n');
  process.exit(2);
}
const argv = process.argv.slice(2);
const out = (line) => process.stdout.write(`${line}\n`);
const err = (line) => process.stderr.write(`${line}\n`);
// A build whose no-op stamp still matches is answered before the engine loads (cli/fast-noop.ts).
const { fastNoop } = await import(new URL('../dist/fast-noop.js', import.meta.url).href);
// Whatever goes wrong in the check (it only reads), the normal build decides and reports.
const fast = await fastNoop(argv, { out, err, env: process.env, cwd: process.cwd() }).catch(() => undefined);
if (fast !== undefined) process.exitCode = fast;
else await run();

async function run() {
  const { main, hurry } = await import(cli.href);

  // Outputs are part of the cache: their modes must not depend on who runs the build.
  process.umask(0o022);

  const controller = new AbortController();
  let signals = 0;
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      // First signal: stop the steps' process groups (SIGTERM, SIGKILL after a grace period) and
      // clean up. A later one: SIGKILL them now; the cleanup (scratch dirs, locks) still runs.
      if (++signals > 1) hurry();
      else controller.abort(sig);
    });
  }
  const io = { out, err, isTTY: !!process.stdout.isTTY, env: process.env, cwd: process.cwd() };
  process.exitCode = await main(argv, io, controller.signal);
}
