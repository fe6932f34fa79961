import { errors, isNetbootError } from '../base/errors.js';
import type { HostInfo } from './plugin.js';
import {
  type ArtifactRef,
  NO_PINS,
  type Pins,
  type PublishItem,
  type PublishLink,
  type Recipe,
  RecipeBuilder,
  type RecipeHooks,
  type RecipeResult,
  type StepNode,
} from './recipe.js';

export interface HostGraph {
  host: HostInfo;
  recipe: string;
  /** Steps in a topological order (inputs before the steps that read them). */
  order: StepNode[];
  steps: Map<string, StepNode>;
  /** What the recipe publishes, refs resolved through hooks. */
  publish: PublishItem[];
  links: PublishLink[];
}

/** Expands a host's recipe into its step graph and checks it before anything runs. */
export function buildHostGraph(
  host: HostInfo,
  recipe: Recipe<any>,
  params: unknown,
  hooks: RecipeHooks = {},
  pins: Pins = NO_PINS,
): HostGraph {
  const r = new RecipeBuilder(host, hooks);
  let declared: RecipeResult;
  try {
    declared = recipe.build(r, params as never, host, pins) ?? {};
  } catch (e) {
    if (isNetbootError(e)) throw e;
    throw errors.recipeFailed(host.name, recipe.name, (e as Error)?.message ?? String(e), e);
  }
  const publish = (declared.publish ?? []).map((item) => ({ ...item, from: r.final(item.from) }));
  for (const hookStep of Object.keys(hooks.after ?? {}))
    if (!r.steps.has(hookStep))
      throw errors.badHook(
        `extend.${recipe.name}.after.${hookStep}`,
        `recipe ${recipe.name} has no step "${hookStep}"; its steps: ${[...r.steps.keys()].join(', ')}`,
      );
  checkInputs(host.name, r.steps);
  for (const item of publish) checkRef(host.name, r.steps, `(publish ${item.target}:${item.path})`, 'from', item.from);
  const order = topoSort(host.name, r.steps);
  return { host, recipe: recipe.name, order, steps: r.steps, publish, links: declared.links ?? [] };
}

function checkRef(host: string, steps: Map<string, StepNode>, step: string, input: string, ref: ArtifactRef) {
  const from = steps.get(ref.step);
  if (!from || !(ref.output in from.plugin.produces))
    throw errors.missingInput(host, step, input, `${ref.step}.${ref.output}`);
}

function checkInputs(host: string, steps: Map<string, StepNode>) {
  for (const node of steps.values()) {
    for (const name of node.plugin.inputs ?? [])
      if (!(name in node.inputs)) throw errors.missingInput(host, node.id, name, '(nothing: the input was not given)');
    for (const [name, ref] of Object.entries(node.inputs)) checkRef(host, steps, node.id, name, ref);
  }
}

/** Depth-first order; a back edge is a cycle, reported with its path. */
function topoSort(host: string, steps: Map<string, StepNode>): StepNode[] {
  const state = new Map<string, 'visiting' | 'done'>();
  const order: StepNode[] = [];
  const stack: string[] = [];
  const visit = (id: string) => {
    const s = state.get(id);
    if (s === 'done') return;
    if (s === 'visiting') throw errors.graphCycle(host, [...stack.slice(stack.indexOf(id)), id]);
    state.set(id, 'visiting');
    stack.push(id);
    const node = steps.get(id)!;
    for (const dep of [...new Set(Object.values(node.inputs).map((r) => r.step))].sort()) visit(dep);
    stack.pop();
    state.set(id, 'done');
    order.push(node);
  };
  for (const id of steps.keys()) visit(id);
  return order;
}

/** Every step the given steps depend on, and themselves. */
export function closure(graph: HostGraph, ids: string[]): Set<string> {
  const out = new Set<string>();
  const walk = (id: string) => {
    if (out.has(id)) return;
    out.add(id);
    for (const r of Object.values(graph.steps.get(id)!.inputs)) walk(r.step);
  };
  ids.forEach(walk);
  return out;
}

export function renderGraph(graph: HostGraph, format: 'mermaid' | 'dot', status?: Map<string, string>): string {
  const label = (n: StepNode) =>
    `${n.id}\\n${n.plugin.name}@${n.plugin.version}${status?.get(n.id) ? `\\n(${status.get(n.id)})` : ''}`;
  const safe = (id: string) => `s_${id.replace(/[^A-Za-z0-9_]/g, '_')}`;
  if (format === 'mermaid') {
    const lines = ['flowchart LR'];
    for (const n of graph.order)
      lines.push(`  ${safe(n.id)}["${label(n).replace(/\\n/g, '<br/>').replace(/"/g, '#quot;')}"]`);
    for (const n of graph.order)
      for (const [name, r] of Object.entries(n.inputs))
        lines.push(`  ${safe(r.step)} -- "${r.output} → ${name}" --> ${safe(n.id)}`);
    return `${lines.join('\n')}\n`;
  }
  const lines = [`digraph "${graph.host.name}" {`, '  rankdir=LR;', '  node [shape=box];'];
  for (const n of graph.order) lines.push(`  "${n.id}" [label="${label(n).replace(/"/g, '\\"')}"];`);
  for (const n of graph.order)
    for (const [name, r] of Object.entries(n.inputs))
      lines.push(`  "${r.step}" -> "${n.id}" [label="${r.output} → ${name}"];`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
