import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

// Who may talk to `fleetprof serve`, decided from the request headers before any query runs:
// - Host must name the address the server is bound to (or, on loopback, localhost): a page that
//   rebinds its own DNS name to 127.0.0.1 still sends its own name as Host (DNS rebinding).
// - A browser's cross-origin request carries Origin (and Sec-Fetch-Site): refused unless the
//   origin is the server itself, so a foreign page cannot even send a "simple" text/plain POST.
// - With a token, `Authorization: Bearer <token>` is required (always on non-loopback binds).

export interface HttpGuardOptions {
  /** The address the server is bound to (e.g. 127.0.0.1, ::1, 0.0.0.0, 10.0.0.5). */
  bindAddress: string;
  port: number;
  /** Required as a Bearer token when set. */
  token?: string;
}

export interface Refusal {
  status: number;
  error: string;
}

export function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(address);
}

const isWildcard = (address: string) => address === '0.0.0.0' || address === '::';

/** The Host header values a server bound to `bindAddress:port` answers to (undefined: any). */
export function allowedHosts(bindAddress: string, port: number): Set<string> | undefined {
  if (isWildcard(bindAddress)) return undefined; // every interface: only the token protects it
  const names = new Set([bindAddress]);
  if (isLoopback(bindAddress)) for (const n of ['localhost', '127.0.0.1', '::1']) names.add(n);
  const hosts = new Set<string>();
  for (const n of names) {
    const h = isIP(n) === 6 ? `[${n}]` : n;
    hosts.add(`${h}:${port}`.toLowerCase());
    if (port === 80) hosts.add(h.toLowerCase());
  }
  return hosts;
}

export function checkHttpRequest(headers: Record<string, string | string[] | undefined>, o: HttpGuardOptions): Refusal | undefined {
  const one = (k: string) => {
    const v = headers[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const host = (one('host') ?? '').toLowerCase();
  const hosts = allowedHosts(o.bindAddress, o.port);
  if (hosts && !hosts.has(host)) return { status: 403, error: `Host "${host}" is not this server (${[...hosts].join(', ')}): refused (DNS rebinding protection)` };
  const origin = one('origin');
  if (origin !== undefined && origin !== `http://${host}`) return { status: 403, error: `cross-origin request from ${origin} refused` };
  const site = one('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return { status: 403, error: `cross-site request (${site}) refused` };
  if (o.token !== undefined) {
    const m = /^Bearer (.+)$/.exec(one('authorization') ?? '');
    if (!m || !sameSecret(m[1], o.token)) return { status: 401, error: 'missing or wrong token: send Authorization: Bearer <token> (printed by fleetprof serve at start)' };
  }
  return undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
