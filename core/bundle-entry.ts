// The single module bin/netboot.js loads and 'netboot' resolves to: the public API and the CLI.
export * from './index.js';
export { main } from './cli.js';
// For bin/netboot.js only: a second signal escalates to SIGKILL.
export { hurry } from './process-group.js';
