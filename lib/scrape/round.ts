import { decodeProfile } from '../decode';
import type { ProfileKind } from '../model/profile';
import type { Temporality } from '../model/temporality';
import { fetchProfile, ScrapeError } from './fetch';
import { countersWithGauges } from './heap-delta';
import type { ProcessIds } from './process';
import { isDeltaKind, profileUrl, type ScrapeTarget } from './targets';

// One scrape round: every profile of every target, each request on its own deadline and each
// failure kept to its own (target, profile). Where the bytes go is the Sink's business (a data
// directory or the bucket); a Sink failure is that profile's failure too.

export interface Capture {
  readonly target: ScrapeTarget;
  readonly kind: ProfileKind;
  readonly url: string;
  /** When the request started (epoch ms): the capture start. */
  readonly startMs: number;
  readonly bytes: Uint8Array;
  /** How the counter sample types were sent (docs/upload-contract.md); unset for gauge kinds. */
  readonly temporality?: Temporality;
  /** Identity of the target's process as the scraper sees it (lib/scrape/process.ts). */
  readonly process?: string;
}

export interface Sink {
  /** Stores one capture; returns where it went (printed after the profile). */
  put(c: Capture): Promise<string>;
}

export interface ProfileResult {
  readonly target: ScrapeTarget;
  readonly kind: ProfileKind;
  readonly url: string;
  readonly startMs: number;
  readonly ok: boolean;
  /** ok: where the sink put it. */
  readonly where?: string;
  /** not ok: why. */
  readonly reason?: string;
  /** not ok because the scraper was stopped. */
  readonly interrupted?: boolean;
  readonly bytes: number;
}

export interface RoundOptions {
  readonly kinds: readonly ProfileKind[];
  readonly cpuSeconds: number;
  /**
   * Counter kinds (heap, allocs, block, mutex) as `?seconds=N` deltas over this many seconds; 0 or
   * unset: plain cumulative snapshots (queries then difference successive ones).
   */
  readonly deltaSeconds?: number;
  /** Names the process behind each target; unset: no process declared. */
  readonly processes?: ProcessIds;
  /** Per request; the CPU profile gets cpuSeconds on top (the server holds it that long). */
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** Targets scraped at the same time (each target's profiles are requested together). */
  readonly concurrency: number;
  readonly signal?: AbortSignal;
  /** Called as each profile finishes. */
  readonly onResult?: (r: ProfileResult) => void;
  readonly now?: () => number;
}

/** Whether a kind is pulled as a delta in this round. */
function asDelta(kind: ProfileKind, o: Pick<RoundOptions, 'deltaSeconds'>): boolean {
  return (o.deltaSeconds ?? 0) > 0 && isDeltaKind(kind);
}

export function requestTimeoutMs(kind: ProfileKind, o: Pick<RoundOptions, 'cpuSeconds' | 'timeoutMs' | 'deltaSeconds'>): number {
  if (kind === 'cpu') return o.timeoutMs + o.cpuSeconds * 1000;
  return asDelta(kind, o) ? o.timeoutMs + (o.deltaSeconds ?? 0) * 1000 : o.timeoutMs;
}

/** The sum of a plain snapshot's first counter sample type (alloc_objects): it only grows within a process. */
function counterTotal(kind: ProfileKind, bytes: Uint8Array): bigint | undefined {
  if (kind !== 'heap' && kind !== 'allocs') return undefined;
  const p = decodeProfile(bytes);
  const t = p.sampleTypes.findIndex((st) => st.type.startsWith('alloc_'));
  if (t < 0) return undefined;
  let sum = 0n;
  const n = p.sampleTypes.length;
  for (let i = 0; i < p.samples.count; i++) sum += BigInt(p.samples.values.data[i * n + t]);
  return sum;
}

/**
 * The bytes to store for one kind. heap and allocs as deltas need a second request: the delta's
 * inuse_* are differences, so the gauges come from a plain snapshot taken right after it
 * (lib/scrape/heap-delta.ts); that snapshot's allocation total also tells a restart.
 */
async function pull(t: ScrapeTarget, kind: ProfileKind, url: string, o: RoundOptions): Promise<Uint8Array> {
  const fetchOpts = { timeoutMs: requestTimeoutMs(kind, o), maxBytes: o.maxBytes, signal: o.signal };
  if (kind !== 'heap' && kind !== 'allocs') return fetchProfile(url, fetchOpts);
  const delta = asDelta(kind, o) ? await fetchProfile(url, fetchOpts) : undefined;
  const notA = (e: unknown) => new ScrapeError(`not a ${kind} profile: ${(e as Error).message}`);
  // The plain snapshot and the total it shows, in the target's read order (ProcessIds.inOrder).
  const snap = async () => {
    const snapshot = await fetchProfile(profileUrl(t.base, kind, o.cpuSeconds), delta ? { ...fetchOpts, timeoutMs: o.timeoutMs } : fetchOpts);
    try {
      const total = o.processes ? counterTotal(kind, snapshot) : undefined;
      if (total !== undefined) o.processes!.observeTotal(t.instance, total);
    } catch (e) {
      throw notA(e);
    }
    return snapshot;
  };
  const snapshot = o.processes ? await o.processes.inOrder(t.instance, snap) : await snap();
  try {
    return delta ? countersWithGauges(kind, decodeProfile(delta), decodeProfile(snapshot)) : snapshot;
  } catch (e) {
    throw notA(e);
  }
}

async function scrapeOne(t: ScrapeTarget, kind: ProfileKind, o: RoundOptions, sink: Sink): Promise<ProfileResult> {
  const url = profileUrl(t.base, kind, o.cpuSeconds, o.deltaSeconds);
  const startMs = (o.now ?? Date.now)();
  let bytes = 0;
  try {
    if (o.signal?.aborted) throw new ScrapeError('interrupted', true);
    const body = await pull(t, kind, url, o);
    bytes = body.length;
    const temporality: Temporality | undefined = kind === 'cpu' || asDelta(kind, o) ? 'delta' : isDeltaKind(kind) ? 'cumulative' : undefined;
    const where = await sink.put({ target: t, kind, url, startMs, bytes: body, temporality, process: o.processes?.current(t.instance) });
    return { target: t, kind, url, startMs, ok: true, where, bytes };
  } catch (e) {
    if (e instanceof ScrapeError && e.refused) o.processes?.observeGone(t.instance);
    const interrupted = e instanceof ScrapeError && e.interrupted;
    return { target: t, kind, url, startMs, ok: false, reason: (e as Error).message, interrupted, bytes };
  }
}

export async function scrapeRound(targets: readonly ScrapeTarget[], o: RoundOptions, sink: Sink): Promise<ProfileResult[]> {
  const results: ProfileResult[] = [];
  const queue = [...targets];
  const worker = async () => {
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
      const target = t;
      await Promise.all(
        o.kinds.map(async (kind) => {
          const r = await scrapeOne(target, kind, o, sink);
          results.push(r);
          o.onResult?.(r);
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, targets.length)) }, worker));
  // Stable order for whoever prints the list: targets as given, kinds as asked.
  const ti = new Map(targets.map((t, i) => [t, i]));
  return results.sort((a, b) => ti.get(a.target)! - ti.get(b.target)! || o.kinds.indexOf(a.kind) - o.kinds.indexOf(b.kind));
}
