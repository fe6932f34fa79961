import { freePort } from '../../boot/processes.js';
import {
  BenchAbort,
  type BenchContext,
  type CaseResult,
  median,
  netboot,
  progress,
  type Row,
  removeTree,
  settle,
  skipDebian,
  stageFixture,
  timeSpawned,
} from '../lib.js';

const HOST = 'bullseye-nbd';

interface Way {
  tool: string;
  firmware: 'bios' | 'uefi' | 'secureboot';
  /** The config knobs of bench/fixtures/debian this way needs (loader, san.http). */
  env: NodeJS.ProcessEnv;
}

/**
 * Time to login of the default host for each firmware and transport, under TCG, in one run: the
 * host is built and published once per loader (pxelinux/shim+GRUB, then iPXE over TFTP, then
 * iPXE with kernel and initrd over HTTP), and `boot-test` boots the published release.
 */
export async function boot(ctx: BenchContext): Promise<CaseResult> {
  const name = 'boot: time to login of bullseye-nbd per firmware and transport (qemu TCG)';
  const skipped = skipDebian(name);
  if (skipped) return skipped;
  const runs = Number(process.env.BENCH_BOOT_RUNS || 1);
  const http = { NBD_LOADER: 'ipxe', NBD_SAN_HTTP: `http://10.0.2.2:${await freePort()}/` };
  const ways: Way[] = [
    { tool: 'bios: pxelinux, TFTP', firmware: 'bios', env: {} },
    { tool: 'uefi: shim + GRUB, TFTP', firmware: 'uefi', env: {} },
    { tool: 'secureboot: shim + GRUB, TFTP, verified', firmware: 'secureboot', env: {} },
    { tool: 'bios: iPXE, TFTP', firmware: 'bios', env: { NBD_LOADER: 'ipxe' } },
    { tool: 'bios: iPXE, kernel and initrd over HTTP', firmware: 'bios', env: http },
  ];
  const rows: Row[] = [];
  const dir = await stageFixture(ctx.root, 'debian');
  try {
    let published = '';
    for (const way of ways) {
      const env = { ...ctx.env, NBD_KERNEL_ARGS: '', NBD_PACKAGES: '', ...way.env };
      const key = JSON.stringify(way.env);
      if (key !== published) {
        progress('boot', `building and publishing ${HOST} for: ${way.tool}`);
        await timeSpawned(netboot(ctx, dir, ['publish', HOST]), env);
        published = key;
      }
      const row: Row = { tool: way.tool, samples: [] };
      const login: number[] = [];
      for (let i = 0; i < runs; i++) {
        progress('boot', `${way.tool}: boot ${i + 1} of ${runs}`);
        settle();
        const args = ['boot-test', HOST, '--firmware', way.firmware, '--timeout', '600'];
        const r = await timeSpawned(netboot(ctx, dir, args), env);
        const m = /login prompt after ([\d.]+) s/.exec(r.stdout);
        if (!m) throw new BenchAbort(`boot: ${way.tool}: no login prompt reported:\n${r.stdout.slice(-1000)}`);
        row.samples.push(r.ms);
        login.push(Number(m[1]) * 1000);
      }
      rows.push({ ...row, detail: `login after ${(median(login) / 1000).toFixed(1)} s (as boot-test reports it)` });
    }
  } finally {
    await removeTree(dir);
  }
  return {
    name: `${name} (N=${runs}; BENCH_BOOT_RUNS sets it)`,
    baseline: ways[0].tool,
    rows,
    detailHead: 'median time to login',
    notes: [
      'Each row: `netboot boot-test bullseye-nbd --firmware <f>` spawn to exit (qemu -accel tcg with its user ' +
        "network's DHCP and TFTP, nbd-server on 127.0.0.1, until the login prompt, then qemu stopped), on the " +
        "release published for that loader. OVMF from Debian's ovmf: OVMF_CODE_4M.fd (uefi) and " +
        'OVMF_CODE_4M.secboot.fd with OVMF_VARS_4M.ms.fd (secureboot: shim, GRUB and the kernel verified).',
      "iPXE rows: qemu's own iPXE ROM runs the per-host boot.ipxe; over HTTP, boot-test serves san.http from " +
        '127.0.0.1. Under TCG the guest CPU dominates the time to login, so a TFTP/HTTP difference smaller than ' +
        "a run's noise does not show here.",
    ],
  };
}
