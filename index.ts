// The public API: what a netboot.config.ts and a plugin author import from 'netboot'.
export { defineConfig, type NetbootConfig, type HostConfig, type SanConfig } from './cli/config.js';
export {
  definePlugin,
  type Plugin,
  type PluginDefinition,
  type StepContext,
  type FingerprintContext,
  type Artifact,
  type FileArtifact,
  type TreeArtifact,
  type InputArtifact,
  type TreeEntry,
  type ToolSpec,
  type HostInfo,
  type Produces,
  type OutputKind,
} from './core/plugin.js';
export { defineRecipe, type Recipe, type RecipeBuilder, type StepRef, type ArtifactRef, type StepHook, type RecipeHooks } from './core/recipe.js';
export { p, type Schema, type Infer } from './core/schema.js';
export { NetbootError } from './base/errors.js';
export { plugins } from './plugins/index.js';
export { builtinRecipes } from './pipelines/index.js';
