import type { Recipe } from '../core/recipe.js';
import { debianBullseyeNbd } from './debian-bullseye-nbd.js';
import { demoRecipe } from './demo.js';
import { freebsd10NfsEzjail, freebsdNfsEzjail } from './freebsd10-nfs-ezjail.js';
import { kvmHost, lxcHost } from './kvm-host.js';

/** The recipes netboot ships; a host's `recipe` names one of these (or one of the config's own). */
export const builtinRecipes: Recipe<any>[] = [
  demoRecipe,
  debianBullseyeNbd,
  freebsd10NfsEzjail,
  freebsdNfsEzjail,
  kvmHost,
  lxcHost,
];

export type BuiltinRecipes = {
  demo: typeof demoRecipe;
  'debian-bullseye-nbd': typeof debianBullseyeNbd;
  'freebsd10-nfs-ezjail': typeof freebsd10NfsEzjail;
  'freebsd-nfs-ezjail': typeof freebsdNfsEzjail;
  'kvm-host': typeof kvmHost;
  'lxc-host': typeof lxcHost;
};
