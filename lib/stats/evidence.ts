// Evidence that a quantity rose from a baseline set of replicates to a window set, valid from one
// replicate per side on (docs/detectors.md, "Small-n evidence"). Two rules; either one fires:
//
// - separation (any n >= 1): every window replicate is above every baseline replicate by a margin
//   larger than run-to-run noise ever moves a replicate (the caller's noise envelope: a fold on a
//   log scale, points on a share scale). With one replicate per side no test can estimate the
//   spread, so this is an effect-size rule resting on a stated noise model; with more replicates
//   it gets stricter, since noise must then put EVERY window replicate beyond EVERY baseline one.
// - permutation (exact): the one-sided p-value of the difference of means under every
//   re-labelling of the pooled replicates (all C(m+n, n) when there are at most EXACT_LIMIT,
//   otherwise MONTE_CARLO draws of a fixed-seed generator, so answers are reproducible). It assumes
//   only exchangeability under "no change", so it is valid at every n, and it simply cannot reach
//   p < 0.01 below 100 re-labellings (m = n = 4 gives 70): at small n only the separation rule can
//   fire, at n = 5 per side (252) the test needs near-complete separation, at 20 it needs a shift.
// Hand-written: the enumeration is twenty lines, and no maintained npm package offers an exact
// two-sample permutation test with ties.

import { mean } from './welch';
import { mulberry32 as rng } from './random';

export const EXACT_LIMIT = 200_000;
export const MONTE_CARLO = 20_000;

export interface RiseEvidence {
  /** Which rule fired, null when neither did. */
  rule: 'separation' | 'permutation' | null;
  /** One-sided permutation p-value of mean(target) > mean(base) (1 when a side is empty). */
  p: number;
  /** min(target) - max(base) on the scale the caller gave (log or share). */
  gap: number;
}

export interface RiseRule {
  /** The margin min(target) - max(base) must reach for the separation rule (same scale as the values). */
  separationMargin: number;
  /** Permutation p-value below which the rise is significant. */
  alpha: number;
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/**
 * One-sided permutation p-value of sum(target) being this large: the share of re-labellings whose
 * target-labelled sum is >= the observed one (the observed labelling counts, so p >= 1/C(m+n, n)).
 */
export function permutationP(base: readonly number[], target: readonly number[]): number {
  const m = base.length;
  const n = target.length;
  if (m === 0 || n === 0) return 1;
  const pooled = [...base, ...target];
  const N = m + n;
  // Sums compare with a relative tolerance: floating-point sums of the same values in another order differ in the last bits.
  const observed = target.reduce((a, b) => a + b, 0);
  const tol = 1e-9 * (Math.abs(observed) + pooled.reduce((a, b) => a + Math.abs(b), 0));
  const k = Math.min(n, m);
  // Choose the smaller side to enumerate: sum(target) = total - sum(base).
  const total = pooled.reduce((a, b) => a + b, 0);
  const pickTarget = n <= m;
  const count = binomial(N, k);
  let ge = 0;
  let all = 0;
  const atLeast = (s: number) => (pickTarget ? s : total - s) >= observed - tol;
  if (count <= EXACT_LIMIT) {
    const idx: number[] = [];
    const rec = (start: number, acc: number) => {
      if (idx.length === k) {
        all++;
        if (atLeast(acc)) ge++;
        return;
      }
      for (let i = start; i <= N - (k - idx.length); i++) {
        idx.push(i);
        rec(i + 1, acc + pooled[i]);
        idx.pop();
      }
    };
    rec(0, 0);
    return ge / all;
  }
  const r = rng(0x5eed ^ (N * 7919 + k));
  const a = [...pooled];
  for (let it = 0; it < MONTE_CARLO; it++) {
    // Partial Fisher-Yates: the first k positions are a uniform k-subset.
    let s = 0;
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(r() * (N - i));
      [a[i], a[j]] = [a[j], a[i]];
      s += a[i];
    }
    if (atLeast(s)) ge++;
  }
  // The observed labelling is one of the possible ones: (ge + 1) / (draws + 1) keeps p valid.
  return (ge + 1) / (MONTE_CARLO + 1);
}

/** Did the values rise from `base` to `target`? (the two rules in the header) */
export function riseEvidence(base: readonly number[], target: readonly number[], rule: RiseRule): RiseEvidence {
  if (base.length === 0 || target.length === 0) return { rule: null, p: 1, gap: -Infinity };
  const gap = Math.min(...target) - Math.max(...base);
  const p = mean([...target]) > mean([...base]) ? permutationP(base, target) : 1;
  if (gap >= rule.separationMargin) return { rule: 'separation', p, gap };
  if (p < rule.alpha) return { rule: 'permutation', p, gap };
  return { rule: null, p, gap };
}
