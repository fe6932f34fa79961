// The public API: what a netboot.config.ts and a plugin author import from 'netboot'.

export { NetbootError } from './base/errors.js';
export { type CacheConfig, defineConfig, type HostConfig, type NetbootConfig, type SanConfig } from './cli/config.js';
export {
  type Artifact,
  definePlugin,
  type FileArtifact,
  type FingerprintContext,
  type HostInfo,
  type InputArtifact,
  type OutputKind,
  type Plugin,
  type PluginDefinition,
  type Produces,
  type StepContext,
  type ToolSpec,
  type TreeArtifact,
  type TreeEntry,
} from './core/plugin.js';
export {
  type ArtifactRef,
  defineRecipe,
  type Recipe,
  type RecipeBuilder,
  type RecipeHooks,
  type StepHook,
  type StepRef,
} from './core/recipe.js';
export { type Infer, p, type Schema } from './core/schema.js';
export { builtinRecipes } from './pipelines/index.js';
export { plugins } from './plugins/index.js';
