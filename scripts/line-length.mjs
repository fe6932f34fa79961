// Fails when a source line is longer than 120 characters: Biome wraps code at 120 but leaves
// long strings and comments as they are, so this catches what the formatter cannot.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAX = 120;
const root = fileURLToPath(new URL('..', import.meta.url));
const SKIP = new Set(['node_modules', 'dist', '.git', '.netboot', 'san', 'tmp']);
const DELIBERATE = new Set(['test/fixtures/config-errors/syntax-error']);

function* sources(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP.has(e.name) && !DELIBERATE.has(relative(root, path))) yield* sources(path);
    } else if (/\.(ts|js|mjs|cjs)$/.test(e.name)) yield path;
  }
}

let long = 0;
for (const file of sources(root))
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.length <= MAX) return;
      long++;
      console.error(`${relative(root, file)}:${i + 1}: ${line.length} characters (at most ${MAX})`);
    });
if (long) {
  console.error(`${long} line(s) longer than ${MAX} characters`);
  process.exit(1);
}
