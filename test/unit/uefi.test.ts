import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isNetbootError } from '../../base/errors.js';
import { bootEntry } from '../../boot/entry.js';
import type { Artifact } from '../../cache/artifact.js';
import { validateConfig } from '../../cli/config-validate.js';
import { actionKey, diffParts, type KeyProviders, keyParts } from '../../core/keys.js';
import { builtinRecipes } from '../../pipelines/index.js';
import { bootLinks, pxelinuxTreePlugin } from '../../plugins/pxelinux-tree.js';
import { GRUB_DISPATCH, grubEntry } from '../../plugins/uefi-files.js';
import { ROOT } from '../helpers.js';

const host = (boot?: object) => ({
  cache: 'cache',
  san: { server: '10.0.2.2' },
  hosts: { h1: { recipe: 'demo', mac: '52:54:00:12:34:56', ip: '10.0.2.15', ...(boot ? { boot } : {}) } },
});
const tree = {
  mac: '52:54:00:12:34:56',
  label: 'h',
  append: '',
  serial: true,
  loader: 'pxelinux' as const,
  httpBase: undefined,
};
const validate = (raw: unknown) => validateConfig(raw, join(ROOT, 'netboot.config.ts'), builtinRecipes);
const refusal = (raw: unknown) => {
  try {
    validate(raw);
  } catch (e) {
    if (isNetbootError(e)) return { code: e.code, message: [e.message, ...e.details].join('\n') };
    throw e;
  }
  throw new Error('accepted');
};

describe('boot.firmware', () => {
  it('defaults to both, sorted and without repeats; bad or empty lists are refused by path', () => {
    expect(validate(host()).hosts.get('h1')!.info.boot).toEqual({ firmware: ['bios', 'uefi'] });
    expect(validate(host({ firmware: ['uefi', 'uefi'] })).hosts.get('h1')!.info.boot).toEqual({ firmware: ['uefi'] });
    expect(refusal(host({ firmware: ['efi'] }))).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(refusal(host({ firmware: ['efi'] })).message).toMatch(/hosts\.h1\.boot\.firmware\[0\]/);
    expect(refusal(host({ firmware: [] })).message).toMatch(/hosts\.h1\.boot\.firmware: is empty/);
  });

  it("puts only the booted firmware's loaders in the TFTP step's key (a shim or GRUB upgrade re-runs it)", () => {
    const sources = (firmware: ('bios' | 'uefi')[]) => pxelinuxTreePlugin.sources!({ ...tree, firmware });
    expect(sources(['uefi'])).toEqual([
      '/usr/lib/shim/shimx64.efi.signed',
      '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed',
    ]);
    expect(sources(['bios']).some((s) => s.includes('shim'))).toBe(false);
    expect(sources(['bios', 'uefi'])).toContain('/usr/lib/PXELINUX/pxelinux.0');
  });

  it('a UEFI host links the TFTP root grub/grub.cfg into its own directory; a BIOS-only host links nothing', () => {
    const info = (firmware: ('bios' | 'uefi')[]) => ({ ...validate(host()).hosts.get('h1')!.info, boot: { firmware } });
    expect(bootLinks(info(['uefi']))).toEqual([{ target: 'tftp', path: 'grub/grub.cfg', to: 'grub/grub.cfg' }]);
    expect(bootLinks(info(['bios']))).toEqual([]);
  });
});

describe('what a new shim or GRUB re-runs', () => {
  // Providers as the engine has them, with the build machine's loader files given digests by a table.
  const providers = (digests: Record<string, string>): KeyProviders => ({
    tools: { version: async () => 'v1', hostFile: async () => true },
    sources: { digest: async (path) => digests[path] ?? 'file:same' },
    fingerprints: { fingerprint: async () => 'unused' },
  });
  const file: Artifact = { kind: 'file', digest: '1'.repeat(64), size: 1, mode: 0o644 } as Artifact;
  const tftp = { id: 'tftp', plugin: pxelinuxTreePlugin, params: { ...tree, firmware: ['bios', 'uefi'] }, inputs: {} };
  const at = { host: 'h1', step: 'tftp' };
  const env = { sourceDateEpoch: 0, baseDir: '/' };

  it("changes the TFTP step's key, and explain's diff names the file (a step without it is untouched)", async () => {
    const shim = '/usr/lib/shim/shimx64.efi.signed';
    const key = (d: Record<string, string>) =>
      keyParts(tftp as never, { vmlinuz: file, initrd: file }, at, providers(d), env);
    const before = await key({ [shim]: 'file:aaaa' });
    const after = await key({ [shim]: 'file:bbbb' });
    expect(actionKey(after)).not.toBe(actionKey(before));
    expect(diffParts(before, after)).toEqual([`source ${shim}: aaaa -> bbbb`]);
    // Every other step of a recipe declares no loader file: its key cannot see the change.
    const image = { ...tftp, plugin: { ...pxelinuxTreePlugin, sources: undefined } };
    const plain = (d: Record<string, string>) =>
      keyParts(image as never, { vmlinuz: file, initrd: file }, at, providers(d), env);
    expect(actionKey(await plain({ [shim]: 'file:aaaa' }))).toBe(actionKey(await plain({ [shim]: 'file:bbbb' })));
  });
});

describe('the GRUB entry', () => {
  it('quotes every word of the command line, so GRUB passes $, ; and quotes to the kernel as written', () => {
    const cfg = grubEntry('web.lab', "root=/dev/nbd0 a=$x;b it's");
    expect(cfg).toContain(`linux $cmdpath/vmlinuz 'root=/dev/nbd0' 'a=$x;b' 'it'\\''s'\n`);
    expect(cfg).toContain("menuentry 'web.lab' {");
    expect(GRUB_DISPATCH).toContain('configfile $cmdpath/grub.cfg');
  });

  it('reads back as the same command line the boot test boots with', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netboot-uefi-'));
    try {
      const append = "root=/dev/nbd0 nbdroot=10.0.2.2,h1,nbd0 a=$x;b it's console=ttyS0";
      writeFileSync(join(dir, 'grub.cfg'), grubEntry('h1', append));
      expect(bootEntry(dir, 'h1', '52:54:00:12:34:56', 'secureboot')).toEqual({
        file: 'grub.cfg',
        bootFile: 'h1/shimx64.efi',
        site: ['grub/grub.cfg'],
        append,
      });
      mkdirSync(join(dir, 'pxelinux.cfg'));
      writeFileSync(join(dir, 'pxelinux.cfg/01-52-54-00-12-34-56'), `LABEL h1\n  APPEND ${append}\n`);
      expect(bootEntry(dir, 'h1', '52:54:00:12:34:56', 'bios').append).toBe(append);
      expect(bootEntry(join(dir, 'none'), 'h1', '52:54:00:12:34:56', 'uefi').append).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
