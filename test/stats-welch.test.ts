// The statistics behind diff and the detectors, against published reference values.
import { incompleteBeta, mean, sd, tQuantileTwoSided, tTwoSided, welch } from '../lib/stats/welch';
import { METRICS, judge, predictionLimit } from '../lib/detect/gc';

test('Student t tail: known critical values', () => {
  // Two-sided 5% critical values from t tables.
  expect(tTwoSided(12.706, 1)).toBeCloseTo(0.05, 4);
  expect(tTwoSided(2.228, 10)).toBeCloseTo(0.05, 4);
  expect(tTwoSided(1.96, 1e6)).toBeCloseTo(0.05, 3);
  expect(tTwoSided(0, 5)).toBeCloseTo(1, 12);
  expect(tQuantileTwoSided(0.01, 4)).toBeCloseTo(4.604, 2);
  expect(incompleteBeta(0.5, 2, 2)).toBeCloseTo(0.5, 12);
});

test("Welch's t-test: the textbook example (Welch 1947 data as in Wikipedia's worked example 1)", () => {
  const a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
  const b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];
  const r = welch(a, b);
  expect(r.t).toBeCloseTo(2.46, 2);
  expect(r.df).toBeCloseTo(24.99, 1);
  expect(r.p!).toBeCloseTo(0.021, 3);
});

test('Welch: too few replicates give no p-value; zero variance is decided by the means', () => {
  expect(welch([1], [1, 2]).p).toBeNull();
  expect(welch([0, 0, 0], [0, 0, 0]).p).toBe(1);
  expect(welch([0, 0, 0], [1, 1, 1]).p).toBe(0);
  expect(mean([1, 2, 3])).toBe(2);
  expect(sd([1, 2, 3])).toBe(1);
});

test('GC rule: the prediction limit widens with few baseline buckets and never drops below 4 sd', () => {
  expect(predictionLimit(3)).toBeGreaterThan(20);
  expect(predictionLimit(12)).toBeGreaterThan(4);
  expect(predictionLimit(12)).toBeLessThan(5);
  expect(predictionLimit(48)).toBe(4);
  const env = { fold: 2, minRatio: 1.25, sdFloor: 0.05 };
  const base = Array.from({ length: 24 }, (_, i) => 100 + (i % 5) * 2); // mean ~104, sd ~2.9
  expect(judge([112], base, 0.1, env).flagged).toBe(false); // beyond the max, but within noise + effect floor
  expect(judge([140], base, 0.1, env)).toMatchObject({ flagged: true, rule: 'prediction' });
  // A flat baseline does not make a tiny change significant: sd floored at 5% of the mean.
  expect(judge([110], Array(24).fill(100), 0.1, env).flagged).toBe(false);
  expect(judge([130], Array(24).fill(100), 0.1, env).flagged).toBe(true);
});

test('GC rule at small n: separation by the noise envelope fires from one bucket per side; pauses need 10x', () => {
  const gcCpu = METRICS.find((m) => m.id === 'gc_cpu_fraction')!;
  const pause = METRICS.find((m) => m.id === 'pause_p99_ns')!;
  expect(judge([0.3], [0.05], gcCpu.resolution, gcCpu)).toMatchObject({ flagged: true, rule: 'separation' });
  expect(judge([0.08], [0.05], gcCpu.resolution, gcCpu).flagged).toBe(false);
  // Pause percentiles that move several-fold run to run: quiet, also beyond a 3-bucket baseline.
  expect(judge([400_000], [100_000], pause.resolution, pause).flagged).toBe(false);
  expect(judge([500_000], [100_000, 120_000, 90_000], pause.resolution, pause).flagged).toBe(false);
  expect(judge([2_000_000], [100_000, 150_000], pause.resolution, pause)).toMatchObject({ flagged: true, rule: 'separation' });
  // One window bucket inside the envelope stops separation.
  expect(judge([0.3, 0.06], [0.05], gcCpu.resolution, gcCpu).flagged).toBe(false);
});
