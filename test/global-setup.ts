import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

// One Debian cache for every e2e file that builds Debian hosts: each suite's base is bootstrapped
// once per run, and the files that share it wait on the cache's own lock rather than repeat it.
// Nothing may run `gc` on it: another file's steps live there too.
export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'netboot-shared-'));
  project.provide('sharedDebianCache', join(dir, 'debian-cache'));
  return () => rmSync(dir, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    sharedDebianCache: string;
  }
}
