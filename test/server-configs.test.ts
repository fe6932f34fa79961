import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../boot/processes.js';
import { RecipeBuilder } from '../core/recipe.js';
import {
  checkServerConfig,
  NBD_DEFAULT_PORT,
  nbdRootArg,
  pxeBasename,
  renderDhcpdHost,
  renderDnsmasqHost,
  renderDnsmasqProxy,
  renderDnsmasqSite,
  renderNbdAuthfile,
  renderNbdExport,
  renderNbdStandalone,
  renderOpenwrtDhcp,
  renderServerConfigs,
  type ServerConfigInput,
  serverConfigsPlugin,
} from '../plugins/server-configs/index.js';
import { runChecker as run, writeAt as write } from './helpers.js';

// An NBD-root host with every optional network setting, and an NFS-root host with a dotted name and none.
const DEMO: ServerConfigInput = {
  name: 'demo',
  mac: '52:54:00:12:34:56',
  ip: '10.0.2.15',
  server: '10.0.2.2',
  bootfile: 'demo/pxelinux.0',
  efiBootfile: 'demo/shimx64.efi',
  nbd: { export: 'demo', image: '/srv/san/nbd/demo/disk.img', authfile: '/srv/san/conf/demo/nbd-server/allow/demo' },
  gateway: '10.0.2.2',
  netmask: '255.255.255.0',
  dns: ['10.0.2.3'],
  tftpRoot: '/srv/san/tftp',
};
const KVM: ServerConfigInput = {
  name: 'kvm1.lab',
  mac: '52:54:00:AB:CD:EF',
  ip: '192.168.7.21',
  server: '192.168.7.2',
  bootfile: 'kvm1.lab/pxelinux.0',
  nfsRoot: '/srv/san/nfs/kvm1.lab',
};
const HOSTS = { demo: DEMO, 'kvm1.lab': KVM };
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/server-configs');

let tmp: string;
beforeAll(() => void (tmp = mkdtempSync(join(tmpdir(), 'netboot-server-configs-'))));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const walk = (dir: string) =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => statSync(join(dir, p)).isFile())
    .sort();

describe('the rendered configs', () => {
  it.each(Object.keys(HOSTS))('the plugin writes exactly the committed tree for %s', async (name) => {
    const out = join(tmp, 'tree', name);
    mkdirSync(out, { recursive: true });
    await serverConfigsPlugin.run({
      params: checkServerConfig(HOSTS[name as keyof typeof HOSTS]),
      outputs: { tree: out },
    } as never);
    const files = walk(out);
    for (const f of files) {
      expect(statSync(join(out, f)).mode & 0o7777).toBe(0o644);
      await expect(readFileSync(join(out, f), 'utf8')).toMatchFileSnapshot(join(FIXTURES, name, f));
    }
    expect(files).toEqual(walk(join(FIXTURES, name)));
  });

  it('rendering is pure: the same host gives the same bytes, whatever the key order or MAC case', () => {
    const shuffled = Object.fromEntries(Object.entries(DEMO).reverse()) as ServerConfigInput;
    expect(renderServerConfigs(shuffled)).toEqual(renderServerConfigs({ ...DEMO, mac: DEMO.mac.toUpperCase() }));
  });

  it('the standalone nbd-server config listens where told and carries each host export', async () => {
    await expect(
      renderNbdStandalone({ listenaddr: '127.0.0.1', port: NBD_DEFAULT_PORT, includedir: '/etc/nbd-server/conf.d' }, [
        DEMO,
      ]),
    ).toMatchFileSnapshot(join(FIXTURES, 'nbd-standalone.conf'));
  });

  it('clients reach the export with the comma form on the default port and SERVER:PORT/EXPORT otherwise', () => {
    expect(nbdRootArg(DEMO)).toBe('nbdroot=10.0.2.2,demo,nbd0');
    expect(nbdRootArg({ ...DEMO, nbd: { ...DEMO.nbd!, port: 10900 } })).toBe('nbdroot=10.0.2.2:10900/demo');
  });

  it("pxe-service gets the basename dnsmasq completes with '.0', or the whole name when it has a '.' already", () => {
    expect(pxeBasename(checkServerConfig(DEMO))).toBe('demo/pxelinux');
    expect(pxeBasename(checkServerConfig(KVM))).toBe('kvm1.lab/pxelinux.0');
    expect(pxeBasename(checkServerConfig({ ...DEMO, bootfile: 'demo/lpxelinux' }))).toBeUndefined();
    expect(renderDnsmasqProxy({ ...DEMO, bootfile: 'demo/lpxelinux' })).toMatch(
      /^# no pxe-service line: dnsmasq would ask for "demo\/lpxelinux\.0"/m,
    );
  });
});

describe('values that could inject lines are refused with CONFIG_INVALID', () => {
  const renderers = {
    renderNbdExport,
    renderNbdAuthfile,
    renderDnsmasqHost,
    renderDnsmasqProxy,
    renderDnsmasqSite,
    renderOpenwrtDhcp,
    renderDhcpdHost,
    renderServerConfigs,
  };
  const codeOf = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return `${(e as { code?: string }).code}: ${(e as Error).message}`;
    }
    return 'no error';
  };

  it.each([
    ['name', { name: 'demo\ndhcp-boot=evil.0' }],
    ['name', { name: 'de"mo' }],
    ['name', { name: "de'mo" }],
    ['bootfile', { bootfile: 'demo/pxelinux.0\ndhcp-boot=evil' }],
    ['bootfile', { bootfile: '../etc/passwd' }],
    ['mac', { mac: '52:54:00:12:34:56,set:other' }],
    ['server', { server: '10.0.2.2\nenable-tftp' }],
    ['dns[0]', { dns: ['10.0.2.3,1.1.1.1'] }],
    ['nfsRoot', { nfsRoot: '/srv/"; option routers 6.6.6.6; "' }],
    ['nbd.image', { nbd: { ...DEMO.nbd!, image: '/srv/disk.img\n[evil]' } }],
    ['nbd.export', { nbd: { ...DEMO.nbd!, export: 'demo]\nexportname = /etc/shadow' } }],
    ['netmask', { netmask: '255.0.255.0' }],
  ] as const)('%s: %j is refused by every renderer', (field, bad) => {
    for (const [, render] of Object.entries(renderers)) {
      const got = codeOf(() => render({ ...DEMO, ...bad } as ServerConfigInput));
      expect(got).toMatch(new RegExp(`^CONFIG_INVALID: server-configs\\.${field.replace(/[.[\]]/g, '\\$&')}: `));
    }
  });

  it('a recipe that declares the step with a bad host name fails at declaration, before anything runs', () => {
    const r = new RecipeBuilder({
      name: 'demo',
      mac: DEMO.mac,
      ip: DEMO.ip,
      server: DEMO.server,
      san: { tftp: '/srv/tftp', nfs: '/srv/nfs', nbd: '/srv/nbd', conf: '/srv/conf' },
    });
    const got = codeOf(() => r.step('server-configs', serverConfigsPlugin, { params: { ...DEMO, name: 'demo"\n' } }));
    expect(got).toMatch(
      /^CONFIG_INVALID: host demo, step server-configs params\.name: "demo\\"\\n" is not a host name/,
    );
  });
});

describe('the real servers accept them', () => {
  const dnsmasqTest = (file: string) => run('dnsmasq', ['--test', '-C', file]);

  it.each(Object.keys(HOSTS))(
    'dnsmasq --test accepts the dnsmasq.d of %s as a conf-dir, and each example alone',
    (name) => {
      const files = renderServerConfigs(HOSTS[name as keyof typeof HOSTS]);
      const dir = join(tmp, 'dnsmasq', name);
      for (const [p, c] of Object.entries(files)) if (p.startsWith('dnsmasq.d/')) write(join(dir, p), c);
      // port=0: the DNS side is not ours; *.conf is how Debian's dnsmasq reads /etc/dnsmasq.d, so the examples stay
      // out.
      const wrapper = write(join(dir, 'dnsmasq.conf'), `port=0\nconf-dir=${join(dir, 'dnsmasq.d')},*.conf\n`);
      expect(dnsmasqTest(wrapper)).toEqual({ code: 0, out: 'dnsmasq: syntax check OK.' });
      for (const p of Object.keys(files).filter((p) => p.endsWith('.example')))
        expect(dnsmasqTest(join(dir, p))).toEqual({ code: 0, out: 'dnsmasq: syntax check OK.' });
    },
  );

  it('every host choosing by client architecture: all hosts in one dnsmasq conf-dir, and in one dhcpd.conf', () => {
    const dir = join(tmp, 'dnsmasq-all');
    for (const h of Object.values(HOSTS)) write(join(dir, `${h.name}.conf`), renderDnsmasqHost(h));
    const wrapper = write(join(tmp, 'dnsmasq-all.conf'), `port=0\nconf-dir=${dir},*.conf\n`);
    expect(dnsmasqTest(wrapper)).toEqual({ code: 0, out: 'dnsmasq: syntax check OK.' });
    const includes = Object.values(HOSTS).map(
      (h) => `include "${write(join(tmp, 'dhcpd-all', h.name), renderDhcpdHost(h))}";`,
    );
    const conf = write(join(tmp, 'dhcpd-all.conf'), `ddns-update-style none;\n${includes.join('\n')}\n`);
    const r = run('dhcpd', ['-t', '-cf', conf]);
    expect(r.code, r.out).toBe(0);
  });

  it('a boot file goes only to the firmware it runs on: BIOS (option 93 = 0) pxelinux, x86-64 UEFI (7, 9) shim', () => {
    const bios = { ...KVM, bootfile: 'jail/freebsd10/boot/pxeboot' };
    const uefiOnly = { ...DEMO, bios: false };
    // A BIOS-only host (FreeBSD's pxeboot) hands nothing to a UEFI client, in every format.
    expect(renderDnsmasqHost(bios)).toContain(
      'dhcp-boot=tag:netboot-kvm1.lab,tag:netboot-bios,jail/freebsd10/boot/pxeboot,',
    );
    expect(renderDnsmasqHost(bios)).not.toMatch(/tag:netboot-efi64,[^\n]*pxeboot/);
    expect(renderDnsmasqHost(bios).match(/^dhcp-boot=/gm)).toHaveLength(1);
    expect(renderDhcpdHost(bios)).toMatch(
      /if option arch = 00:00 \{\n\s+filename "jail\/freebsd10\/boot\/pxeboot";\n\s+\}/,
    );
    expect(renderOpenwrtDhcp(bios).match(/^config boot$/gm)).toHaveLength(1);
    // A UEFI-only host hands nothing to a BIOS client.
    expect(renderDnsmasqHost(uefiOnly)).not.toContain('pxelinux');
    expect(renderDnsmasqProxy(uefiOnly)).not.toMatch(/^pxe-service=.*x86PC/m);
    expect(renderDhcpdHost(uefiOnly)).toMatch(
      /if option arch = 00:07 or option arch = 00:09 \{\n\s+filename "demo\/shimx64.efi";/,
    );
    expect(dnsmasqTest(write(join(tmp, 'uefi-only.conf'), `port=0\n${renderDnsmasqHost(uefiOnly)}`))).toEqual({
      code: 0,
      out: 'dnsmasq: syntax check OK.',
    });
  });

  it('dnsmasq --test does reject a bad line (the check above is not vacuous)', () => {
    const bad = write(join(tmp, 'dnsmasq-bad.conf'), renderDnsmasqHost(DEMO).replace(',demo\n', ',de mo\n'));
    expect(dnsmasqTest(bad)).toEqual({ code: 1, out: `dnsmasq: bad DHCP host name at line 2 of ${bad}` });
  });

  it.each(Object.keys(HOSTS))('the OpenWRT sections of %s become dnsmasq options that dnsmasq accepts', (name) => {
    const lines = ['port=0', ...uciToDnsmasq(renderOpenwrtDhcp(HOSTS[name as keyof typeof HOSTS]))];
    expect(dnsmasqTest(write(join(tmp, 'openwrt', `${name}.conf`), `${lines.join('\n')}\n`))).toEqual({
      code: 0,
      out: 'dnsmasq: syntax check OK.',
    });
  });

  it.each(Object.keys(HOSTS))('dhcpd -t accepts the host block of %s included from a minimal dhcpd.conf', (name) => {
    const block = write(join(tmp, 'dhcpd', `${name}.conf`), renderDhcpdHost(HOSTS[name as keyof typeof HOSTS]));
    const conf = write(join(tmp, 'dhcpd', `${name}-main.conf`), `ddns-update-style none;\ninclude "${block}";\n`);
    const r = run('dhcpd', ['-t', '-cf', conf]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`Config file: ${conf}`);
    const broken = write(
      join(tmp, 'dhcpd', 'broken.conf'),
      readFileSync(block, 'utf8').replace(`"${name}/pxelinux.0";`, `"${name}/pxelinux.0`),
    );
    expect(run('dhcpd', ['-t', '-cf', broken]).code).toBe(1);
  });

  describe('nbd-server', () => {
    let pid: number | undefined;
    afterAll(async () => {
      if (pid !== undefined) await stopAndWait(pid);
    });

    it('serves the conf.d export only to the host in its authfile, and the standalone export by name', async () => {
      const dir = join(tmp, 'nbd');
      const image = join(dir, 'disk.img');
      mkdirSync(dir, { recursive: true });
      expect(run('truncate', ['-s', '16M', image]).code).toBe(0);
      const demo: ServerConfigInput = { ...DEMO, nbd: { export: 'demo', image, authfile: join(dir, 'allow/demo') } };
      const local: ServerConfigInput = {
        ...DEMO,
        name: 'local',
        ip: '127.0.0.1',
        nbd: { export: 'local', image, authfile: join(dir, 'allow/local') },
      };
      write(join(dir, 'conf.d/demo.conf'), renderNbdExport(demo));
      write(join(dir, 'allow/demo'), renderNbdAuthfile(demo));
      write(join(dir, 'allow/local'), renderNbdAuthfile(local));
      const port = await freePort();
      const conf = write(
        join(dir, 'config'),
        renderNbdStandalone({ listenaddr: '127.0.0.1', port, includedir: join(dir, 'conf.d') }, [local]),
      );
      const pidfile = join(dir, 'nbd.pid');
      expect(run('nbd-server', ['-C', conf, '-p', pidfile]).code).toBe(0);
      pid = await waitFor(() =>
        existsSync(pidfile) && Number(readFileSync(pidfile, 'utf8')) > 0
          ? Number(readFileSync(pidfile, 'utf8'))
          : undefined,
      );
      await waitFor(() => connects(port));

      const size = (exp: string) => run('nbdinfo', ['--size', `nbd://127.0.0.1:${port}/${exp}`]);
      expect(size('local')).toEqual({ code: 0, out: '16777216' });
      // The demo host is 10.0.2.15; this test connects from 127.0.0.1.
      expect(size('demo')).toEqual({
        code: 1,
        out: 'nbdinfo: nbd_connect_uri: handshake: server policy prevents NBD_OPT_GO',
      });
      writeFileSync(join(dir, 'allow/demo'), '127.0.0.1\n');
      expect(size('demo')).toEqual({ code: 0, out: '16777216' });
    });
  });
});

/** OpenWRT's dnsmasq init script (dhcp_host_add, _match_add, _boot_add, _tag_add), for the sections we write. */
function uciToDnsmasq(uci: string): string[] {
  const sections: { type: string; name?: string; opts: Record<string, string[]> }[] = [];
  for (const raw of uci.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^config (\w+)(?: '(\w+)')?$/.exec(line) ?? /^(option|list) (\w+) '([^']*)'$/.exec(line);
    if (!m) throw new Error(`not UCI: ${JSON.stringify(line)}`);
    if (m[0].startsWith('config ')) sections.push({ type: m[1], name: m[2], opts: {} });
    else (sections.at(-1)!.opts[m[2]] ??= []).push(m[3]);
  }
  return sections.flatMap(({ type, name, opts }) => {
    const o = (k: string) => opts[k]?.[0];
    if (type === 'host') return [`dhcp-host=${o('mac')}${o('tag') ? `,set:${o('tag')}` : ''},${o('ip')},${o('name')}`];
    if (type === 'match') return [`dhcp-match=${o('networkid')},${o('match')}`];
    if (type === 'tag') return (opts.dhcp_option ?? []).map((d) => `dhcp-option=tag:${name},${d}`);
    if (type !== 'boot' || (o('serveraddress') && !o('servername'))) return [];
    const id = o('networkid');
    return [
      `dhcp-boot=${id ? `net:${id},` : ''}${o('filename')}` +
        `${o('servername') ? `,${o('servername')}` : ''}${o('serveraddress') ? `,${o('serveraddress')}` : ''}`,
      ...(opts.dhcp_option ?? []).map((d) => `dhcp-option=${id ? `${id},` : ''}${d}`),
    ];
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port }, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 10_000,
): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const v = await probe();
    if (v) return v;
  }
  throw new Error(`gave up after ${ms} ms`);
}

const alive = (pid: number) => {
  try {
    return process.kill(pid, 0);
  } catch {
    return false;
  }
};

/** nbd-server takes a second or two to exit after SIGTERM: a later test must not find it still listening. */
async function stopAndWait(pid: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(() => !alive(pid), 10_000);
  } catch {
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !alive(pid), 5_000);
  }
}
