import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isNetbootError } from '../../base/errors.js';
import { validateConfig } from '../../cli/config-validate.js';
import { builtinRecipes } from '../../pipelines/index.js';
import { ROOT } from '../helpers.js';

const FILE = join(ROOT, 'netboot.config.ts');
const demo = (mac: string, ip: string, extra: object = {}) => ({ recipe: 'demo', mac, ip, ...extra });
const good = () => ({
  cache: 'cache',
  san: {
    server: '10.0.2.2',
    nfs: 'ssh://root@10.0.2.2/srv/nfs',
    keep: 2,
    reload: { nbd: 'systemctl reload nbd-server' },
    ssh: { identityFile: '~/.ssh/id' },
  },
  hosts: {
    alpha: demo('52:54:00:AB:CD:EF', '10.0.2.15', { params: { motd: 'hi\n' } }),
    'web.lab': demo('52:54:00:12:34:57', '10.0.2.16'),
  },
});

/** The code a config is refused with, and its message with the lines under it (the further problems). */
function refusal(raw: unknown): { code: string; message: string } {
  try {
    validateConfig(raw, FILE, builtinRecipes);
  } catch (e) {
    if (isNetbootError(e)) return { code: e.code, message: [e.message, ...e.details].join('\n') };
    throw e;
  }
  throw new Error('the config was accepted');
}

describe('validateConfig', () => {
  it('resolves a good config: paths against the config file, defaults filled in, MACs in lower case', () => {
    const c = validateConfig(good(), FILE, builtinRecipes);
    expect(c.cache).toBe(join(ROOT, 'cache'));
    expect(c.san).toEqual({
      server: '10.0.2.2',
      tftp: join(ROOT, 'san/tftp'),
      nfs: 'ssh://root@10.0.2.2/srv/nfs',
      nbd: join(ROOT, 'san/nbd'),
      conf: join(ROOT, 'san/conf'),
      keep: 2,
      reload: { nbd: 'systemctl reload nbd-server' },
      ssh: { identityFile: join(homedir(), '.ssh/id') },
      allowPublic: [],
      // The site's iSCSI disks: sparse files below san/iscsi unless configured.
      iscsi: { storage: join(ROOT, 'san/iscsi'), disks: {} },
    });
    expect(c.sourceDateEpoch).toBe(0);
    expect([...c.hosts.keys()]).toEqual(['alpha', 'web.lab']);
    const alpha = c.hosts.get('alpha')!;
    expect(alpha.recipe.name).toBe('demo');
    expect(alpha.params).toEqual({ motd: 'hi\n', kernelArgs: '' });
    expect(alpha.info).toEqual({
      name: 'alpha',
      mac: '52:54:00:ab:cd:ef',
      ip: '10.0.2.15',
      server: '10.0.2.2',
      san: { tftp: join(ROOT, 'san/tftp'), nfs: '/srv/nfs', nbd: join(ROOT, 'san/nbd'), conf: join(ROOT, 'san/conf') },
      boot: { firmware: ['bios', 'uefi'] },
    });
    expect(c.plugins).toEqual([]);
    expect(c.extend).toEqual({});
    expect(c.warnings).toEqual([]);
  });

  it('warns of unknown keys at every level, naming them by path', () => {
    const raw = { ...good(), colour: 1, san: { ...good().san, speed: 2 } } as any;
    raw.hosts.alpha.size = 3;
    expect(validateConfig(raw, FILE, builtinRecipes).warnings).toEqual([
      'san.speed: unknown key (ignored)',
      'hosts.alpha.size: unknown key (ignored)',
      'colour: unknown key (ignored)',
    ]);
  });

  it.each([
    [
      'a bad MAC',
      { hosts: { a: demo('12:34:56', '10.0.2.15') } },
      'CONFIG_INVALID',
      'hosts.a.mac: "12:34:56" is not a MAC address',
    ],
    [
      'a bad IP',
      { hosts: { a: demo('52:54:00:12:34:56', '10.0.0.300') } },
      'CONFIG_INVALID',
      'hosts.a.ip: "10.0.0.300" is not an IPv4 address',
    ],
    [
      'a name for the SAN server',
      { san: { server: 'san.lan' }, hosts: {} },
      'CONFIG_INVALID',
      'san.server: "san.lan" is not an IPv4 address',
    ],
    ['no hosts', {}, 'CONFIG_INVALID', 'hosts: required object of hosts is missing'],
    [
      'an empty label',
      { hosts: { 'a..b': demo('52:54:00:12:34:56', '10.0.2.15') } },
      'CONFIG_INVALID',
      'hosts.a..b: "a..b" is not a valid host name',
    ],
    [
      'a reserved name',
      { hosts: { GRUB: demo('52:54:00:12:34:56', '10.0.2.15') } },
      'HOST_NAME_RESERVED',
      'hosts.GRUB: "GRUB" is a name',
    ],
    [
      'a shared MAC',
      { hosts: { a: demo('52:54:00:12:34:56', '10.0.2.15'), b: demo('52:54:00:12:34:56', '10.0.2.16') } },
      'DUPLICATE_ADDRESS',
      'hosts.b.mac: MAC 52:54:00:12:34:56 is already used by host a',
    ],
    [
      'an unknown recipe',
      { hosts: { a: { recipe: 'nope', mac: '52:54:00:12:34:56', ip: '10.0.2.15' } } },
      'UNKNOWN_RECIPE',
      'hosts.a.recipe: unknown recipe "nope"',
    ],
    [
      'a param of the wrong type',
      { hosts: { a: demo('52:54:00:12:34:56', '10.0.2.15', { params: { motd: 42 } }) } },
      'CONFIG_INVALID',
      'hosts.a.params.motd: 42 is not a string',
    ],
    [
      'a reload for no target',
      { san: { reload: { www: 'true' } }, hosts: {} },
      'CONFIG_INVALID',
      'san.reload.www: "www" is not a target (tftp, nfs, nbd, conf)',
    ],
    ['keep 0', { san: { keep: 0 }, hosts: {} }, 'CONFIG_INVALID', 'san.keep: 0 is not a whole number of releases'],
    [
      'a time past 2038',
      { sourceDateEpoch: 2 ** 31, hosts: {} },
      'CONFIG_INVALID',
      'sourceDateEpoch: 2147483648 is not a whole number',
    ],
    [
      'a plugin not made by definePlugin',
      { plugins: [{ name: 'x' }], hosts: {} },
      'CONFIG_INVALID',
      'plugins[0]: not a plugin',
    ],
    [
      'hooks for an unknown recipe',
      { extend: { nope: {} }, hosts: {} },
      'UNKNOWN_RECIPE',
      'extend.nope: unknown recipe "nope"',
    ],
    ['a SAN root on /etc', { san: { tftp: '/etc' }, hosts: {} }, 'SAN_ROOT_UNSAFE', 'san.tftp: '],
  ])('refuses %s with its code, naming the field', (_, raw, code, message) => {
    const got = refusal(raw);
    expect(got.code).toBe(code);
    expect(got.message).toContain(message);
  });

  it('reports every problem of a config at once', () => {
    const got = refusal({ san: { keep: -1 }, hosts: { a: demo('x', 'y') } });
    for (const field of ['san.keep', 'hosts.a.mac', 'hosts.a.ip']) expect(got.message).toContain(`${field}: `);
  });
});
