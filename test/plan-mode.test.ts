import { lstatSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { byStep, Project, type StepRow } from './helpers.js';

let project: Project;
beforeEach(() => {
  project = new Project('plan-mode');
});
afterEach(() => project.remove());

/** Every path under the cache with its type, mode, size and mtime: any write shows. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const st = lstatSync(join(root, rel), { bigint: true });
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'file';
    out.set(rel, `${type} ${st.mode.toString(8)} ${st.size} ${st.mtimeNs}`);
    if (st.isDirectory()) for (const name of readdirSync(join(root, rel)).sort()) walk(rel ? `${rel}/${name}` : name);
  };
  walk('');
  return out;
}

/** What a build would record now: a changed overlay, a new upstream, no tool versions, no secret key. */
function giveEveryProviderSomethingToRecord() {
  writeFileSync(project.path('overlay/etc/issue'), 'changed\n');
  writeFileSync(project.path('upstream.txt'), 'suite-2\n');
  rmSync(project.path('.netboot/cache/tools.json'));
  rmSync(project.path('.netboot/cache/secret.key'));
}

describe('plan mode writes nothing into the cache', () => {
  it('status, explain and build --dry-run leave every path, size and mtime of the cache as it was', () => {
    expect(project.run(['build', '--all']).code).toBe(0);
    giveEveryProviderSomethingToRecord();
    const cache = project.path('.netboot/cache');
    const before = snapshot(cache);

    const status = project.json<{ steps: StepRow[] }>(['status']);
    expect(status.code).toBe(0);
    const steps = byStep(status.data.steps);
    expect(steps['overlay-src'].reasons.join()).toMatch(/^source /);
    expect(steps.upstream.reasons).toEqual([expect.stringMatching(/^fingerprint: /)]);
    expect(steps.secret.outcome).toBe('stale');
    for (const host of ['demo', 'probe']) expect(project.run(['explain', host]).code).toBe(0);
    const dry = project.json<{ steps: StepRow[] }>(['build', '--all', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.data.steps.filter((s) => s.outcome === 'stale').length).toBeGreaterThan(0);

    expect(snapshot(cache)).toEqual(before);
  });

  it('the snapshot sees what a build records (so the test above can fail)', () => {
    expect(project.run(['build', '--all']).code).toBe(0);
    giveEveryProviderSomethingToRecord();
    const cache = project.path('.netboot/cache');
    const before = snapshot(cache);
    expect(project.run(['build', '--all']).code).toBe(0);
    const after = snapshot(cache);
    for (const p of ['tools.json', 'secret.key']) expect([before.has(p), after.has(p)]).toEqual([false, true]);
    const changed = [...after.keys()].filter((p) => before.get(p) !== after.get(p));
    expect(changed.some((p) => p.startsWith('fingerprints/'))).toBe(true);
    expect(changed.some((p) => /^statcache\/[0-9a-f]{64}\.json$/.test(p))).toBe(true);
  });
});
