import type { Recipe } from '../core/recipe.js';
import { debianBullseyeNbd } from './debian-bullseye-nbd.js';
import { demoRecipe } from './demo.js';
import { kvmHost, lxcHost } from './kvm-host.js';

/** The recipes netboot ships; a host's `recipe` names one of these (or one of the config's own). */
export const builtinRecipes: Recipe<any>[] = [demoRecipe, debianBullseyeNbd, kvmHost, lxcHost];

export type BuiltinRecipes = {
  demo: typeof demoRecipe;
  'debian-bullseye-nbd': typeof debianBullseyeNbd;
  'kvm-host': typeof kvmHost;
  'lxc-host': typeof lxcHost;
};
