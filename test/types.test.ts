// Type tests: `npm test` type-checks this file (tsc -p tsconfig.test.json) before vitest runs it.
// Each @ts-expect-error is an assertion that the public API rejects a mistake at compile time.

import { defineConfig, definePlugin, defineRecipe, type InputArtifact, p, plugins } from 'netboot';
import { describe, expectTypeOf, it } from 'vitest';

describe('definePlugin', () => {
  it('infers params, inputs and outputs from the declaration', () => {
    const plugin = definePlugin({
      name: 'example',
      version: '1',
      params: { size: p.number(), label: p.string().default('x'), mode: p.enum(['a', 'b'] as const).default('a') },
      inputs: ['rootfs'],
      produces: { image: 'file', tree: 'tree' },
      run(ctx) {
        expectTypeOf(ctx.params).toEqualTypeOf<{ size: number; label: string; mode: 'a' | 'b' }>();
        expectTypeOf(ctx.inputs.rootfs).toEqualTypeOf<InputArtifact>();
        expectTypeOf(ctx.outputs).toEqualTypeOf<{ readonly image: string; readonly tree: string }>();
        // @ts-expect-error: not a declared input
        void ctx.inputs.kernel;
        // @ts-expect-error: not a declared output
        void ctx.outputs.initrd;
      },
    });
    expectTypeOf(plugin.name).toBeString();
  });

  it('gives fingerprint the same typed params', () => {
    definePlugin({
      name: 'fp',
      version: '1',
      params: { suite: p.string() },
      produces: {},
      fingerprint: (ctx) => {
        expectTypeOf(ctx.params.suite).toBeString();
        return ctx.params.suite;
      },
      run() {},
    });
  });
});

describe('recipes', () => {
  it('type-checks step params and inputs against the plugin', () => {
    defineRecipe({
      name: 'typed',
      params: { motd: p.string() },
      build(r, params) {
        expectTypeOf(params).toEqualTypeOf<{ motd: string }>();
        const files = r.step('files', plugins.files, { params: { files: { 'etc/motd': { content: params.motd } } } });
        r.step('pack', plugins.cpio, { params: { format: 'odc' }, inputs: { tree: files.out('tree') } });
        // @ts-expect-error: cpio has no format "zip"
        r.step('bad-format', plugins.cpio, { params: { format: 'zip' }, inputs: { tree: files.out('tree') } });
        // @ts-expect-error: files produces "tree", not "image"
        files.out('image');
        // @ts-expect-error: text needs its content param
        r.step('no-params', plugins.text);
      },
    });
  });
});

describe('defineConfig', () => {
  it('checks each host params against its recipe, built-in or the config own', () => {
    const mine = defineRecipe({ name: 'mine', params: { size: p.number() }, build() {} });
    defineConfig({
      recipes: [mine],
      hosts: {
        a: { recipe: 'demo', mac: '52:54:00:00:00:01', ip: '10.0.0.1', params: { motd: 'hi' } },
        b: { recipe: 'mine', mac: '52:54:00:00:00:02', ip: '10.0.0.2', params: { size: 3 } },
        // @ts-expect-error: demo has no param "size"
        c: { recipe: 'demo', mac: '52:54:00:00:00:03', ip: '10.0.0.3', params: { size: 3 } },
        // @ts-expect-error: mine requires size
        d: { recipe: 'mine', mac: '52:54:00:00:00:04', ip: '10.0.0.4' },
      },
    });
    // @ts-expect-error: unknown recipe
    defineConfig({ hosts: { e: { recipe: 'nope', mac: '52:54:00:00:00:05', ip: '10.0.0.5' } } });
  });

  it('types the FreeBSD recipe: sets and the iSCSI target are required, jails are typed', () => {
    const sets = {
      base: { path: 'base.txz', sha256: 'a'.repeat(64) },
      kernel: { path: 'kernel.txz', sha256: 'b'.repeat(64) },
    };
    const iscsi = { portal: '10.0.0.1', target: 'iqn.2026-11.lan.san:j' };
    defineConfig({
      hosts: {
        j: {
          recipe: 'freebsd10-nfs-ezjail',
          mac: '52:54:00:00:00:06',
          ip: '10.0.0.6',
          params: { sets, iscsi, jails: [{ name: 'www', ip: '10.0.0.50' }] },
        },
        // @ts-expect-error: a FreeBSD host needs its iSCSI target
        k: { recipe: 'freebsd10-nfs-ezjail', mac: '52:54:00:00:00:07', ip: '10.0.0.7', params: { sets } },
        // Sets by release, packages by name or as archives, under the release-neutral name.
        m: {
          recipe: 'freebsd-nfs-ezjail',
          mac: '52:54:00:00:00:09',
          ip: '10.0.0.9',
          params: {
            sets: { release: '14.3-RELEASE', arch: 'amd64', extra: ['lib32'] },
            packages: ['ezjail', { url: 'https://example.org/own.pkg', sha256: 'c'.repeat(64) }],
            iscsi,
          },
        },
        n: {
          recipe: 'freebsd-nfs-ezjail',
          mac: '52:54:00:00:00:0a',
          ip: '10.0.0.10',
          // @ts-expect-error: an optional set is one of FreeBSD's set names
          params: { sets: { release: '14.3-RELEASE', extra: ['games2'] }, iscsi },
        },
        l: {
          recipe: 'freebsd10-nfs-ezjail',
          mac: '52:54:00:00:00:08',
          ip: '10.0.0.8',
          // @ts-expect-error: a jail is a name and an address, not a string
          params: { sets, iscsi, jails: ['www'] },
        },
      },
    });
  });
});
