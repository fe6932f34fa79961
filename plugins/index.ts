import { cpioPlugin, tarPlugin } from './archive.js';
import { assemblePlugin } from './assemble.js';
import { filesPlugin } from './files.js';
import { mergePlugin } from './merge.js';
import { serverConfigsPlugin } from './server-configs/index.js';
import { sourceTreePlugin } from './source.js';
import { textPlugin } from './text.js';
import { aptInstallPlugin } from './debian/apt.js';
import { debianBasePlugin } from './debian/base.js';
import { debianCustomizePlugin } from './debian/customize.js';
import { debianKernelPlugin } from './debian/initramfs.js';
import { ext4ImagePlugin } from './ext4-image.js';
import { pxelinuxPlugin } from './pxelinux.js';
import { extractTarPlugin } from './freebsd/extract.js';
import { fetchFilePlugin } from './freebsd/fetch.js';
import { freebsdConfPlugin } from './freebsd/conf.js';
import { freebsdCustomizePlugin } from './freebsd/customize.js';
import { freebsdRootPlugin } from './freebsd/root.js';
import { pickPlugin } from './pick.js';

/** The plugins netboot ships, for recipes and for your own hooks. */
export const plugins = {
  assemble: assemblePlugin,
  cpio: cpioPlugin,
  tar: tarPlugin,
  files: filesPlugin,
  merge: mergePlugin,
  pick: pickPlugin,
  sourceTree: sourceTreePlugin,
  text: textPlugin,
  serverConfigs: serverConfigsPlugin,
  ext4Image: ext4ImagePlugin,
  pxelinux: pxelinuxPlugin,
  debianBase: debianBasePlugin,
  aptInstall: aptInstallPlugin,
  debianCustomize: debianCustomizePlugin,
  debianKernel: debianKernelPlugin,
  fetchFile: fetchFilePlugin,
  extractTar: extractTarPlugin,
  freebsdRoot: freebsdRootPlugin,
  freebsdCustomize: freebsdCustomizePlugin,
  freebsdConf: freebsdConfPlugin,
};
