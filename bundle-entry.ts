// The single module bin/netboot.js loads and 'netboot' resolves to: the public API and the CLI.

export { main } from './cli/main.js';
// For bin/netboot.js only: a second signal escalates to SIGKILL.
export { hurry } from './core/process-group.js';
export * from './index.js';
