import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../boot/processes.js';
import { selfSignedCert } from './cert.js';

export interface RegistryOptions {
  /** htpasswd (bcrypt) basic auth with this one user. */
  user?: { name: string; password: string };
  /** HTTPS with a self-signed certificate for 127.0.0.1 (`caFile` is its PEM). */
  tls?: boolean;
  /** Bearer token auth: tokens from `realm`, signed by the key of `certFile` (see test/token-server.ts). */
  token?: { realm: string; service: string; issuer: string; certFile: string };
}

/**
 * Debian's docker-registry (CNCF distribution) on 127.0.0.1, on a free port, storing in a temp
 * directory, with its own config. Stopped by its pid; `restart()` keeps its storage. Used by the
 * remote-cache tests and the bench's debian-remote case.
 */
export class TestRegistry {
  readonly dir = mkdtempSync(join(tmpdir(), 'netboot-registry-'));
  readonly storage = join(this.dir, 'storage');
  readonly caFile = join(this.dir, 'cert.pem');
  port = 0;
  private child?: ChildProcess;
  private log = '';
  constructor(private readonly o: RegistryOptions = {}) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }
  url(repo = 'netboot/cache'): string {
    return `oci://${this.host}/${repo}`;
  }
  get base(): string {
    return `${this.o.tls ? 'https' : 'http'}://${this.host}`;
  }

  async start(): Promise<void> {
    this.port ||= await freePort();
    const lines = [
      'version: 0.1',
      'log: { level: warn, accesslog: { disabled: true } }',
      'storage:',
      `  filesystem: { rootdirectory: ${this.storage} }`,
      '  delete: { enabled: true }',
      'http:',
      `  addr: 127.0.0.1:${this.port}`,
      `  secret: netboot-test-${this.port}`,
    ];
    if (this.o.tls) {
      if (!statSync(this.caFile, { throwIfNoEntry: false }))
        selfSignedCert({ cn: '127.0.0.1', ip: '127.0.0.1', keyFile: join(this.dir, 'key.pem'), certFile: this.caFile });
      lines.push(`  tls: { certificate: ${this.caFile}, key: ${join(this.dir, 'key.pem')} }`);
    }
    if (this.o.user) {
      const hash = execFileSync('htpasswd', ['-Bbn', this.o.user.name, this.o.user.password], { encoding: 'utf8' });
      writeFileSync(join(this.dir, 'htpasswd'), hash);
      lines.push('auth:', `  htpasswd: { realm: netboot-test, path: ${join(this.dir, 'htpasswd')} }`);
    }
    if (this.o.token) {
      const t = this.o.token;
      lines.push('auth:', '  token:', `    realm: ${t.realm}`, `    service: ${t.service}`, `    issuer: ${t.issuer}`);
      lines.push(`    rootcertbundle: ${t.certFile}`);
    }
    writeFileSync(join(this.dir, 'config.yml'), `${lines.join('\n')}\n`);
    this.child = spawn('docker-registry', ['serve', join(this.dir, 'config.yml')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.on('data', (d) => (this.log += d));
    for (let i = 0; i < 200; i++) {
      if (this.child.exitCode !== null) break;
      if (await canConnect(this.port)) return;
      await sleep(50);
    }
    throw new Error(`docker-registry did not start: ${this.log}`);
  }

  /** Stops the registry by its pid (SIGTERM, then waits for it to exit). */
  async stop(): Promise<void> {
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
  }

  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The path of a blob's bytes in the registry's storage (to damage it). */
  blobPath(digest: string): string {
    const hex = digest.replace(/^sha256:/, '');
    return join(this.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  }

  /** Every tag of a repository, from the storage (no API call, so no auth needed). */
  tags(repo = 'netboot/cache'): string[] {
    const dir = join(this.storage, 'docker/registry/v2/repositories', repo, '_manifests/tags');
    try {
      return readdirSync(dir).sort();
    } catch {
      return [];
    }
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
