import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../cli/config-validate.js';
import { buildHostGraph } from '../../core/graph.js';
import { builtinRecipes } from '../../pipelines/index.js';

// A host's own packages go on in the upgrade step's copy of the tree (one copy and one ingest less
// on every security update); a host without any keeps the upgrade every host of the recipe shares.
const host = (n: number, params: object) => ({
  recipe: 'debian-bullseye-nbd',
  mac: `52:54:00:12:34:5${n}`,
  ip: `10.0.2.1${n}`,
  params,
});
const graphs = () => {
  const config = {
    cache: 'cache',
    san: { server: '10.0.2.2', tftp: 'san/tftp', nfs: 'san/nfs', nbd: 'san/nbd', conf: 'san/conf' },
    hosts: {
      plain: host(1, {}),
      extras: host(2, { packages: ['tree', 'less', 'tree', 'sudo'] }),
      frozen: host(3, { packages: ['tree'], frozen: true }),
    },
  };
  const r = validateConfig(config, join(__dirname, 'netboot.config.ts'), builtinRecipes);
  return Object.fromEntries([...r.hosts].map(([name, h]) => [name, buildHostGraph(h.info, h.recipe, h.params)]));
};

describe("a Debian host's extra packages", () => {
  it('are installed by the upgrade step (sorted, once, without the recipe packages): no extra-packages step', () => {
    const g = graphs();
    expect(g.extras.steps.has('extra-packages')).toBe(false);
    expect(g.extras.steps.get('upgrade')!.params).toMatchObject({ packages: ['less', 'tree'] });
    expect(g.extras.steps.get('package-manifest')!.inputs.tree.step).toBe('upgrade');
  });

  it('leave the upgrade of a host without any as it was (no packages param: the same key for every such host)', () => {
    const g = graphs();
    expect(g.plain.steps.get('upgrade')!.params).not.toHaveProperty('packages');
    expect(g.plain.steps.has('extra-packages')).toBe(false);
  });

  it('take a step of their own on a frozen image (no upgrade step)', () => {
    const g = graphs();
    expect(g.frozen.steps.has('upgrade')).toBe(false);
    expect(g.frozen.steps.get('extra-packages')!.params).toMatchObject({ packages: ['tree'] });
  });
});
