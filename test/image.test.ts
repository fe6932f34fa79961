import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Project, type StepRow } from './helpers.js';

let a: Project;
beforeEach(() => {
  a = new Project('image');
});
afterEach(() => a.remove());

const imageOf = (p: Project, steps: StepRow[], cache = '.netboot/cache') => {
  const d = steps.find((s) => s.step === 'image')!.outputs!.image.digest;
  return p.path(cache, 'objects', d.slice(0, 2), d);
};

describe('ext4 image (mke2fs -d)', () => {
  it('is bit-identical across two clean builds with different caches, sparse, and e2fsck-clean', () => {
    const one = a.json<{ steps: StepRow[] }>(['build', 'img']);
    expect(one.code, one.stderr).toBe(0);
    const two = a.json<{ steps: StepRow[] }>(['build', 'img'], { IMG_CACHE: a.path('other-cache') });
    expect(two.code, two.stderr).toBe(0);
    const d1 = one.data.steps.find((s) => s.step === 'image')!.outputs!.image.digest;
    const d2 = two.data.steps.find((s) => s.step === 'image')!.outputs!.image.digest;
    expect(d2).toBe(d1);
    const img = imageOf(a, one.data.steps);
    expect(execFileSync('e2fsck', ['-fn', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })).toMatch(
      /clean|files/,
    );
    const listing = execFileSync('debugfs', ['-R', 'stat /etc/shadow', img], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(listing).toMatch(/Mode:\s+0640/);
    expect(listing).toMatch(/Group:\s+42/);
    expect(listing).toMatch(/ctime: 0x6553f100/); // SOURCE_DATE_EPOCH 1700000000
    const st = execFileSync('stat', ['-c', '%s %b', img], { encoding: 'utf8' }).trim().split(' ').map(Number);
    expect(st[1] * 512).toBeLessThan(st[0] / 2);
  });

  it('a tree that does not fit is one clear error, and nothing is cached', () => {
    const r = a.run(['build', 'img'], { IMG_SIZE: '8M', IMG_BULK: '200' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        String.raw`error \[IMAGE_TOO_SMALL\]: host img, step image failed: ` +
          String.raw`the tree needs about [\d.]+ MiB but the image is 8\.0 MiB; raise the image size param`,
      ),
    );
  });
});
