import type { ProfileKind } from '../model/profile';
import { fetchProfile, ScrapeError } from './fetch';
import { profileUrl, type ScrapeTarget } from './targets';

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

export function requestTimeoutMs(kind: ProfileKind, o: Pick<RoundOptions, 'cpuSeconds' | 'timeoutMs'>): number {
  return kind === 'cpu' ? o.timeoutMs + o.cpuSeconds * 1000 : o.timeoutMs;
}

async function scrapeOne(t: ScrapeTarget, kind: ProfileKind, o: RoundOptions, sink: Sink): Promise<ProfileResult> {
  const url = profileUrl(t.base, kind, o.cpuSeconds);
  const startMs = (o.now ?? Date.now)();
  let bytes = 0;
  try {
    if (o.signal?.aborted) throw new ScrapeError('interrupted', true);
    const body = await fetchProfile(url, { timeoutMs: requestTimeoutMs(kind, o), maxBytes: o.maxBytes, signal: o.signal });
    bytes = body.length;
    const where = await sink.put({ target: t, kind, url, startMs, bytes: body });
    return { target: t, kind, url, startMs, ok: true, where, bytes };
  } catch (e) {
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
