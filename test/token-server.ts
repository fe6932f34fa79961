import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { selfSignedCert } from '../bench/cert.js';
import { freePort } from '../boot/processes.js';

/**
 * A token server of the distribution token spec, for docker-registry's `auth: token`: it
 * checks Basic credentials and answers `{ token }`, a JWT (RS256) whose header carries the
 * signing certificate (x5c), which the registry checks against its rootcertbundle.
 */
export class TokenServer {
  readonly certFile: string;
  readonly service = 'netboot-test-registry';
  readonly issuer = 'netboot-test-issuer';
  port = 0;
  /** Every scope asked for, in order (what the client requested). */
  readonly asked: string[] = [];
  private server?: Server;
  private readonly key: ReturnType<typeof createPrivateKey>;
  private readonly certDer: string;

  constructor(
    dir: string,
    private readonly user: { name: string; password: string },
  ) {
    this.certFile = join(dir, 'token-cert.pem');
    const keyFile = join(dir, 'token-key.pem');
    selfSignedCert({ cn: 'netboot-test-token-issuer', keyFile, certFile: this.certFile });
    this.key = createPrivateKey(readFileSync(keyFile));
    this.certDer = new X509Certificate(readFileSync(this.certFile)).raw.toString('base64');
  }

  get realm(): string {
    return `http://127.0.0.1:${this.port}/token`;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', this.realm);
      const want = `Basic ${Buffer.from(`${this.user.name}:${this.user.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401).end('{"errors":[{"message":"bad login"}]}');
        return;
      }
      const scopes = url.searchParams.getAll('scope');
      this.asked.push(...scopes);
      const access = scopes.map((s) => {
        const [type, ...rest] = s.split(':');
        const actions = rest.pop()!.split(',');
        return { type, name: rest.join(':'), actions };
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: this.token(access) }));
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
  }

  private token(access: unknown[]): string {
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const header = b64({ typ: 'JWT', alg: 'RS256', x5c: [this.certDer] });
    const claims = b64({
      iss: this.issuer,
      sub: this.user.name,
      aud: this.service,
      exp: now + 600,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    });
    const sig = sign('sha256', Buffer.from(`${header}.${claims}`), this.key).toString('base64url');
    return `${header}.${claims}.${sig}`;
  }

  async stop(): Promise<void> {
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
  }
}
