import { formatPercent } from '../model/units';
import { bucketMetrics, gcBucketStats, type GcBucketStats } from '../query/gc';
import { MIN_CYCLES } from './gc-diagnostics';
import { grown, grownAllocationSites, serviceDiff } from './common';
import { diffCommand, fmt, gcCommand, severityOf, versionNote } from './common';
import { mean, sd, tQuantileTwoSided } from '../stats/welch';
import type { DetectContext, Span } from './context';
import type { Anomaly, AnomalySeries } from './finding';

// GC: pause percentiles, GC CPU fraction, GC frequency, assist share and the live heap of the
// window (lib/query/gc.ts definitions) against the baseline's own variability. The baseline is
// cut into equal sub-spans ("buckets"; as many as window lengths fit in it, at least 6 and at most
// 48), each with >= MIN_CYCLES cycles counts as one replicate; the window is cut into buckets of
// the same width (a p99 over more cycles is higher). A metric is reported only when the median of
// the window's buckets is
//   - above every baseline bucket,
//   - above the baseline's upper prediction limit (predictionLimit: mean + t x sd x sqrt(1 + 1/n),
//     one-sided p = 0.001, at least K_SIGMA sd; wide when the baseline has few buckets), where the
//     standard deviation is floored at 5% of the mean and at the metric's print resolution (gctrace prints
//     1 us and 1 MiB), so a baseline that happens to be flat does not make any wiggle significant,
//   - and at least MIN_RATIO x the baseline mean (a minimum effect size).
// Culprits: the allocation sites whose share of allocated bytes grew significantly (allocs diff),
// else the heap sites that grew (heap diff): what drives the GC.

export const K_SIGMA = 4;
export const SD_FLOOR_OF_MEAN = 0.05;
export const MIN_RATIO = 1.25;
export const MIN_BASELINE_BUCKETS = 3;
export const MIN_SUBSPANS = 6;
export const MAX_SUBSPANS = 48;
/** One bucket for a whole span: buckets are epoch-aligned, and this one starts at the epoch. */
const WHOLE_SPAN_US = 2 ** 52;

interface Metric {
  id: string;
  label: string;
  unit: string;
  get: (s: GcBucketStats) => number | null;
  resolution: number;
  format: (v: number) => string;
}

const METRICS: Metric[] = [
  { id: 'pause_p99_ns', label: 'p99 GC pause', unit: 'nanoseconds', get: (s) => Number(s.pauseP99Ns), resolution: 1000, format: (v) => fmt(v, 'nanoseconds') },
  { id: 'gc_cpu_fraction', label: 'GC CPU', unit: 'fraction', get: (s) => bucketMetrics(s).gc_cpu_fraction, resolution: 0.001, format: formatPercent },
  { id: 'cycles_per_min', label: 'GC frequency', unit: 'cycles/min', get: (s) => bucketMetrics(s).cycles_per_min, resolution: 0.1, format: (v) => `${v.toFixed(1)}/min` },
  { id: 'assist_share', label: 'assist share of marking', unit: 'fraction', get: (s) => bucketMetrics(s).assist_share, resolution: 0.01, format: formatPercent },
  { id: 'heap_live_avg_bytes', label: 'live heap', unit: 'bytes', get: (s) => Number(bucketMetrics(s).heap_live_avg_bytes), resolution: 1048576, format: (v) => fmt(v, 'bytes') },
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

async function spanStats(ctx: DetectContext, s: Span): Promise<GcBucketStats[]> {
  return (await gcBucketStats(ctx.engine, { service: ctx.service, fromUs: s.fromUs, toUs: s.toUs, bucketUs: WHOLE_SPAN_US })).filter((b) => b.cycles >= MIN_CYCLES);
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
  flagged: boolean;
}

/** The rule above, for one metric. */
export function judge(window: number, baseline: number[], resolution: number): Omit<MetricVerdict, 'metric'> {
  const n = baseline.length;
  const m = mean(baseline);
  const s = Math.max(sd(baseline), SD_FLOOR_OF_MEAN * Math.abs(m), resolution);
  const z = (window - m) / s;
  const limit = n >= 2 ? predictionLimit(n) : Infinity;
  const flagged = n >= MIN_BASELINE_BUCKETS && window > Math.max(...baseline) && z >= limit && window >= MIN_RATIO * m;
  return { window, baseline, mean: m, sd: s, z, limit, flagged };
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
  if (base.length < MIN_BASELINE_BUCKETS) return [];
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
      if (wvs.length === 0 || bv.length < MIN_BASELINE_BUCKETS) continue;
      // The window's typical bucket: buckets of equal width compare (a p99 over more cycles is higher).
      const v = { metric: m.id, ...judge(median(wvs), bv, m.resolution) };
      if (v.flagged) {
        verdicts.push(v);
        series.push({ metric: m.label, unit: m.unit, base: bv, target: wvs });
      }
    }
    if (verdicts.length === 0) continue;
    const baseVersions = [...new Set(base.map((b) => b.version || '(none)'))].sort().join(',');
    const versions = { base: baseVersions, target: w.version || '(none)' };
    const culprits = await gcCulprits(ctx);
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
        metrics: Object.fromEntries(verdicts.map((v) => [v.metric, { window: v.window, baseline_mean: v.mean, baseline_sd: v.sd, z: v.z, z_limit: v.limit, baseline: v.baseline }])),
      },
      versions,
      explanation:
        `Compared with ${base.length} baseline buckets of the same service, the window's ${verdicts.map((v) => label(v.metric).label).join(', ')} ` +
        `${verdicts.length > 1 ? 'are' : 'is'} beyond anything the baseline showed (above its prediction limit from the bucket-to-bucket spread). ` +
        (culprits.length > 0 ? `The allocation sites that grew: ${culprits.join(', ')}.` : 'No allocation site stands out in the profiles.'),
      nextStep:
        culprits.length > 0
          ? `Cut allocations in ${culprits[0]} (${diffCommand(ctx, 'allocs')}); meanwhile GOGC/GOMEMLIMIT trade memory for GC CPU (${gcCommand(ctx)}).`
          : `See the trend and pacer diagnostics: ${gcCommand(ctx, true)}.`,
      series,
    });
  }
  return out;
}

async function gcCulprits(ctx: DetectContext): Promise<string[]> {
  const a = (await grownAllocationSites(ctx))?.sites ?? [];
  if (a.length > 0) return a.slice(0, 3).map((f) => f.name);
  const heap = await serviceDiff(ctx, 'heap', 'inuse_space', 'norm');
  return (heap ? grown(heap) : []).slice(0, 3).map((f) => f.name);
}
