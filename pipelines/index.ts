import type { Recipe } from '../core/recipe.js';
import { demoRecipe } from './demo.js';

/** The recipes netboot ships; a host's `recipe` names one of these (or one of the config's own). */
export const builtinRecipes: Recipe<any>[] = [demoRecipe];

export type BuiltinRecipes = {
  demo: typeof demoRecipe;
};
