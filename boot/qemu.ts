import { closeSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BootFirmware, firmwareArgs } from './ovmf.js';
import { start, stopPid } from './processes.js';

export interface PxeBoot {
  tftpRoot: string;
  bootFile: string;
  mac: string;
  consoleLog: string;
  memoryMiB?: number;
  /** A prefix to run qemu with (e.g. nsenter into a server's network namespace). */
  wrap?: string[];
  /** bios (default): SeaBIOS and qemu's iPXE ROM; uefi, secureboot: OVMF (its files copied beside consoleLog). */
  firmware?: BootFirmware;
  /** Keep qemu's iPXE option ROM on the NIC under UEFI too (it runs an iPXE script as the boot file). */
  ipxeRom?: boolean;
  /** A tap device to boot on (a bridge with real DHCP and TFTP servers) instead of qemu's user network. */
  tap?: string;
}

export interface BootResult {
  ok: boolean;
  seconds: number;
  reason: string;
  tail: string[];
}

/**
 * What a guest prints when it will never reach a login: the kernel panicked (e.g. /sbin/init
 * exited: "Attempted to kill init"). With `-no-reboot` and no `panic=` a panicked guest just
 * halts, so waiting for the timeout would only waste it.
 */
export const FATAL_CONSOLE = /Kernel panic - not syncing|Attempted to kill init/;

/**
 * PXE-boots a guest under software emulation (TCG: KVM aborts on this project's machines) with
 * qemu's user network serving DHCP and TFTP, and watches the serial console for `pattern`.
 * qemu is always stopped by its pid, whatever happens.
 */
export async function pxeBoot(
  b: PxeBoot,
  pattern: RegExp,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<BootResult> {
  const net = b.tap
    ? `tap,id=n0,ifname=${b.tap},script=no,downscript=no`
    : `user,id=n0,tftp=${b.tftpRoot},bootfile=${b.bootFile}`;
  closeSync(openSync(b.consoleLog, 'w'));
  const wrap = b.wrap ?? [];
  const fw = firmwareArgs(b.firmware ?? 'bios', dirname(b.consoleLog));
  const q = start(wrap[0] ?? 'qemu-system-x86_64', [
    ...(wrap.length ? [...wrap.slice(1), 'qemu-system-x86_64'] : []),
    '-accel',
    'tcg',
    ...fw.machine,
    '-m',
    String(b.memoryMiB ?? 1024),
    '-smp',
    '1',
    '-display',
    'none',
    '-no-reboot',
    '-monitor',
    'none',
    '-netdev',
    net,
    '-device',
    [`virtio-net-pci,netdev=n0,mac=${b.mac}`, ...(b.ipxeRom ? [] : fw.nicRom)].join(','),
    '-boot',
    'n',
    '-serial',
    `file:${b.consoleLog}`,
  ]);
  const t0 = Date.now();
  let exited: number | null | undefined;
  q.child.on('close', (code) => (exited = code));
  const lines = () => readFileSync(b.consoleLog, 'latin1').split(/\r?\n/);
  try {
    for (;;) {
      const text = readFileSync(b.consoleLog, 'latin1');
      if (pattern.test(text))
        return { ok: true, seconds: (Date.now() - t0) / 1000, reason: 'found', tail: lines().slice(-30) };
      const fatal = FATAL_CONSOLE.exec(text);
      if (fatal) {
        // A moment for the rest of the panic message (its reason, the stack) to reach the console.
        await sleep(1000);
        const all = lines();
        const at = Math.max(
          0,
          all.findIndex((l) => FATAL_CONSOLE.test(l)),
        );
        const seconds = (Date.now() - t0) / 1000;
        // What led to the panic matters more than its stack: the lines before it, and a few after.
        return {
          ok: false,
          seconds,
          reason: `the kernel panicked after ${seconds.toFixed(1)} s: ${all[at]?.trim() || fatal[0]}`,
          tail: all.slice(Math.max(0, at - 20), at + 10),
        };
      }
      if (exited !== undefined)
        return {
          ok: false,
          seconds: (Date.now() - t0) / 1000,
          reason: `qemu exited (${exited}): ${q.output().trim().split('\n').pop() ?? ''}`,
          tail: lines().slice(-30),
        };
      if (Date.now() - t0 > timeoutMs)
        return {
          ok: false,
          seconds: (Date.now() - t0) / 1000,
          reason: `no ${pattern} within ${timeoutMs / 1000} s`,
          tail: lines().slice(-30),
        };
      if (signal.aborted)
        return { ok: false, seconds: (Date.now() - t0) / 1000, reason: 'interrupted', tail: lines().slice(-30) };
      await sleep(250);
    }
  } finally {
    if (q.child.pid && exited === undefined) await stopPid(q.child.pid, 2000);
  }
}
