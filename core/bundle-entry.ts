// The single module bin/netboot.js loads and 'netboot' resolves to: the public API and the CLI.
export * from './index.js';
export { main } from './cli.js';
