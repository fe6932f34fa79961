import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Project, type StepRow } from './helpers.js';

// The cache is a 2 MiB tmpfs: the fixture's 1.2 MB tree fits once, its copy does not.
let proj: Project;
let mounted = false;
beforeEach(() => {
  proj = new Project('disk-full');
  mkdirSync(proj.path('.netboot/cache'), { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', proj.path('.netboot/cache')]);
  mounted = true;
});
afterEach(() => {
  if (mounted) spawnSync('umount', [proj.path('.netboot/cache')]);
  mounted = false;
  proj.remove();
});

describe('a full disk', () => {
  it("a copy step that runs out of space fails with DISK_FULL, naming the path, host and step, with cp's words", () => {
    const r = proj.json<{ steps: StepRow[] }>(['build', 'full']);
    expect(r.code).toBe(1);
    const copy = r.data.steps.find((s) => s.step === 'copy')!;
    expect(copy.error?.code).toBe('DISK_FULL');
    expect(copy.error?.message).toContain('host full, step copy');
    expect(copy.error?.message).toContain(proj.path('.netboot/cache/tmp'));
    expect(copy.error?.details.join('\n')).toContain('No space left on device');
  });
});
