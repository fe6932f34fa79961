import { describe, expect, it } from 'vitest';
import type { NetbootError } from '../../base/errors.js';
import { buildHostGraph, closure } from '../../core/graph.js';
import { definePlugin, type HostInfo } from '../../core/plugin.js';
import { defineRecipe, type RecipeHooks } from '../../core/recipe.js';
import { p } from '../../core/schema.js';

const host: HostInfo = {
  name: 'h1',
  mac: '52:54:00:12:34:56',
  ip: '10.0.2.15',
  server: '10.0.2.2',
  san: { tftp: '/srv/tftp', nfs: '/srv/nfs', nbd: '/srv/nbd', conf: '/srv/conf' },
};

const source = definePlugin({
  name: 'unit-source',
  version: '1',
  params: { text: p.string(), mode: p.string().default('plain') },
  produces: { out: 'file' },
  run: () => {},
});
const transform = definePlugin({
  name: 'unit-transform',
  version: '1',
  inputs: ['in'],
  produces: { out: 'file' },
  run: () => {},
});
const pair = definePlugin({
  name: 'unit-pair',
  version: '1',
  inputs: ['a', 'b'],
  produces: { out: 'tree' },
  run: () => {},
});

/** src -> mid -> top, and src -> top: a diamond-free chain with one shortcut. */
const chain = defineRecipe({
  name: 'unit-chain',
  build(r) {
    const src = r.step('src', source, { params: { text: 'hello' } });
    const mid = r.step('mid', transform, { inputs: { in: src.out('out') } });
    const top = r.step('top', pair, { inputs: { a: src.out('out'), b: mid.out('out') } });
    return { publish: [{ target: 'tftp', path: 'x', from: top.out('out') }] };
  },
});

const codeOf = (f: () => unknown): NetbootError => {
  try {
    f();
  } catch (e) {
    return e as NetbootError;
  }
  throw new Error('expected it to throw');
};

describe('a recipe expanded into its step graph', () => {
  it('holds every step, with its params after defaults, in an order where inputs come first', () => {
    const g = buildHostGraph(host, chain, {});
    expect([...g.steps.keys()]).toEqual(['src', 'mid', 'top']);
    expect(g.order.map((n) => n.id)).toEqual(['src', 'mid', 'top']);
    expect(g.steps.get('src')?.params).toEqual({ text: 'hello', mode: 'plain' });
    expect(g.steps.get('top')?.inputs).toEqual({
      a: { step: 'src', output: 'out' },
      b: { step: 'mid', output: 'out' },
    });
    expect(g.publish).toEqual([{ target: 'tftp', path: 'x', from: { step: 'top', output: 'out' } }]);
  });

  it('orders by dependencies, not by declaration order', () => {
    const backwards = defineRecipe({
      name: 'unit-backwards',
      build(r) {
        r.step('top', transform, { inputs: { in: r.ref('src', 'out') } });
        r.step('src', source, { params: { text: 'x' } });
      },
    });
    expect(buildHostGraph(host, backwards, {}).order.map((n) => n.id)).toEqual(['src', 'top']);
  });

  it('closure is a step and everything it reads, transitively', () => {
    const g = buildHostGraph(host, chain, {});
    expect([...closure(g, ['mid'])].sort()).toEqual(['mid', 'src']);
    expect([...closure(g, ['top'])].sort()).toEqual(['mid', 'src', 'top']);
  });

  it('finds a cycle before anything runs and names it', () => {
    const cyclic = defineRecipe({
      name: 'unit-cycle',
      build(r) {
        r.step('a', transform, { inputs: { in: r.ref('c', 'out') } });
        r.step('b', transform, { inputs: { in: r.ref('a', 'out') } });
        r.step('c', transform, { inputs: { in: r.ref('b', 'out') } });
      },
    });
    const e = codeOf(() => buildHostGraph(host, cyclic, {}));
    expect(e.code).toBe('GRAPH_CYCLE');
    expect(e.message).toContain('host h1');
    expect(e.message).toMatch(/a -> c -> b -> a/);
  });

  it('refuses an input that refers to no step, or to an output the step does not produce', () => {
    const dangling = defineRecipe({
      name: 'unit-dangling',
      build(r) {
        r.step('t', transform, { inputs: { in: r.ref('nowhere', 'out') } });
      },
    });
    const e = codeOf(() => buildHostGraph(host, dangling, {}));
    expect(e.code).toBe('MISSING_INPUT');
    expect(e.message).toMatch(/step t: input "in" refers to nowhere\.out/);

    const wrongOutput = defineRecipe({
      name: 'unit-wrong-output',
      build(r) {
        r.step('src', source, { params: { text: 'x' } });
        r.step('t', transform, { inputs: { in: r.ref('src', 'nope') } });
      },
    });
    expect(codeOf(() => buildHostGraph(host, wrongOutput, {})).message).toMatch(/src\.nope/);
  });

  it('refuses a declared input that was not given', () => {
    const unfed = defineRecipe({
      name: 'unit-unfed',
      build(r) {
        r.step('t', transform, { inputs: {} as never });
      },
    });
    const e = codeOf(() => buildHostGraph(host, unfed, {}));
    expect(e.code).toBe('MISSING_INPUT');
    expect(e.message).toMatch(/input "in"/);
  });

  it('refuses a published artifact no step produces', () => {
    const bad = defineRecipe({
      name: 'unit-bad-publish',
      build: () => ({ publish: [{ target: 'nfs', path: '.', from: { step: 'ghost', output: 'out' } }] }),
    });
    expect(codeOf(() => buildHostGraph(host, bad, {})).code).toBe('MISSING_INPUT');
  });

  it('refuses two steps with one name', () => {
    const dup = defineRecipe({
      name: 'unit-dup',
      build(r) {
        r.step('s', source, { params: { text: 'a' } });
        r.step('s', source, { params: { text: 'b' } });
      },
    });
    const e = codeOf(() => buildHostGraph(host, dup, {}));
    expect(e.code).toBe('DUPLICATE_STEP');
    expect(e.message).toBe('host h1: two steps are named "s"');
  });

  it('checks params against the plugin', () => {
    const bad = defineRecipe({
      name: 'unit-bad-params',
      build(r) {
        r.step('s', source, { params: { text: 42 as never } });
      },
    });
    expect(codeOf(() => buildHostGraph(host, bad, {})).code).toBe('CONFIG_INVALID');
  });

  it('reports a recipe that throws as RECIPE_FAILED, naming host and recipe', () => {
    const broken = defineRecipe({
      name: 'unit-broken',
      build() {
        throw new Error('boom');
      },
    });
    const e = codeOf(() => buildHostGraph(host, broken, {}));
    expect(e.code).toBe('RECIPE_FAILED');
    expect(e.message).toMatch(/host h1: recipe unit-broken .*boom/);
  });
});

describe('hooks (extend.<recipe>.after)', () => {
  it('insert a step after another: later steps and the publish list read the hook step instead', () => {
    const hooks: RecipeHooks = {
      after: { src: (step, r) => r.step('patch', transform, { inputs: { in: step.out('out') } }) },
    };
    const g = buildHostGraph(host, chain, {}, hooks);
    expect(g.order.map((n) => n.id)).toEqual(['src', 'patch', 'mid', 'top']);
    expect(g.steps.get('patch')?.inputs).toEqual({ in: { step: 'src', output: 'out' } });
    expect(g.steps.get('mid')?.inputs).toEqual({ in: { step: 'patch', output: 'out' } });
    expect(g.steps.get('top')?.inputs.a).toEqual({ step: 'patch', output: 'out' });
  });

  it('after the last step replace what is published', () => {
    const hooks: RecipeHooks = {
      after: { top: (step, r) => r.step('wrap', pair, { inputs: { a: step.out('out'), b: step.out('out') } }) },
    };
    expect(buildHostGraph(host, chain, {}, hooks).publish[0].from).toEqual({ step: 'wrap', output: 'out' });
  });

  it('that return nothing only add to the graph', () => {
    const hooks: RecipeHooks = {
      after: { src: (_step, r) => void r.step('extra', source, { params: { text: 'e' } }) },
    };
    const g = buildHostGraph(host, chain, {}, hooks);
    expect(g.steps.has('extra')).toBe(true);
    expect(g.steps.get('mid')?.inputs.in).toEqual({ step: 'src', output: 'out' });
  });

  it('for a step the recipe does not have are refused, listing its steps', () => {
    const e = codeOf(() => buildHostGraph(host, chain, {}, { after: { nope: () => {} } }));
    expect(e.code).toBe('BAD_HOOK');
    expect(e.message).toMatch(/extend\.unit-chain\.after\.nope: .*its steps: src, mid, top/);
  });

  it('that throw are reported as BAD_HOOK, naming the step', () => {
    const hooks: RecipeHooks = {
      after: {
        mid: () => {
          throw new Error('oops');
        },
      },
    };
    const e = codeOf(() => buildHostGraph(host, chain, {}, hooks));
    expect(e.code).toBe('BAD_HOOK');
    expect(e.message).toMatch(/hook after step mid.*oops/);
  });
});
