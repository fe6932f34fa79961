/** The names a config file may have, in the order they are looked for in a directory. */
export const SEARCH_PLACES = ['netboot.config.ts', 'netboot.config.mts', 'netboot.config.mjs', 'netboot.config.js'];
