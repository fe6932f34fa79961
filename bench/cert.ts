import { execFileSync } from 'node:child_process';

/**
 * A self-signed certificate and its RSA key (openssl, valid 2 days), for the test servers: the
 * registry's TLS (`ip` sets subjectAltName=IP:..., which TLS clients check) and the token
 * server's signing key.
 */
export function selfSignedCert(o: { cn: string; keyFile: string; certFile: string; ip?: string }): void {
  const san = o.ip ? ['-addext', `subjectAltName=IP:${o.ip}`] : [];
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${o.cn}`, ...san].concat([
      '-keyout',
      o.keyFile,
      '-out',
      o.certFile,
    ]),
    { stdio: 'ignore' },
  );
}
