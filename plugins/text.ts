import { chmod, writeFile } from 'node:fs/promises';
import { definePlugin } from '../core/plugin.js';
import { p } from '../core/schema.js';

/** One file from a string: rendered configs (pxelinux entries, server snippets). */
export const textPlugin = definePlugin({
  name: 'text',
  version: '1',
  description: 'a single file with the given content',
  params: { content: p.string(), mode: p.number({ integer: true, min: 0, max: 0o7777 }).default(0o644) },
  produces: { file: 'file' },
  async run(ctx) {
    await writeFile(ctx.outputs.file, ctx.params.content);
    await chmod(ctx.outputs.file, ctx.params.mode);
  },
});
