// The config's sections that hold code rather than values: your plugins, your recipes and the
// hooks that extend a recipe. Each is one resolver; `recipes` fills the map that `extend` and
// the hosts look names up in, so it is walked before them.
import { errors } from '../base/errors.js';
import type { AnyPlugin } from '../core/plugin.js';
import type { Recipe, RecipeHooks } from '../core/recipe.js';
import { isPlainObject, p } from '../core/schema.js';
import { plugins as builtinPlugins } from '../plugins/index.js';

const isPlugin = (v: unknown): v is AnyPlugin => !!v && typeof v === 'object' && !!(v as AnyPlugin).__plugin;
const isRecipe = (v: unknown): v is Recipe<any> => !!v && typeof v === 'object' && !!(v as Recipe).__recipe;

/** `plugins`: your plugins, each under a name of its own (names key the cache with the version). */
export const pluginsSection = p.custom<AnyPlugin[]>('list of plugins', (v, path, issues) => {
  if (!Array.isArray(v)) return void issues.errors.push(`${path}: not a list`);
  const out: AnyPlugin[] = [];
  for (const [i, pl] of (v as unknown[]).entries()) {
    if (!isPlugin(pl)) {
      issues.errors.push(`${path}[${i}]: not a plugin (wrap it in definePlugin)`);
      continue;
    }
    if (out.some((q) => q.name === pl.name)) throw errors.duplicatePlugin(pl.name);
    // A user plugin called "tar" would share the built-in's cache entries.
    if (Object.values(builtinPlugins).some((b) => b.name === pl.name && b !== pl))
      throw errors.pluginNameTaken(pl.name);
    out.push(pl);
  }
  return out;
});

/** `recipes`: your recipes, added to (or replacing by name) the built-in ones in `known`. */
export function recipesSection(known: Map<string, Recipe<any>>) {
  return p.custom<Map<string, Recipe<any>>>('list of recipes', (v, path, issues) => {
    if (!Array.isArray(v)) return void issues.errors.push(`${path}: not a list`);
    v.forEach((r: unknown, i) => {
      if (!isRecipe(r)) issues.errors.push(`${path}[${i}]: not a recipe (wrap it in defineRecipe)`);
      else known.set(r.name, r);
    });
    return known;
  });
}

/** `extend`: hooks per recipe in `known`, `{ after: { stepId: (step, r) => ... } }`. */
export function extendSection(known: Map<string, Recipe<any>>) {
  return p.custom<Record<string, RecipeHooks>>('object', (v, path, issues) => {
    if (!isPlainObject(v)) return void issues.errors.push(`${path}: not an object`);
    const out: Record<string, RecipeHooks> = {};
    for (const [name, hooks] of Object.entries(v)) {
      const at = `${path}.${name}`;
      if (!known.has(name)) throw errors.unknownRecipe(at, name, [...known.keys()]);
      if (!isPlainObject(hooks) || (hooks.after !== undefined && !isPlainObject(hooks.after))) {
        issues.errors.push(`${at}: expected { after: { stepId: (step, r) => ... } }`);
        continue;
      }
      for (const [step, fn] of Object.entries(hooks.after ?? {}))
        if (typeof fn !== 'function') issues.errors.push(`${at}.after.${step}: not a function`);
      out[name] = hooks as RecipeHooks;
    }
    return out;
  });
}
