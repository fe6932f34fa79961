// The plugins netboot ships. A plugin named N lives in plugins/N.ts, in plugins/<family>/<rest>.ts
// when N is <family>-<rest>, or in plugins/N/index.ts; its key here is N in camelCase. The
// registry is also the built-in-name guard: a user plugin may not take a name listed here (the
// cache keys steps by plugin name and version). test/unit/plugin-registry.test.ts checks all three.
import { assemblePlugin } from './assemble.js';
import { cpioPlugin } from './cpio.js';
import { aptInstallPlugin } from './debian/apt-install.js';
import { debianBasePlugin } from './debian/base.js';
import { debianCustomizePlugin } from './debian/customize.js';
import { debianIscsiPlugin } from './debian/iscsi.js';
import { debianKernelPlugin } from './debian/kernel.js';
import { debianPackageManifestPlugin } from './debian/package-manifest.js';
import { debianUpgradePlugin } from './debian/upgrade.js';
import { ext4ImagePlugin } from './ext4-image.js';
import { extractTarPlugin } from './extract-tar.js';
import { fetchFilePlugin } from './fetch-file.js';
import { filesPlugin } from './files.js';
import { freebsdConfPlugin } from './freebsd/conf.js';
import { freebsdCustomizePlugin } from './freebsd/customize.js';
import { freebsdRootPlugin } from './freebsd/root.js';
import { mergePlugin } from './merge.js';
import { pickPlugin } from './pick.js';
import { pxelinuxTreePlugin } from './pxelinux-tree.js';
import { serverConfigsPlugin } from './server-configs/index.js';
import { sourceTreePlugin } from './source-tree.js';
import { tarPlugin } from './tar.js';
import { textPlugin } from './text.js';

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
  pxelinuxTree: pxelinuxTreePlugin,
  /** The key pxelinux-tree had before keys were its name in camelCase; configs written then use it. */
  pxelinux: pxelinuxTreePlugin,
  debianBase: debianBasePlugin,
  aptInstall: aptInstallPlugin,
  debianCustomize: debianCustomizePlugin,
  debianKernel: debianKernelPlugin,
  debianIscsi: debianIscsiPlugin,
  debianUpgrade: debianUpgradePlugin,
  debianPackageManifest: debianPackageManifestPlugin,
  fetchFile: fetchFilePlugin,
  extractTar: extractTarPlugin,
  freebsdRoot: freebsdRootPlugin,
  freebsdCustomize: freebsdCustomizePlugin,
  freebsdConf: freebsdConfPlugin,
};

/** Keys kept for configs written before the rule above, with the plugin name each stands for. */
export const REGISTRY_ALIASES: Record<string, string> = { pxelinux: 'pxelinux-tree' };
