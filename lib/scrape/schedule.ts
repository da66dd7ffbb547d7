// When scrape rounds run: on a fixed grid t0, t0 + every, t0 + 2*every, ... so rounds do not drift
// by their own duration. A round that overran its slot skips the slots it missed (never a burst of
// catch-up rounds against the targets). Pure.

/** Start of the next round after one that started at `lastStart` and is over at `now` (ms). */
export function nextRoundAt(t0: number, lastStart: number, now: number, everyMs: number): number {
  if (!(everyMs > 0)) throw new Error(`round interval must be positive, got ${everyMs}`);
  let k = Math.floor((lastStart - t0) / everyMs) + 1;
  const behind = Math.ceil((now - t0) / everyMs);
  if (behind > k) k = behind;
  return t0 + k * everyMs;
}
