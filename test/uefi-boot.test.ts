import { readFileSync, realpathSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../boot/processes.js';
import { byStep, Project, ran, type StepRow } from './helpers.js';

// UEFI network boot, as a machine without a legacy BIOS does it: OVMF, then Debian's signed
// shim, Debian's signed GRUB network image, the host's GRUB entry, bullseye's signed kernel and
// its NBD (or NFS) root, all from the published release. The same fixture and the same shared
// cache as debian-nbd.test.ts: every step but what this file changes is a cache hit there.
// BIOS boots of both hosts are debian-nbd.test.ts's.
let deb: Project;
const cache = inject('sharedDebianCache');

beforeAll(() => {
  deb = new Project('debian-nbd', { cache });
});
afterAll(() => deb.remove(), 300_000);

describe('UEFI network boot (shim + GRUB) with and without Secure Boot', () => {
  it('publishes a TFTP directory that boots both BIOS and UEFI, whole on its own', async () => {
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'bullseye-nbd']);
    expect(r.code, r.stderr).toBe(0);
    const pub = await deb.runAsync(['publish', 'bullseye-nbd']);
    expect(pub.code, pub.stderr).toBe(0);
    const dir = deb.path('san/tftp/bullseye-nbd');
    // The signed binaries exactly as Debian ships them (a changed byte would fail verification).
    expect(readFileSync(`${dir}/shimx64.efi`)).toEqual(readFileSync('/usr/lib/shim/shimx64.efi.signed'));
    expect(readFileSync(`${dir}/grubx64.efi`)).toEqual(
      readFileSync('/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed'),
    );
    // The GRUB entry boots what the PXELINUX entry boots, with the same command line.
    const append = /APPEND (.*)/.exec(readFileSync(`${dir}/pxelinux.cfg/01-52-54-00-12-34-56`, 'utf8'))![1];
    const words = append.split(' ').map((w) => `'${w}'`);
    expect(readFileSync(`${dir}/grub.cfg`, 'utf8')).toContain(`linux $cmdpath/vmlinuz ${words.join(' ')}\n`);
    expect(readFileSync(`${dir}/grub.cfg`, 'utf8')).toContain('initrd $cmdpath/initrd.img\n');
    // The one file outside the host's directory that GRUB reads is a stable link into it.
    expect(realpathSync(deb.path('san/tftp/grub/grub.cfg'))).toBe(realpathSync(`${dir}/grub/grub.cfg`));
    expect(readFileSync(deb.path('san/tftp/grub/grub.cfg'), 'utf8')).toContain('configfile $cmdpath/grub.cfg');
  }, 1_200_000);

  it('boots to the login prompt under OVMF (uefi)', async () => {
    const boot = await deb.runAsync(['boot-test', 'bullseye-nbd', '--firmware', 'uefi', '--timeout', '400']);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
    expect(boot.stdout).toMatch(/booting bullseye-nbd\/shimx64.efi \(uefi\)/);
    expect(boot.stdout).toMatch(/bullseye-nbd: login prompt after [\d.]+ s \(uefi\)/);
  }, 600_000);

  it('boots to the login prompt with Secure Boot enforced, the kernel saying so', async () => {
    const boot = await deb.runAsync(['boot-test', 'bullseye-nbd', '--firmware', 'secureboot', '--timeout', '400']);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
    expect(boot.stdout).toMatch(/the kernel says: .*Secure boot enabled/);
    expect(boot.stdout).toMatch(/bullseye-nbd: login prompt after [\d.]+ s \(secureboot\)/);
  }, 600_000);

  it('changing only the firmware re-runs only the TFTP step and the DHCP configs, and explain says why', () => {
    const bios = deb.json<{ steps: StepRow[] }>(['build', 'bullseye-nbd'], { NBD_FIRMWARE: 'bios' });
    expect(bios.code, bios.stderr).toBe(0);
    expect(ran(bios.data.steps).sort()).toEqual(['server-configs', 'tftp']);
    // The UEFI loaders leave the key with the firmware: a shim or GRUB upgrade no longer re-runs it.
    expect(byStep(bios.data.steps).tftp.reasons).toEqual([
      'param firmware: ["bios","uefi"] -> ["bios"]',
      'source /usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed: a376f239f40f -> none',
      'source /usr/lib/shim/shimx64.efi.signed: 0fc347af103e -> none',
    ]);
    const explain = deb.run(['explain', 'bullseye-nbd', 'tftp'], { NBD_FIRMWARE: 'bios' });
    expect(explain.stdout).toContain('last build: ran because param firmware');
  }, 300_000);

  it('boots the NFS-root kvm-host under OVMF (uefi)', async () => {
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'kvm-host']);
    expect(r.code, r.stderr).toBe(0);
    const pub = await deb.runAsync(['publish', 'kvm-host']);
    expect(pub.code, pub.stderr).toBe(0);
    const boot = await deb.runAsync(['boot-test', 'kvm-host', '--firmware', 'uefi', '--timeout', '400']);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
    expect(boot.stdout).toMatch(/kvm-host: login prompt after [\d.]+ s \(uefi\)/);
  }, 1_200_000);
});

describe('iPXE as the loader (boot.loader: ipxe), kernel and initrd over TFTP or HTTP', () => {
  const ipxe = { NBD_LOADER: 'ipxe' };
  it('only the TFTP and server-config steps re-run; the directory holds iPXE and its script', async () => {
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'bullseye-nbd'], ipxe);
    expect(r.code, r.stderr).toBe(0);
    expect(ran(r.data.steps).sort()).toEqual(['server-configs', 'tftp']);
    expect((await deb.runAsync(['publish', 'bullseye-nbd'], ipxe)).code).toBe(0);
    const dir = deb.path('san/tftp/bullseye-nbd');
    expect(readFileSync(`${dir}/undionly.kpxe`)).toEqual(readFileSync('/usr/lib/ipxe/undionly.kpxe'));
    expect(readFileSync(`${dir}/snponly.efi`)).toEqual(readFileSync('/usr/lib/ipxe/snponly.efi'));
    expect(readFileSync(`${dir}/boot.ipxe`, 'utf8')).toMatch(
      /^#!ipxe\n[\s\S]*^kernel vmlinuz initrd=initrd.img root=/m,
    );
    const dnsmasq = readFileSync(deb.path('san/conf/bullseye-nbd/dnsmasq.d/bullseye-nbd.conf'), 'utf8');
    expect(dnsmasq).toContain('dhcp-userclass=set:netboot-ipxe,iPXE');
    expect(dnsmasq).toContain('dhcp-boot=tag:netboot-bullseye-nbd,tag:netboot-ipxe,bullseye-nbd/boot.ipxe,,10.0.2.2');
  }, 300_000);

  it('boots to the login prompt with kernel and initrd over TFTP', async () => {
    const boot = await deb.runAsync(['boot-test', 'bullseye-nbd', '--timeout', '400'], ipxe);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
    expect(boot.stdout).toMatch(/booting bullseye-nbd\/boot.ipxe \(bios\)/);
    expect(boot.stdout).toMatch(/bullseye-nbd: login prompt after [\d.]+ s \(bios\)/);
  }, 600_000);

  it('with san.http, boots to the login prompt with kernel and initrd over HTTP', async () => {
    const http = { ...ipxe, NBD_SAN_HTTP: `http://10.0.2.2:${await freePort()}/` };
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'bullseye-nbd'], http);
    expect(ran(r.data.steps).sort()).toEqual(['server-configs', 'tftp']);
    expect((await deb.runAsync(['publish', 'bullseye-nbd'], http)).code).toBe(0);
    expect(readFileSync(deb.path('san/tftp/bullseye-nbd/boot.ipxe'), 'utf8')).toContain(
      `kernel ${http.NBD_SAN_HTTP}bullseye-nbd/vmlinuz initrd=initrd.img root=`,
    );
    const boot = await deb.runAsync(['boot-test', 'bullseye-nbd', '--timeout', '400'], http);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
    // The kernel and initrd came over HTTP: at least their size was sent.
    const sent = Number(/bullseye-nbd: (\d+) bytes over HTTP/.exec(boot.stdout)?.[1]);
    const size = (f: string) => statSync(deb.path('san/tftp/bullseye-nbd', f)).size;
    expect(sent).toBeGreaterThanOrEqual(size('vmlinuz') + size('initrd.img'));
    expect(boot.stdout).toMatch(/bullseye-nbd: login prompt after [\d.]+ s \(bios\)/);
  }, 900_000);
});
