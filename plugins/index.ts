import { cpioPlugin, tarPlugin } from './archive.js';
import { assemblePlugin } from './assemble.js';
import { filesPlugin } from './files.js';
import { mergePlugin } from './merge.js';
import { serverConfigsPlugin } from './server-configs/index.js';
import { sourceTreePlugin } from './source.js';
import { textPlugin } from './text.js';

/** The plugins netboot ships, for recipes and for your own hooks. */
export const plugins = {
  assemble: assemblePlugin,
  cpio: cpioPlugin,
  tar: tarPlugin,
  files: filesPlugin,
  merge: mergePlugin,
  sourceTree: sourceTreePlugin,
  text: textPlugin,
  serverConfigs: serverConfigsPlugin,
};
