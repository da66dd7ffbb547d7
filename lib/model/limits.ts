import { isoFromUs, parseTime } from './time';

// What one input may hold: the limits that keep ingest memory bounded by design and keep rows
// queryable. docs/upload-contract.md documents every one; an input over a limit is refused whole
// (quarantined by the Lambda, reported by the CLI) with a reason naming the limit, never
// truncated silently.
//
// The numbers are generous multiples of what Go itself produces, not fitted to any fixture:
// - frames: Go records at most 1,024 locations per stack (GODEBUG profstackdepth, default 128);
//   inlining expands a location into a few frames. 16,384 leaves room for other producers.
// - samples and distinct label sets: a Go CPU profile of a busy 64-core process over 60 s has
//   ~10^5 distinct samples; label sets multiply stacks (every set is its own row). 10^6 samples and
//   10^5 label sets bound the rows of one profile while no sane producer comes near.
// - name length: Go symbol names of generic instantiations reach a few kB; 64 KiB per name.

export const LIMITS = {
  /** Frames of one stack after inline expansion. */
  maxFramesPerStack: 16_384,
  /** Samples of one profile. */
  maxSamples: 1_000_000,
  /** Distinct sample label sets of one profile. */
  maxLabelSets: 100_000,
  /** Characters of a function, file, label or metric name. */
  maxNameLength: 64 * 1024,
  /** Earliest accepted capture time: older is a broken clock or a zero value, not a replay. */
  minTime: '2000-01-01T00:00:00Z',
  /** Latest accepted capture time, ahead of the ingest clock: agent clock skew. */
  maxFutureMs: 24 * 3600 * 1000,
} as const;

const MIN_TIME_US = parseTime(LIMITS.minTime);

/** Why an epoch-microsecond capture time is refused, or null when it is in the accepted range. */
export function timeRangeProblem(us: number, nowMs = Date.now()): string | null {
  const maxUs = (nowMs + LIMITS.maxFutureMs) * 1000;
  if (Number.isFinite(us) && us >= MIN_TIME_US && us <= maxUs) return null;
  const shown = Number.isFinite(us) && Math.abs(us) < 8.64e18 ? isoFromUs(us) : String(us);
  return `${shown} is outside the accepted range ${LIMITS.minTime} .. ingest time + 1 day (${isoFromUs(maxUs)})`;
}
