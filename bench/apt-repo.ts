import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

/**
 * A local, unsigned apt archive with one suite (e.g. bullseye-security), built by the real tools:
 * dpkg-deb makes the canary package from test/fixtures/apt-canary, apt-ftparchive (apt-utils)
 * writes Packages and Release. Served on 127.0.0.1 by a small static HTTP server. Used by
 * test/debian-updates.test.ts and the bench's debian-update case; `root` is the checkout.
 */
export class AptRepo {
  private server?: Server;
  /** Every file request answered, with its status (200 or 304). */
  readonly requests: { path: string; status: number }[] = [];
  constructor(
    readonly root: string,
    readonly dir: string,
    readonly suite: string,
  ) {
    mkdirSync(join(dir, 'pool'), { recursive: true });
  }

  /** Builds the canary at `version`, adds it to the pool, and rewrites the suite's indexes. */
  publishCanary(version: string): void {
    const pkg = join(this.dir, 'build', version);
    mkdirSync(join(pkg, 'DEBIAN'), { recursive: true });
    mkdirSync(join(pkg, 'usr/share/netboot-canary'), { recursive: true });
    const control = readFileSync(join(this.root, 'test/fixtures/apt-canary/control'), 'utf8');
    writeFileSync(join(pkg, 'DEBIAN/control'), control.replace('@VERSION@', version));
    writeFileSync(join(pkg, 'usr/share/netboot-canary/version'), `${version}\n`);
    execFileSync('dpkg-deb', [
      '--root-owner-group',
      '--build',
      pkg,
      join(this.dir, 'pool', `netboot-canary_${version}_all.deb`),
    ]);
    const dist = join(this.dir, 'dists', this.suite);
    mkdirSync(join(dist, 'main/binary-amd64'), { recursive: true });
    const packages = execFileSync('apt-ftparchive', ['packages', 'pool'], { cwd: this.dir });
    writeFileSync(join(dist, 'main/binary-amd64/Packages'), packages);
    const release = execFileSync(
      'apt-ftparchive',
      [
        '-o',
        `APT::FTPArchive::Release::Suite=${this.suite}`,
        '-o',
        `APT::FTPArchive::Release::Codename=${this.suite}`,
        '-o',
        'APT::FTPArchive::Release::Components=main',
        '-o',
        'APT::FTPArchive::Release::Architectures=amd64',
        'release',
        join('dists', this.suite),
      ],
      { cwd: this.dir },
    );
    writeFileSync(join(dist, 'Release.new'), release);
    renameSync(join(dist, 'Release.new'), join(dist, 'Release'));
  }

  /** Serves the archive on 127.0.0.1 (a free port, or `port` again); resolves to its URL. */
  async serve(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      const file = join(this.dir, path);
      let ok = false;
      try {
        ok = !path.includes('..') && statSync(file).isFile();
      } catch {}
      if (!ok) {
        res.writeHead(404).end();
        return;
      }
      // Validators as a real mirror gives them: a client that sends them back gets a 304 for an unchanged file.
      const st = statSync(file);
      const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
      const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString();
      const since = Date.parse(req.headers['if-modified-since'] ?? '');
      const fresh =
        req.headers['if-none-match'] !== undefined
          ? req.headers['if-none-match'] === etag
          : Number.isFinite(since) && Math.floor(st.mtimeMs / 1000) * 1000 <= since;
      this.requests.push({ path, status: fresh ? 304 : 200 });
      if (fresh) {
        res.writeHead(304, { etag, 'last-modified': lastModified }).end();
        return;
      }
      res.writeHead(200, { 'content-length': st.size, etag, 'last-modified': lastModified });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    });
    await new Promise<void>((res) => this.server!.listen(port, '127.0.0.1', res));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((res) => (this.server ? this.server.close(() => res()) : res()));
    this.server = undefined;
  }
}
