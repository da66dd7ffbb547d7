// lib/stats/evidence.ts: the exact permutation test against a brute-force count, its floor at small
// n (so only the separation rule can fire there), the Monte Carlo branch, and the two rules.
import { permutationP, riseEvidence, EXACT_LIMIT } from '../lib/stats/evidence';

function brute(base: number[], target: number[]): number {
  const pooled = [...base, ...target];
  const n = target.length;
  const obs = target.reduce((a, b) => a + b, 0);
  let ge = 0;
  let all = 0;
  for (let mask = 0; mask < 1 << pooled.length; mask++) {
    let bits = 0;
    let s = 0;
    for (let i = 0; i < pooled.length; i++) {
      if (mask & (1 << i)) {
        bits++;
        s += pooled[i];
      }
    }
    if (bits !== n) continue;
    all++;
    if (s >= obs - 1e-9) ge++;
  }
  return ge / all;
}

test.each([
  [[1], [2]],
  [[1, 2], [3, 4]],
  [[0, 0, 0], [5, 0, 5]],
  [[1, 5, 2, 2], [3, 3, 9]],
  [[0.1, 0.3, 0.2, 0.25, 0.3], [0.3, 0.28, 0.4, 0.5, 0.45]],
])('exact permutation p equals brute force: %j vs %j', (b, t) => {
  expect(permutationP(b, t)).toBeCloseTo(brute(b, t), 12);
});

test('the smallest reachable p is 1/C(m+n, n): no test can fire at small n', () => {
  expect(permutationP([1], [100])).toBe(0.5);
  expect(permutationP([1, 2], [100, 200])).toBeCloseTo(1 / 6, 12);
  expect(permutationP([1, 2, 3], [100, 200, 300])).toBeCloseTo(1 / 20, 12);
  expect(permutationP([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])).toBeCloseTo(1 / 252, 12);
});

test('Monte Carlo beyond the exact limit: reproducible and close to the truth', () => {
  const b = Array.from({ length: 20 }, (_, i) => Math.sin(i) * 3);
  const t = Array.from({ length: 20 }, (_, i) => Math.cos(i) * 3 + 2);
  const p1 = permutationP(b, t);
  expect(permutationP(b, t)).toBe(p1);
  expect(p1).toBeLessThan(0.05);
  const same = permutationP(b, b.map((x) => x + 1e-12));
  expect(same).toBeGreaterThan(0.3);
  expect(EXACT_LIMIT).toBeLessThan(137846528820); // C(40, 20): this case is sampled
});

test('separation with a margin fires at n = 1; noise-sized gaps and overlaps do not', () => {
  const rule = { separationMargin: Math.log(3), alpha: 0.01 };
  expect(riseEvidence([Math.log(2)], [Math.log(100)], rule).rule).toBe('separation');
  expect(riseEvidence([Math.log(2)], [Math.log(5)], rule).rule).toBeNull();
  expect(riseEvidence([1, 9], [8, 20], rule).rule).toBeNull();
  // n = 5 per side, complete separation below the margin: the permutation test carries it.
  expect(riseEvidence([1, 1.1, 1.2, 1.05, 1.15], [1.5, 1.6, 1.7, 1.55, 1.65], rule)).toMatchObject({ rule: 'permutation' });
  expect(riseEvidence([], [1], rule).rule).toBeNull();
});
