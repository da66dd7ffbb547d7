import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { isUiPath } from './ui-assets';

// Who may talk to `fleetprof serve`, decided from the request headers before any query runs:
// - Host must name the address the server is bound to (or, on loopback, localhost): a page that
//   rebinds its own DNS name to 127.0.0.1 still sends its own name as Host (DNS rebinding).
// - A browser's cross-origin request carries Origin (and Sec-Fetch-Site): refused unless the
//   origin is the server itself, so a foreign page cannot even send a "simple" text/plain POST.
// - With a token, `Authorization: Bearer <token>` is required (always on non-loopback binds).
// - The web UI's static files (lib/api/ui-assets.ts) hold no data: they need no token (a browser
//   cannot attach one to a page load; the page sends it with each API call) and may be opened by
//   a cross-site link (a shared URL clicked in a chat), which is a top-level navigation. Host is
//   checked for them as for everything else.

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

/** `path`: the request's path (without the query), so the UI's static files can be told apart. */
export function checkHttpRequest(headers: Record<string, string | string[] | undefined>, o: HttpGuardOptions, path?: string): Refusal | undefined {
  const one = (k: string) => {
    const v = headers[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const host = (one('host') ?? '').toLowerCase();
  const hosts = allowedHosts(o.bindAddress, o.port);
  if (hosts && !hosts.has(host)) return { status: 403, error: `Host "${host}" is not this server (${[...hosts].join(', ')}): refused (DNS rebinding protection)` };
  const origin = one('origin');
  if (origin !== undefined && origin !== `http://${host}`) return { status: 403, error: `cross-origin request from ${origin} refused` };
  const uiFile = path !== undefined && isUiPath(path);
  const site = one('sec-fetch-site');
  const navigation = one('sec-fetch-mode') === 'navigate' && one('sec-fetch-dest') === 'document';
  if (site !== undefined && site !== 'same-origin' && site !== 'none' && !(uiFile && navigation)) return { status: 403, error: `cross-site request (${site}) refused` };
  if (o.token !== undefined && !uiFile) {
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
