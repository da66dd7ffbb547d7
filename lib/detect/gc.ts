import { formatPercent } from '../model/units';
import { bucketMetrics, type GcBucketStats } from '../query/gc';
import { gcBucketStatsAnySource } from '../query/gc-metrics';
import { grown, grownAllocationSites, serviceDiff } from './common';
import { cohortLinks, diffCommand, fmt, gcCommand, severityOf, versionNote } from './common';
import { mean, sd, tQuantileTwoSided } from '../stats/welch';
import type { DetectContext, Span } from './context';
import type { Anomaly, AnomalySeries } from './finding';

// GC: pause percentiles, GC CPU fraction, GC frequency, assist share and the live heap of the
// window (lib/query/gc.ts definitions) against the baseline's own variability. The baseline is
// cut into equal sub-spans ("buckets"; as many as window lengths fit in it, at least 6 and at most
// 48), each with >= MIN_CYCLES cycles counts as one replicate; the window is cut into buckets of
// the same width (a p99 over more cycles is higher). Each metric has a NOISE ENVELOPE (METRICS:
// `fold`, `minRatio`, `sdFloor`): how far it moves between runs of an unchanged service. Pause
// percentiles depend on host scheduling and move several-fold; GC CPU and frequency follow the
// allocation rate and move by tens of percent; the live heap is stable. A metric is reported when
// the median of the window's buckets is at least `minRatio` x the baseline mean (the effect floor)
// AND either
//   - separation (any number of buckets, from one per side): every window bucket is at least
//     `fold` x every baseline bucket, beyond what the envelope allows for noise; or
//   - the prediction rule (>= MIN_BASELINE_BUCKETS baseline buckets): the window median is above
//     every baseline bucket and above the baseline's upper prediction limit (predictionLimit:
//     mean + t x sd x sqrt(1 + 1/n), one-sided p = 0.001, at least K_SIGMA sd; wide when the
//     baseline has few buckets), the sd floored at `sdFloor` x the mean and at the metric's print
//     resolution (gctrace prints 1 us and 1 MiB), so a baseline that happens to be flat does not
//     make any wiggle significant.
// Culprits: the allocation sites whose bytes per second rose (allocs, rate rule), else those whose
// share of allocated bytes rose, else the heap sites that grew: what drives the GC. With separation
// alone (few buckets) a GC change is reported only when it has such a culprit.

export const K_SIGMA = 4;
export const MIN_BASELINE_BUCKETS = 3;
export const MIN_SUBSPANS = 6;
export const MAX_SUBSPANS = 48;
/** One bucket for a whole span: buckets are epoch-aligned, and this one starts at the epoch. */
const WHOLE_SPAN_US = 2 ** 52;

export interface NoiseEnvelope {
  /** Separation rule: every window bucket at least this many times every baseline bucket. */
  fold: number;
  /** Effect floor: window median at least this many times the baseline mean. */
  minRatio: number;
  /** The baseline sd is at least this part of its mean (prediction rule). */
  sdFloor: number;
}

interface Metric extends NoiseEnvelope {
  id: string;
  label: string;
  unit: string;
  get: (s: GcBucketStats) => number | null;
  resolution: number;
  format: (v: number) => string;
}

/**
 * The metrics and their noise envelopes. Pauses: a p99 pause is the longest few stop-the-world
 * phases, which a busy host stretches several-fold from run to run, so only a rise of 10x in every
 * bucket (or 4x on average beyond the prediction limit) is news. GC CPU, frequency and assists
 * follow the allocation rate, which load moves by tens of percent: 2x in every bucket. The live
 * heap is what the program keeps: 2x in every bucket, 1.25x beyond the prediction limit.
 */
export const METRICS: Metric[] = [
  { id: 'pause_p99_ns', label: 'p99 GC pause', unit: 'nanoseconds', get: (s) => Number(s.pauseP99Ns), resolution: 1000, format: (v) => fmt(v, 'nanoseconds'), fold: 10, minRatio: 4, sdFloor: 0.5 },
  { id: 'gc_cpu_fraction', label: 'GC CPU', unit: 'fraction', get: (s) => bucketMetrics(s).gc_cpu_fraction, resolution: 0.001, format: formatPercent, fold: 2, minRatio: 1.5, sdFloor: 0.15 },
  { id: 'cycles_per_min', label: 'GC frequency', unit: 'cycles/min', get: (s) => bucketMetrics(s).cycles_per_min, resolution: 0.1, format: (v) => `${v.toFixed(1)}/min`, fold: 2, minRatio: 1.5, sdFloor: 0.15 },
  { id: 'assist_share', label: 'assist share of marking', unit: 'fraction', get: (s) => bucketMetrics(s).assist_share, resolution: 0.01, format: formatPercent, fold: 2, minRatio: 1.5, sdFloor: 0.15 },
  { id: 'sched_latency_p99_ns', label: 'p99 scheduling latency', unit: 'nanoseconds', get: (s) => (s.schedLatencyP99Ns === undefined ? null : Number(s.schedLatencyP99Ns)), resolution: 1000, format: (v) => fmt(v, 'nanoseconds'), fold: 10, minRatio: 4, sdFloor: 0.5 },
  { id: 'heap_live_avg_bytes', label: 'live heap', unit: 'bytes', get: (s) => Number(bucketMetrics(s).heap_live_avg_bytes), resolution: 1048576, format: (v) => fmt(v, 'bytes'), fold: 2, minRatio: 1.25, sdFloor: 0.05 },
];

export function baselineSubspans(baseline: Span, window: Span): Span[] {
  const len = baseline.toUs - baseline.fromUs;
  const wlen = Math.max(1, window.toUs - window.fromUs);
  return split(baseline, Math.min(MAX_SUBSPANS, Math.max(MIN_SUBSPANS, Math.round(len / wlen))));
}

/** The window cut into buckets as wide as the baseline's (one when the window is that wide). */
export function windowSubspans(baseline: Span, window: Span): Span[] {
  const b = baselineSubspans(baseline, window);
  const width = Math.max(1, b[0].toUs - b[0].fromUs);
  return split(window, Math.max(1, Math.round((window.toUs - window.fromUs) / width)));
}

function split(s: Span, k: number): Span[] {
  const len = s.toUs - s.fromUs;
  const out: Span[] = [];
  for (let i = 0; i < k; i++) out.push({ fromUs: s.fromUs + Math.floor((len * i) / k), toUs: s.fromUs + Math.floor((len * (i + 1)) / k) });
  return out;
}

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 === 1 ? a[m] : (a[m - 1] + a[m]) / 2;
}

/**
 * A bucket needs this many cycles to be a replicate. Lower than the diagnostics' MIN_CYCLES (10):
 * those judge one bucket's rates in absolute terms, where few cycles bias them; the detector
 * compares buckets of the same width with each other, so the bias is the same on both sides, and
 * a short capture on a busy host may see only a handful of cycles.
 */
export const MIN_DETECT_CYCLES = 4;

async function spanStats(ctx: DetectContext, s: Span): Promise<GcBucketStats[]> {
  return (await gcBucketStatsAnySource(ctx.engine, { service: ctx.service, fromUs: s.fromUs, toUs: s.toUs, bucketUs: WHOLE_SPAN_US })).filter((b) => b.cycles >= MIN_DETECT_CYCLES);
}

export interface MetricVerdict {
  metric: string;
  window: number;
  baseline: number[];
  mean: number;
  sd: number;
  z: number;
  /** The z the window had to reach (predictionLimit). */
  limit: number;
  /** Which rule fired. */
  rule: 'separation' | 'prediction' | null;
  flagged: boolean;
}

/** The rule above, for one metric: `windowBuckets` are the window's bucket values. */
export function judge(windowBuckets: number[], baseline: number[], resolution: number, env: NoiseEnvelope): Omit<MetricVerdict, 'metric'> {
  const n = baseline.length;
  const window = median(windowBuckets);
  const m = mean(baseline);
  const s = Math.max(sd(baseline), env.sdFloor * Math.abs(m), resolution);
  const z = (window - m) / s;
  const limit = n >= 2 ? predictionLimit(n) : Infinity;
  const effect = window >= env.minRatio * m && window > 0;
  // Values at the print resolution are "about zero": a fold over them means nothing.
  const separated = n >= 1 && Math.min(...windowBuckets) >= env.fold * Math.max(...baseline, resolution);
  const predicted = n >= MIN_BASELINE_BUCKETS && window > Math.max(...baseline) && z >= limit;
  // The prediction rule measured the baseline's own spread: it wins when both hold.
  const rule = !effect ? null : predicted ? 'prediction' : separated ? 'separation' : null;
  return { window, baseline, mean: m, sd: s, z, limit, rule, flagged: rule !== null };
}

/**
 * How many baseline standard deviations above the baseline mean a new bucket may be by chance:
 * the one-sided PREDICTION_P upper prediction limit of a normal sample of n buckets,
 * t(1 - p; n - 1) x sqrt(1 + 1/n), and never less than K_SIGMA. Few baseline buckets estimate the
 * spread badly, so the limit widens (26 sd at 3 buckets, 6.4 at 6, 4.2 at 12, 4 from about 20 on).
 */
export const PREDICTION_P = 0.001;
export function predictionLimit(n: number): number {
  return Math.max(K_SIGMA, tQuantileTwoSided(2 * PREDICTION_P, n - 1) * Math.sqrt(1 + 1 / n));
}

export async function detectGc(ctx: DetectContext): Promise<Anomaly[]> {
  const base: GcBucketStats[] = [];
  for (const s of baselineSubspans(ctx.baseline, ctx.window)) base.push(...(await spanStats(ctx, s)));
  if (base.length === 0) return [];
  const out: Anomaly[] = [];
  // Window buckets per version (a rollout runs two versions side by side; each is judged alone).
  const byVersion = new Map<string, GcBucketStats[]>();
  for (const s of windowSubspans(ctx.baseline, ctx.window)) {
    for (const b of await spanStats(ctx, s)) byVersion.set(b.version, [...(byVersion.get(b.version) ?? []), b]);
  }
  for (const [version, wb] of byVersion) {
    const w = { ...wb[0], version, cycles: wb.reduce((a, b) => a + b.cycles, 0) };
    const verdicts: MetricVerdict[] = [];
    const series: AnomalySeries[] = [];
    for (const m of METRICS) {
      const wvs = wb.map(m.get).filter((x): x is number => x !== null);
      const bv = base.map(m.get).filter((x): x is number => x !== null);
      if (wvs.length === 0 || bv.length === 0) continue;
      // The window's typical bucket: buckets of equal width compare (a p99 over more cycles is higher).
      const v = { metric: m.id, ...judge(wvs, bv, m.resolution, m) };
      if (v.flagged) {
        verdicts.push(v);
        series.push({ metric: `${m.label} per ${bucketLabel(ctx)} bucket`, unit: m.unit, base: bv, target: wvs, replicate: 'bucket' });
      }
    }
    if (verdicts.length === 0) continue;
    // Separation alone (few buckets) cannot tell the service from its host: a starved or busy host
    // moves GC rates of short captures several-fold. It is reported only with a cause in the
    // profiles (an allocation or heap site that rose); the prediction rule, which measured the
    // baseline's own spread, stands alone.
    const culprits = await gcCulprits(ctx);
    if (culprits.length === 0 && verdicts.every((v) => v.rule === 'separation')) continue;
    const baseVersions = [...new Set(base.map((b) => b.version || '(none)'))].sort().join(',');
    const versions = { base: baseVersions, target: w.version || '(none)' };
    const worst = verdicts.reduce((a, b) => (b.z > a.z ? b : a));
    const ratio = Math.max(...verdicts.map((v) => (v.mean > 0 ? v.window / v.mean : Infinity)));
    const label = (id: string) => METRICS.find((m) => m.id === id)!;
    const parts = verdicts.map((v) => `${label(v.metric).label} ${label(v.metric).format(v.mean)} -> ${label(v.metric).format(v.window)}`);
    out.push({
      service: ctx.service,
      id: 'gc-beyond-baseline',
      area: 'gc',
      // GC work is driven by allocation: the allocation profile names who to look at.
      profile: 'allocs',
      severity: ratio >= 2 || worst.z >= 10 ? 'high' : severityOf(worst.z, 10, 6),
      culprits,
      summary: `${parts.join('; ')}${versionNote(versions)}`,
      evidence: {
        version: w.version,
        window_cycles: w.cycles,
        window_buckets: wb.length,
        baseline_buckets: base.length,
        metrics: Object.fromEntries(verdicts.map((v) => [v.metric, { window: v.window, baseline_mean: v.mean, baseline_sd: v.sd, z: v.z, z_limit: v.limit, rule: v.rule, baseline: v.baseline }])),
      },
      versions,
      explanation:
        `Compared with ${base.length} baseline buckets of the same service, the window's ${verdicts.map((v) => label(v.metric).label).join(', ')} ` +
        `${verdicts.length > 1 ? 'are' : 'is'} beyond anything the baseline showed ` +
        `(${verdicts.every((v) => v.rule === 'separation') ? "every window bucket a multiple of every baseline bucket, beyond the metric's run-to-run noise" : "above the baseline's prediction limit from the bucket-to-bucket spread"}). ` +
        (culprits.length > 0 ? `The allocation sites that grew: ${culprits.join(', ')}.` : 'No allocation site stands out in the profiles.'),
      nextStep:
        culprits.length > 0
          ? `Cut allocations in ${culprits[0]} (${diffCommand(ctx, 'allocs')}); meanwhile GOGC/GOMEMLIMIT trade memory for GC CPU (${gcCommand(ctx)}).`
          : `See the trend and pacer diagnostics: ${gcCommand(ctx)}.`,
      series,
      links: cohortLinks(ctx, 'allocs'),
    });
  }
  return out;
}

/** The bucket width in words ("5m", "1h"): the unit of the GC charts' dots. */
function bucketLabel(ctx: DetectContext): string {
  const b = baselineSubspans(ctx.baseline, ctx.window)[0];
  const s = Math.round((b.toUs - b.fromUs) / 1e6);
  return s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`;
}

async function gcCulprits(ctx: DetectContext): Promise<string[]> {
  // Who allocates more bytes per second (per series) by the rate rule: what drives GC work; then
  // sites whose share of the allocations rose; then heap sites that hold more.
  const rate = await serviceDiff(ctx, 'allocs', 'alloc_space', 'rate');
  const r = rate ? grown(rate) : [];
  if (r.length > 0) return r.slice(0, 3).map((f) => f.name);
  const a = (await grownAllocationSites(ctx))?.sites ?? [];
  if (a.length > 0) return a.slice(0, 3).map((f) => f.name);
  const heap = await serviceDiff(ctx, 'heap', 'inuse_space', 'rate');
  return (heap ? grown(heap) : []).slice(0, 3).map((f) => f.name);
}
