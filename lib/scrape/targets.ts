import { PROFILE_KINDS, type ProfileKind } from '../model/profile';

// Pull mode (fleetprof scrape): which URLs a net/http/pprof endpoint serves each profile kind at,
// and the names and durations the command line takes. Pure: no I/O.

/** Every kind net/http/pprof serves, in the order a round requests them. */
export const SCRAPE_KINDS: readonly ProfileKind[] = PROFILE_KINDS;
/** What `--profiles` defaults to (the agent's set: threadcreate is rarely worth a request). */
export const DEFAULT_SCRAPE_PROFILES: readonly ProfileKind[] = ['cpu', 'heap', 'allocs', 'goroutine', 'block', 'mutex'];

export interface ScrapeTarget {
  /** As given on the command line: what error lines and output name. */
  readonly target: string;
  /** The pprof index, ending in `/`: `http://host:port/debug/pprof/`. */
  readonly base: string;
  /** Instance the profiles are filed under. */
  readonly instance: string;
}

/**
 * `http://host:port`, `host:port`, `http://host:port/debug/pprof` or a prefix in front of it
 * (`https://gw/svc-a` -> `https://gw/svc-a/debug/pprof/`) -> the pprof index URL. Query strings
 * and fragments are refused: they would be silently dropped.
 */
export function pprofBase(target: string): string {
  const raw = /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target : `http://${target}`;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`target "${target}" is not a URL like http://host:port`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`target "${target}": only http and https are supported`);
  if (u.search || u.hash) throw new Error(`target "${target}": no query string or fragment (the profile paths are added to it)`);
  if (u.username || u.password) throw new Error(`target "${target}": credentials in the URL are not supported`);
  let p = u.pathname.replace(/\/+$/, '');
  if (!/\/debug\/pprof$/.test(p)) p += '/debug/pprof';
  u.pathname = p + '/';
  return u.toString();
}

/**
 * The default instance of a target: its host and port (`127.0.0.1:6060` -> `127.0.0.1_6060`). The
 * upload contract allows only [A-Za-z0-9._-] in an instance, so `:` (and an IPv6 address's
 * brackets and colons) become `_`.
 */
export function defaultInstance(base: string): string {
  const u = new URL(base);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const name = `${host}_${port}`.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return name.slice(0, 128);
}

/**
 * Targets with their instances: `--instance` is either absent (each target's host_port), given once
 * for a single target, or given once per target (paired in order).
 */
export function resolveTargets(targets: readonly string[], instances: readonly string[] = []): ScrapeTarget[] {
  if (targets.length === 0) throw new Error('at least one --target is needed');
  if (instances.length > 0 && instances.length !== targets.length) {
    throw new Error(`--instance given ${instances.length} time(s) for ${targets.length} target(s): give it once per target, in the same order, or not at all`);
  }
  const out = targets.map((target, i) => {
    const base = pprofBase(target);
    return { target, base, instance: instances[i] ?? defaultInstance(base) };
  });
  const seen = new Map<string, string>();
  for (const t of out) {
    const key = `${t.base} ${t.instance}`;
    if (seen.has(key)) throw new Error(`target "${t.target}" given twice`);
    seen.set(key, t.target);
  }
  return out;
}

/**
 * Kinds with counter sample types, which net/http/pprof serves as deltas with `?seconds=N` (it
 * snapshots, waits N seconds, snapshots again and subtracts, as `go tool pprof -base` does).
 */
export const DELTA_KINDS: readonly ProfileKind[] = ['heap', 'allocs', 'block', 'mutex'];

export function isDeltaKind(kind: ProfileKind): boolean {
  return DELTA_KINDS.includes(kind);
}

/**
 * The URL of one profile (protobuf, debug=0). The CPU profile runs `cpuSeconds` on the server; a
 * counter kind with `deltaSeconds` > 0 is the delta over that many seconds (`?seconds=N`), with 0
 * (or for a gauge kind) the plain snapshot.
 */
export function profileUrl(base: string, kind: ProfileKind, cpuSeconds: number, deltaSeconds = 0): string {
  if (kind === 'cpu') return new URL(`profile?seconds=${cpuSeconds}`, base).toString();
  if (deltaSeconds > 0 && isDeltaKind(kind)) return new URL(`${kind}?seconds=${deltaSeconds}`, base).toString();
  return new URL(kind, base).toString();
}

/** `cpu,heap` -> kinds, in the order given, each once. */
export function parseProfiles(s: string): ProfileKind[] {
  const out: ProfileKind[] = [];
  for (const raw of s.split(',')) {
    const k = raw.trim();
    if (k === '') continue;
    if (!(SCRAPE_KINDS as readonly string[]).includes(k)) throw new Error(`unknown profile "${k}": one of ${SCRAPE_KINDS.join(', ')}`);
    if (!out.includes(k as ProfileKind)) out.push(k as ProfileKind);
  }
  if (out.length === 0) throw new Error('--profiles names no profile');
  return out;
}

