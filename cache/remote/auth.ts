// Credentials for an OCI registry, and the two challenges a registry answers 401 with (the
// Docker/OCI token flow: a Bearer realm to get a token from, or plain Basic auth).
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Credentials {
  username: string;
  password: string;
}

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/**
 * Where the credentials for `host` ("host:port") come from, first match wins:
 * NETBOOT_REGISTRY_USERNAME + NETBOOT_REGISTRY_PASSWORD, then the Docker config
 * ($DOCKER_CONFIG/config.json, else ~/.docker/config.json): `auths[host].auth` (base64
 * "user:password", as `docker login` writes it) or `auths[host].username`/`password`.
 */
export async function credentialsFor(host: string, env: NodeJS.ProcessEnv = process.env) {
  if (env.NETBOOT_REGISTRY_USERNAME && env.NETBOOT_REGISTRY_PASSWORD)
    return { username: env.NETBOOT_REGISTRY_USERNAME, password: env.NETBOOT_REGISTRY_PASSWORD };
  const file = join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
  let auths: Record<string, { auth?: string; username?: string; password?: string }>;
  try {
    auths = (JSON.parse(await readFile(file, 'utf8')) as { auths?: typeof auths }).auths ?? {};
  } catch {
    return undefined;
  }
  const entry = auths[host] ?? auths[`https://${host}`] ?? auths[`http://${host}`];
  if (!entry) return undefined;
  if (entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const at = text.indexOf(':');
    if (at > 0) return { username: text.slice(0, at), password: text.slice(at + 1) };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  return undefined;
}

/** `Bearer realm="https://auth/token",service="registry",scope="repository:r:pull"` and the like. */
export function parseChallenge(header: string | null): Challenge | undefined {
  const m = header && /^\s*(basic|bearer)\b(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g))
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return { scheme: m[1].toLowerCase() as Challenge['scheme'], params };
}

export const basicHeader = (c: Credentials) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;

/**
 * Asks the challenge's realm for a token with the given scopes (the distribution token spec:
 * GET realm?service=...&scope=..., with Basic credentials if there are any).
 */
export async function fetchToken(
  ch: Challenge,
  scopes: string[],
  creds: Credentials | undefined,
  signal: AbortSignal,
): Promise<string> {
  const realm = ch.params.realm;
  if (!realm) throw new Error('the Bearer challenge names no realm');
  const url = new URL(realm);
  if (ch.params.service) url.searchParams.set('service', ch.params.service);
  for (const s of scopes) url.searchParams.append('scope', s);
  const headers: Record<string, string> = creds ? { authorization: basicHeader(creds) } : {};
  const res = await fetch(url, { headers, signal });
  if (!res.ok) throw new Error(`the token server ${url.origin}${url.pathname} answered ${res.status}`);
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new Error(`the token server ${url.origin}${url.pathname} sent no token`);
  return token;
}
