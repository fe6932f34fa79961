// `netboot serve`: the site's servers, data first and the DHCP/TFTP entry point last (as a publish
// switches), restarted when a publish switches the site, all stopped in reverse whatever happens.
import { readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DhcpMode, startDnsmasq } from './dnsmasq.js';
import { startNbd } from './nbd.js';
import { startNfs } from './nfs.js';
import type { Running } from './running.js';
import { startTgt } from './tgt.js';

export interface ServeOptions {
  /** The live site: `<conf>/site`, a link to its release (read through it, so a switch is seen). */
  site: string;
  iface: string;
  /** The interface's address every server listens on. */
  addr: string;
  dhcp: DhcpMode;
  /** A private directory for pid files, leases and the generated main configs. */
  run: string;
  log: (line: string) => void;
}

/** Starts every server the site has files for; on a failure, stops those already started. */
export async function startSite(o: ServeOptions): Promise<Running[]> {
  const up: Running[] = [];
  try {
    for (const s of [
      () => startTgt(o.site, o.addr, o.run),
      () => startNfs(o.site, o.addr, o.run),
      () => startNbd(o.site, o.addr, o.run),
      () => startDnsmasq(o.site, o.iface, o.dhcp, o.run),
    ]) {
      const r = await s();
      if (r) up.push(r);
    }
  } catch (e) {
    await stopAll(up);
    throw e;
  }
  return up;
}

/** Stops in reverse order; one that fails to stop does not keep the others running. */
export async function stopAll(up: Running[]): Promise<void> {
  for (const r of [...up].reverse()) await r.stop().catch(() => undefined);
  up.length = 0;
}

/**
 * Serves until `signal` aborts. Every second the site link is read: a new release restarts the
 * servers (dnsmasq and ganesha read their exports and hosts only at start).
 */
export async function serveSite(o: ServeOptions, signal: AbortSignal): Promise<void> {
  let live = await readlink(o.site);
  const up = await startSite(o);
  o.log(`serving site release ${live.split('/').pop()} on ${o.iface} (${o.addr}): ${up.map((r) => r.name).join(', ')}`);
  try {
    while (!signal.aborted) {
      await sleep(1000, undefined, { signal }).catch(() => undefined);
      const now = await readlink(o.site).catch(() => live);
      if (now === live || signal.aborted) continue;
      live = now;
      o.log(`site release ${live.split('/').pop()} is live: restarting the servers`);
      await stopAll(up);
      up.push(...(await startSite(o)));
      o.log(`serving site release ${live.split('/').pop()}: ${up.map((r) => r.name).join(', ')}`);
    }
  } finally {
    await stopAll(up);
    o.log('stopped every server');
  }
}
