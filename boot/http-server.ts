import { createReadStream, realpathSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, sep } from 'node:path';

export interface HttpServer {
  port: number;
  /** Bytes sent so far (what the guest fetched over HTTP). */
  sent(): number;
  stop(): Promise<void>;
}

/**
 * Serves a published TFTP root read-only over HTTP on 127.0.0.1:`port` under `prefix`, as the SAN's web server
 * does for `san.http` (the guest reaches it as 10.0.2.2:`port`). GET and HEAD of regular files
 * only; a path that leaves the root (through '..' or a symlink) is 404.
 */
export async function startHttpServer(root: string, port: number, prefix = '/'): Promise<HttpServer> {
  const top = realpathSync(root);
  let sent = 0;
  const server: Server = createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const path = url.startsWith(prefix) ? url.slice(prefix.length) : undefined;
    let file: string | undefined;
    try {
      if (path === undefined) throw new Error('outside the prefix');
      const real = realpathSync(join(top, path));
      if ((real === top || real.startsWith(top + sep)) && statSync(real).isFile()) file = real;
    } catch {}
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    const size = statSync(file).size;
    res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    sent += size;
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    sent: () => sent,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())).then(() => undefined),
  };
}
