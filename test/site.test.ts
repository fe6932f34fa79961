import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, stopPid } from '../boot/processes.js';
import { BIN, Project, ROOT, runChecker as run, writeAt as write } from './helpers.js';

// The site release: every live host's server configs as one file set per server, published on
// the conf target after the hosts. The fixture's hosts publish nothing but their configs, so
// nothing here builds Debian; the files are checked against the committed tree and by the real
// programs (dnsmasq --test, dhcpd -t, nbd-server, tgtd with tgt-admin).
const EXPECTED = join(ROOT, 'test/fixtures/site-expected');

const walk = (dir: string) =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => statSync(join(dir, p)).isFile() && !p.endsWith('.netboot-release.json'))
    .sort();

let lab: Project;
let site: string;
beforeAll(() => {
  lab = new Project('site');
  // git keeps no file modes but the executable bit: the secret is made private here, as an admin would.
  spawnSync('chmod', ['600', lab.path('secrets/kvm-a.chap')]);
  site = lab.path('san/conf/site');
});
afterAll(() => lab.remove());

describe('the site release', () => {
  it('publish --all writes one file set per server for every host, after the hosts, and runs the site reload', () => {
    const r = lab.run(['publish', '--all']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^site: release 000001 is live \(kvm-a, lxc-a, nbd-a\)$/m);
    expect(readlinkSync(site)).toBe('.releases/site/000001');
    expect(readFileSync(lab.path('reloads.log'), 'utf8')).toBe('reloaded site 000001\n');
  });

  it('holds exactly the committed files (paths as /PROJECT), read-only, the CHAP secret for root only', async () => {
    const files = walk(site);
    for (const f of files) {
      const text = readFileSync(join(site, f), 'utf8').replaceAll(lab.dir, '/PROJECT');
      await expect(text).toMatchFileSnapshot(join(EXPECTED, f));
      expect((statSync(join(site, f)).mode & 0o777).toString(8), f).toBe(f === 'tgt/conf.d/kvm-a.conf' ? '400' : '444');
    }
    expect(files).toEqual(walk(EXPECTED));
    expect(readFileSync(join(site, 'tgt/conf.d/kvm-a.conf'), 'utf8')).toContain(
      'incominguser kvm-a kvm-a-chap-secret-1',
    );
    // The secret is in no other file of the SAN, and in no digest of the release manifest.
    const holders = spawnSync('grep', ['-rl', 'kvm-a-chap-secret-1', lab.path('san')], { encoding: 'utf8' });
    expect(holders.stdout.trim()).toBe(lab.path('san/conf/.releases/site/000001/tgt/conf.d/kvm-a.conf'));
  });

  it('creates each missing backing store once: a sparse file, 0600, formatted with the host file system', () => {
    const img = lab.path('san/iscsi/kvm-a.img');
    const st = statSync(img);
    expect(st.size).toBe(64 * 2 ** 20);
    expect(st.blocks * 512).toBeLessThan(st.size / 2);
    expect((st.mode & 0o777).toString(8)).toBe('600');
    expect(run('e2fsck', ['-fn', img]).code).toBe(0);
    expect((statSync(lab.path('san/iscsi')).mode & 0o777).toString(8)).toBe('700');
  });

  it('a publish that changes nothing keeps the site release and its disks as they are, and runs no reload', () => {
    const ino = statSync(lab.path('san/iscsi/kvm-a.img')).ino;
    writeFileSync(lab.path('san/iscsi/kvm-a.img.marker'), '');
    const r = lab.run(['publish', '--all']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/^site:/m);
    expect(readlinkSync(site)).toBe('.releases/site/000001');
    expect(statSync(lab.path('san/iscsi/kvm-a.img')).ino).toBe(ino);
    expect(readFileSync(lab.path('reloads.log'), 'utf8')).toBe('reloaded site 000001\n');
  });
});

describe('the real servers accept the site', () => {
  const ok = { code: 0, out: 'dnsmasq: syntax check OK.' };

  it.each(['dnsmasq.d', 'dnsmasq-proxy.d'])('dnsmasq --test reads %s as its one conf-dir', (dir) => {
    const main = write(lab.path(`check/${dir}.conf`), `port=0\nconf-dir=${join(site, dir)},*.conf\n`);
    expect(run('dnsmasq', ['--test', '-C', main])).toEqual(ok);
  });

  it('dhcpd -t reads the one include (option 93 defined once, every host after it)', () => {
    const inc = readFileSync(join(site, 'dhcpd/netboot.conf'), 'utf8');
    expect(inc.match(/^option arch code 93 /gm)).toHaveLength(1);
    const main = write(
      lab.path('check/dhcpd.conf'),
      'ddns-update-style none;\nsubnet 10.0.2.0 netmask 255.255.255.0 {}\n' +
        `include "${join(site, 'dhcpd/netboot.conf')}";\n`,
    );
    const r = run('dhcpd', ['-t', '-cf', main]);
    expect(r.code, r.out).toBe(0);
  });

  it("nbd-server loads the site's conf.d as its includedir and lists the export", async () => {
    const port = await freePort();
    const main = write(
      lab.path('check/nbd-server.conf'),
      `[generic]\nlistenaddr = 127.0.0.1\nport = ${port}\nallowlist = true\n` +
        `includedir = ${join(site, 'nbd-server/conf.d')}\n`,
    );
    const pidFile = lab.path('check/nbd.pid');
    expect(run('nbd-server', ['-C', main, '-p', pidFile]).code).toBe(0);
    let pid = 0;
    try {
      for (let i = 0; i < 50 && !pid; i++) {
        await new Promise((r) => setTimeout(r, 100));
        pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || 0 : 0;
      }
      let listed: { code: number | null; out: string } = { code: 1, out: '' };
      for (let i = 0; i < 50 && listed.code !== 0; i++) {
        listed = run('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${port}`]);
        if (listed.code !== 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(listed.code, listed.out).toBe(0);
      expect(JSON.parse(listed.out).exports.map((e: { 'export-name': string }) => e['export-name'])).toEqual(['nbd-a']);
    } finally {
      if (pid > 0) process.kill(pid, 'SIGTERM');
    }
  });

  it('tgtd takes every target: LUN 1 is the backing store, only the host may log in, CHAP for kvm-a', () => {
    // In a network namespace of its own (the portal is private), with a management socket of its own.
    const port = 20000 + Math.floor(Math.random() * 12000);
    const conf = write(lab.path('check/targets.conf'), `include ${join(site, 'tgt/conf.d')}/*.conf\n`);
    const script = [
      'ip link set lo up',
      `tgtd -f -C ${port} --iscsi portal=127.0.0.1:3260 >/dev/null 2>&1 & T=$!`,
      `for i in $(seq 50); do [ -S /var/run/tgtd/socket.${port} ] && break; sleep 0.1; done`,
      `tgt-admin -C ${port} -e -c ${conf}`,
      `tgt-admin -C ${port} --dump`,
      `tgtadm -C ${port} --lld iscsi --mode target --op show`,
      // tgtd ignores SIGTERM while it has targets: offline, removed, then told to exit (as Debian's unit does).
      `tgt-admin -C ${port} --offline ALL; tgt-admin -C ${port} --update ALL -c /dev/null -f`,
      `tgtadm -C ${port} --op delete --mode system; wait $T || true`,
      `rm -f /var/run/tgtd/socket.${port} /var/run/tgtd/socket.${port}.lock`,
    ].join('; ');
    const r = run('unshare', ['--net', 'sh', '-ec', script]);
    expect(r.code, r.out).toBe(0);
    const img = (h: string) => lab.path(`san/iscsi/${h}.img`);
    expect(r.out).toContain(
      `<target iqn.2026-11.lab.san:kvm-a>\n\tbacking-store ${img('kvm-a')}\n` +
        '\tincominguser kvm-a PLEASE_CORRECT_THE_PASSWORD\n' +
        '\tinitiator-address 10.0.2.31\n</target>',
    );
    expect(r.out).toContain(
      `<target iqn.2026-11.lab.san:lxc-a>\n\tbacking-store ${img('lxc-a')}\n\tinitiator-address 10.0.2.32\n</target>`,
    );
    expect(r.out).toMatch(/LUN: 1\n\s+Type: disk\n(?:.*\n){2}\s+Size: 67 MB/);
  });
});

describe('bad input is one error naming the host and the file; nothing is published', () => {
  const disks = (d: object) => ({ SITE_DISKS: JSON.stringify(d) });
  const fails = (env: NodeJS.ProcessEnv) => {
    const before = readlinkSync(site);
    const r = lab.run(['publish', '--all'], env);
    expect(readlinkSync(site)).toBe(before);
    expect(r.code).toBe(2);
    return r.stderr;
  };
  const secret = { secretFile: 'secrets/kvm-a.chap' };

  it('two hosts claiming one backing store', () => {
    const store = { backingStore: 'san/iscsi/shared.img' };
    const err = fails(disks({ 'kvm-a': { ...secret, ...store }, 'lxc-a': store }));
    expect(err).toMatch(/^netboot: error \[ISCSI_STORE_SHARED\]: .*netboot\.config\.ts: san\.iscsi\.disks\.lxc-a: /m);
    expect(err).toContain('is already the disk of host kvm-a');
    expect(existsSync(lab.path('san/iscsi/shared.img'))).toBe(false);
  });

  it('a backing store outside the storage root', () => {
    const err = fails(disks({ 'kvm-a': secret, 'lxc-a': { backingStore: '/var/tmp/netboot-lxc-a.img' } }));
    expect(err).toMatch(/\[ISCSI_STORE_OUTSIDE\]: .*netboot\.config\.ts: san\.iscsi\.disks\.lxc-a\.backingStore: /);
    expect(err).toContain('/var/tmp/netboot-lxc-a.img is outside the storage root');
  });

  it('a missing secretFile, and a host with a CHAP user but none configured', () => {
    const missing = fails(disks({ 'kvm-a': { secretFile: 'secrets/nope.chap' } }));
    expect(missing).toMatch(/\[SECRET_FILE_MISSING\]: .*netboot\.config\.ts: san\.iscsi\.disks\.kvm-a\.secretFile: /);
    expect(missing).toContain(`${lab.path('secrets/nope.chap')} does not exist`);
    expect(fails(disks({}))).toMatch(/\[SECRET_FILE_MISSING\]: .*san\.iscsi\.disks\.kvm-a\.secretFile: \(not set\)/);
  });

  it('serve on an interface that does not exist', () => {
    const r = lab.run(['serve', '--interface', 'nosuch0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^netboot: error \[INTERFACE_UNKNOWN\]: --interface nosuch0: no such network interface/m);
    expect(r.stderr).toContain('netboot.config.ts');
  });
});

describe('netboot serve --install-unit', () => {
  it('writes a systemd unit that runs the same serve command for this config', () => {
    const r = lab.run(['serve', '--install-unit', '--unit-dir', 'units', '--interface', 'lo', '--dhcp', 'proxy']);
    expect(r.code, r.stderr).toBe(0);
    const unit = readFileSync(lab.path('units/netboot-serve.service'), 'utf8');
    expect(unit).toContain(
      `ExecStart=${process.execPath} ${join(ROOT, 'bin/netboot.js')} serve --config ${lab.path('netboot.config.ts')} ` +
        '--interface lo --dhcp proxy\n',
    );
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^WantedBy=multi-user.target$/m);
  });
});

describe('netboot serve (in a network namespace of its own, on a bridge at the SAN address)', () => {
  const NS = `netboot-site-${process.pid}`;
  let serve: ReturnType<typeof spawn> | undefined;
  let out = '';
  const ns = (...args: string[]) => spawnSync('ip', ['netns', 'exec', NS, ...args], { encoding: 'utf8' }).stdout;
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 300 && !re.test(out) && serve?.exitCode === null; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(out).toMatch(re);
  };
  beforeAll(() => {
    for (const args of [
      ['netns', 'add', NS],
      ['-n', NS, 'link', 'set', 'lo', 'up'],
      ['-n', NS, 'link', 'add', 'd0', 'type', 'bridge'],
      ['-n', NS, 'addr', 'add', '10.0.2.2/24', 'dev', 'd0'],
      ['-n', NS, 'link', 'set', 'd0', 'up'],
    ])
      expect(spawnSync('ip', args).status).toBe(0);
    // What the hosts' other releases would hold: the TFTP root and the NFS roots.
    for (const d of ['san/tftp', 'san/nfs/kvm-a/root', 'san/nfs/lxc-a/root'])
      mkdirSync(lab.path(d), { recursive: true });
    spawnSync('chmod', ['755', lab.dir]);
  });
  afterAll(async () => {
    if (serve?.pid && serve.exitCode === null) await stopPid(serve.pid);
    spawnSync('ip', ['netns', 'del', NS]);
  });

  it('runs tgtd, nfs-ganesha, nbd-server and dnsmasq on the interface address', async () => {
    serve = spawn('ip', ['netns', 'exec', NS, process.execPath, BIN, 'serve', '--interface', 'd0'], {
      cwd: lab.dir,
      env: { ...process.env, CI: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    serve.stdout!.on('data', (d) => (out += d));
    serve.stderr!.on('data', (d) => (out += d));
    await waitFor(/^serving site release 000001 on d0 \(10\.0\.2\.2\): tgtd, nfs-ganesha, nbd-server, dnsmasq/m);
    const sockets = ns('ss', '-Hltnu');
    for (const port of [67, 69, 3260, 10809, 2049, 20048])
      expect(sockets, String(port)).toMatch(new RegExp(`:${port} `));
    // Only rpcbind (which takes no address for TCP) listens beyond the interface's address.
    const beyond = sockets
      .split('\n')
      .filter((l) => l && !/ (10\.0\.2\.2|\[::ffff:10\.0\.2\.2\]|0\.0\.0\.0%d0|\[[^\]]+\]%d0):\d+ /.test(l));
    expect(beyond.filter((l) => !/:111 /.test(l))).toEqual([]);
  });

  it('restarts the servers when a publish switches the site, and stops them all on SIGTERM', async () => {
    const r = lab.run(['publish', '--all'], { SITE_EXTRA_HOST: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^site: release 000002 is live \(kvm-a, lxc-a, nbd-a, nbd-b\)$/m);
    await waitFor(/^site release 000002 is live: restarting the servers$/m);
    await waitFor(/^serving site release 000002: tgtd, nfs-ganesha, nbd-server, dnsmasq/m);
    serve!.kill('SIGTERM');
    const code = await new Promise((res) => (serve!.exitCode !== null ? res(serve!.exitCode) : serve!.on('exit', res)));
    expect(code, out).toBe(0);
    expect(out).toMatch(/^stopped every server$/m);
    expect(ns('ss', '-Hltnu').trim()).toBe('');
  });
});
