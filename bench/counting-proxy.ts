import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the proxy forwarded: its URL, the status and the body bytes the upstream sent. */
export interface ProxiedRequest {
  url: string;
  status: number;
  bytes: number;
}

/**
 * A forward HTTP proxy on 127.0.0.1 that counts what passes: apt inside a build's chroot takes it
 * from `http_proxy`, so a test or the bench sees every file apt fetched (from deb.debian.org or a
 * local archive) and its size, as the network saw it. Plain HTTP only (apt's Debian mirrors here).
 */
export class CountingProxy {
  readonly requests: ProxiedRequest[] = [];
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const target = req.url ?? '';
      if (!/^http:\/\//.test(target)) {
        res.writeHead(400).end();
        return;
      }
      const up = request(target, { method: req.method, headers: { ...req.headers, connection: 'keep-alive' } }, (r) => {
        const row = { url: target, status: r.statusCode ?? 0, bytes: 0 };
        this.requests.push(row);
        r.on('data', (c: Buffer) => {
          row.bytes += c.length;
        });
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.headersSent || res.writeHead(502).end());
      req.pipe(up);
    });
    await new Promise<void>((res) => this.server!.listen(0, '127.0.0.1', res));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The packages fetched since `from` (an index into `requests`): their file names and total bytes. */
  debs(from = 0): { names: string[]; bytes: number } {
    const rows = this.requests.slice(from).filter((r) => r.status === 200 && /\.deb$/.test(r.url));
    return {
      names: rows.map((r) => decodeURIComponent(r.url.split('/').pop()!)),
      bytes: rows.reduce((n, r) => n + r.bytes, 0),
    };
  }

  async stop(): Promise<void> {
    await new Promise<void>((res) => (this.server ? this.server.close(() => res()) : res()));
    this.server = undefined;
  }
}
