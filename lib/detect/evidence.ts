import { valueClass } from '../model/temporality';
import type { ProfileKind } from '../model/profile';
import type { DiffResult, ProfileValues } from '../query/diff';
import { riseEvidence, type RiseEvidence } from '../stats/evidence';
import { mean } from '../stats/welch';
import { isUserFunction } from '../query/user-frames';

// The digest's decision rule for profile detectors (docs/detectors.md, "Small-n evidence").
//
// Replicate = INSTANCE. The diff's replicates are profiles (CPU), process series (counters) or
// instances (gauges); snapshots of one process are not independent evidence (with 60 CPU
// profiles an hour from 2 instances, a process-level quirk would look 60-fold confirmed), so the
// detectors first add up each instance's replicates on a side:
//   - share:  the instance's value of the function / the instance's total;
//   - rate:   CPU: ns per second of profile; gauges (heap in use, goroutines): the instance's time
//             average; counters (allocs, block, mutex): the instance's increase per second of the
//             intervals its delta uploads cover, or, for cumulative snapshots (no interval), its
//             increase per process series.
// Then a function ROSE when the effect floor holds on the instance means AND one of the rules of
// lib/stats/evidence.ts fires: separation beyond the noise envelope below (valid at n = 1), or the
// exact permutation test at p < 0.01 (reachable from about 5 instances per side).

/**
 * The noise envelope of a share (CPU share, allocation mix): a steady workload moves a function's
 * share by a few points between runs, and a short capture's sampling error adds to that in
 * proportion to the share (a 1.5 s CPU profile on a busy host has a few hundred samples; the
 * measured suites saw shares of 15% read as 27% in the next run). A rise in every window instance
 * of at least 10 points AND to at least 3x every baseline instance's share is beyond both.
 */
export const SHARE_SEPARATION = 0.1;
export const SHARE_FOLD = 3;
/**
 * The noise envelope of an absolute value: run-to-run noise is multiplicative. Bytes in use and
 * goroutine counts of a steady workload stay within 2x, so every window instance at 3x or more of
 * every baseline instance ("several-fold in every instance") is beyond it. Contention delay is
 * bursty (which goroutine waits for whom depends on scheduling; the same workload's delay at a call
 * site moves 5x between runs and instances), so it needs 10x.
 */
export const FOLD_SEPARATION = 3;
export const DELAY_FOLD_SEPARATION = 10;
/**
 * Contention delay is a sum over few sampled events whose durations are heavy-tailed: on a loaded
 * host one waiter whose lock holder was descheduled for 70 ms outweighs a period's other waits, so
 * a call site's delay can move 100x between captures of the same workload while the number of
 * waits there stays put. The contention detectors therefore also require the site's contention
 * count (the `contentions` sample type, events per second) to have risen by the rate rule (3x
 * envelope): more waits, not one long one (lib/detect/contention.ts). Those counts are sampled
 * too (1 in MutexProfileFraction events, each counted as the fraction): a site with 2 recorded
 * waits in the baseline and 7 in the window is "3.5x" by chance, so the separation on counts also
 * takes the sampling test below, on the recorded events behind them.
 */
export const CONTENTION_EVENTS_SAMPLE_TYPE = 'contentions';
/**
 * Values below this part of an instance's total count as "nothing" on the log scale (and a rise
 * must be at least this part of the window's total anyway): one goroutine more in a service of 16,
 * a few kB in a heap of MBs.
 */
export const LOG_OFFSET_OF_TOTAL = 0.05;
/**
 * Permutation test level, for the family of functions a diff compares: each function is tested at
 * ALPHA / m (Bonferroni over the m functions of the service's own code in the diff), so the
 * chance that any of them fires on noise is at most ALPHA. With a few hundred functions that
 * needs about 7 instances per side (C(14, 7) = 3,432 re-labellings); below that only separation
 * fires.
 */
export const ALPHA = 0.01;

/**
 * The permutation test's replicates are instances, and instances share the period: a change of
 * traffic mix, host load or time of day moves all of them at once. Agreement among instances says
 * a shift is consistent, not that it is larger than what a period moves, and with 20 instances a
 * shift of a few points is "significant" (pseudo-replication: the experimental unit of "window vs
 * baseline" is the period, one per side). So the test's rise must also clear the noise envelope,
 * on the means: the mean of the window's values above the baseline's by the separation margin
 * (shares: +10 points and 3x; rates: 3x, 10x for delay, on the mean log), where separation asks
 * it of every pair. The test adds only what separation cannot: that the rise is consistent with
 * overlap between instances.
 */
export function meansBeyond(base: readonly number[], target: readonly number[], margin: number): boolean {
  return base.length > 0 && target.length > 0 && mean([...target]) - mean([...base]) >= margin;
}
/** Share effect floor on the instance means: 2 points. */
export const MIN_SHARE_EFFECT = 0.02;
/** Rate effect floors: +30% of the function's own value, and at least 5% of the window's total. */
export const MIN_RELATIVE_GROWTH = 0.3;
export const MIN_GROWTH_OF_TOTAL = 0.05;

export type Measure = 'share' | 'rate';

interface Instance {
  instance: string;
  total: number;
  durationNs: number;
  /** Replicates of the diff (profiles, process series) this instance has on its side. */
  groups: number;
  /** Every one of them carries a duration (CPU; counters uploaded as deltas with their interval). */
  timed: boolean;
  fns: Map<string, number>;
}

export interface FunctionEvidence extends RiseEvidence {
  name: string;
  /** Per-instance values (share, or rate in the unit of `rateUnit`), baseline and window. */
  base: number[];
  target: number[];
  baseMean: number;
  targetMean: number;
}

export interface SideEvidence {
  kind: ProfileKind;
  measure: Measure;
  /** What a rate is: 'per_second' (CPU, timed counters), 'per_series' (counters from cumulative snapshots: the increase per process series) or 'per_instance' (gauges: the instance's average). */
  rate: 'per_second' | 'per_series' | 'per_instance';
  instances: { base: number; target: number };
  /** Per-instance totals (rates) of the sample type. */
  totals: { base: number[]; target: number[] };
  /** Functions that rose by the rule, user code only, largest rise first. */
  rose: FunctionEvidence[];
  /** The evidence of any function by name (computed on demand). */
  of: (name: string) => FunctionEvidence;
}

function byInstance(ps: readonly ProfileValues[]): Instance[] {
  const m = new Map<string, Instance>();
  for (const p of ps) {
    let i = m.get(p.instance);
    if (!i) m.set(p.instance, (i = { instance: p.instance, total: 0, durationNs: 0, groups: 0, timed: true, fns: new Map() }));
    i.total += Number(p.total);
    i.durationNs += p.durationNs;
    // A value from rollups stands for several replicates (lib/query/instance-values.ts).
    i.groups += p.groups ?? 1;
    i.timed &&= p.timed ?? p.durationNs > 0;
    for (const [name, [, cum]] of p.fns) i.fns.set(name, (i.fns.get(name) ?? 0) + Number(cum));
  }
  return [...m.values()].sort((a, b) => (a.instance < b.instance ? -1 : 1));
}

/**
 * CPU profiles sample every 10 ms (Go's default 100 Hz): a share of a short profile is a count out
 * of a few hundred samples, and with few instances that sampling error is most of the noise. The
 * separation rule on CPU shares also needs the pooled counts to differ beyond it: a one-sided
 * two-proportion z-test at z >= CPU_SAMPLING_Z (p < 0.0005).
 */
export const CPU_SAMPLE_NS = 1e7;
export const CPU_SAMPLING_Z = 3.3;

/** z of the pooled two-proportion test: k out of n samples in the baseline vs the window. */
export function proportionZ(kb: number, nb: number, kt: number, nt: number): number {
  if (nb <= 0 || nt <= 0) return 0;
  const p = (kb + kt) / (nb + nt);
  const se = Math.sqrt(p * (1 - p) * (1 / nb + 1 / nt));
  return se === 0 ? 0 : (kt / nt - kb / nb) / se;
}

/**
 * Heap and allocation profiles are sampled too: Go records one allocation per MemProfileRate bytes
 * allocated on average (512 KiB by default; the profile's `period`) and scales it up, so a site
 * holding a few kB (a package's init tables, say) shows as 0 in one process and as ~512 KiB in the
 * next. The number of samples behind a byte value is about value / period. The separation rule on
 * bytes (shares of allocated bytes, bytes in use) also needs those sample counts to differ beyond
 * sampling: the same one-sided test at z >= CPU_SAMPLING_Z (pooled proportions for shares; for
 * rates, the window's part of the pooled count against its part of the exposure, i.e. instances
 * for gauges and seconds for counters).
 */
export function poissonZ(kb: number, eb: number, kt: number, et: number): number {
  const k = kb + kt;
  if (k <= 0 || eb <= 0 || et <= 0) return 0;
  const p = et / (eb + et);
  return (kt - k * p) / Math.sqrt(k * p * (1 - p));
}

/**
 * The share rule: separation needs the gap, the fold and (sampled values) the sampling test; the
 * permutation test (at `alpha`, already divided among the functions) needs the same gap and fold
 * on the means (meansBeyond).
 */
function shareRise(b: number[], t: number[], samplingZ: number | null, alpha: number): RiseEvidence {
  const ev = riseEvidence(b, t, { separationMargin: SHARE_SEPARATION, alpha });
  // The fold on shares, with 1 point added on both sides so that "absent" is finite.
  const folded = Math.min(...t) + 0.01 >= SHARE_FOLD * (Math.max(...b) + 0.01);
  if (ev.rule === 'separation' && folded && (samplingZ === null || samplingZ >= CPU_SAMPLING_Z)) return ev;
  const beyond = meansBeyond(b, t, SHARE_SEPARATION) && mean(t) + 0.01 >= SHARE_FOLD * (mean(b) + 0.01);
  return { ...ev, rule: ev.p < alpha && beyond ? 'permutation' : null };
}

/**
 * Judge every function of a diff computed with `replicates: true`. `samplePeriod`: how much value
 * one recorded sample stands for (bytes of a heap/allocs profile: its `period`, Go's
 * MemProfileRate; mutex contentions: the mutex profile fraction; lib/detect/common.ts
 * valuePerSample); the sampling test then applies to the separation rule (CPU always has it: 10 ms
 * per sample).
 */
export function judgeDiff(r: DiffResult, kind: ProfileKind, measure: Measure, samplePeriod?: number): SideEvidence {
  if (!r.replicates) throw new Error('judgeDiff needs the diff replicates');
  const cls = valueClass(kind, r.sampleType);
  const base = byInstance(r.replicates.base);
  const target = byInstance(r.replicates.target);
  // Counters compare as rates when every replicate says how long it covers (delta uploads carry
  // their interval, as the agent's and scrape's do); cumulative snapshots do not (Go writes no
  // duration into heap/allocs/block/mutex profiles), and then the increase per process series is
  // the replicate: right when processes are captured alike (one capture each, the same run
  // length), biased by the spans otherwise, which the documentation says.
  const timedCounters = cls === 'counter' && [...base, ...target].every((i) => i.timed);
  const rate: SideEvidence['rate'] = cls === 'gauge' ? 'per_instance' : cls === 'interval' || timedCounters ? 'per_second' : 'per_series';
  const scale = (i: Instance): number => {
    if (cls === 'interval' || timedCounters) return i.durationNs > 0 ? 1e9 / i.durationNs : 1;
    if (cls === 'counter') return 1 / Math.max(1, i.groups);
    return 1;
  };
  const value = (i: Instance, name: string | null): number => {
    const v = name === null ? i.total : (i.fns.get(name) ?? 0);
    if (measure === 'share') return name === null ? 1 : i.total === 0 ? 0 : Math.abs(v) / Math.abs(i.total);
    return Math.max(0, v) * scale(i);
  };
  const totals = { base: base.map((i) => value(i, null)), target: target.map((i) => value(i, null)) };
  // Log scale for rates: noise is multiplicative; the offset (1% of the mean instance total) makes
  // "absent" a finite value, so a consistent rise from nothing is not drowned by its size's spread.
  const allTotals = [...base.map((i) => value(i, null)), ...target.map((i) => value(i, null))];
  const offset = Math.max(1e-12, LOG_OFFSET_OF_TOTAL * mean(allTotals));
  // Delay is bursty (the 10x envelope); contention event counts are not, and take the 3x of rates.
  const fold = (kind === 'block' || kind === 'mutex') && r.sampleType === 'delay' ? DELAY_FOLD_SEPARATION : FOLD_SEPARATION;
  const targetTotalMean = measure === 'share' ? 1 : mean(totals.target);
  // The family the permutation test's level is divided among (ALPHA): the service's own functions.
  const names = new Set<string>();
  for (const i of [...base, ...target]) for (const n of i.fns.keys()) if (isUserFunction(n)) names.add(n);
  const alpha = ALPHA / Math.max(1, names.size);
  const of = (name: string): FunctionEvidence => {
    const b = base.map((i) => value(i, name));
    const t = target.map((i) => value(i, name));
    const bm = mean(b);
    const tm = mean(t);
    const effect =
      measure === 'share'
        ? tm - bm >= MIN_SHARE_EFFECT
        : tm - bm >= MIN_RELATIVE_GROWTH * Math.max(bm, tm) && tm - bm >= MIN_GROWTH_OF_TOTAL * targetTotalMean;
    const none = { rule: null, p: 1, gap: -Infinity } as const;
    if (!effect || b.length === 0 || t.length === 0) return { name, base: b, target: t, baseMean: bm, targetMean: tm, ...none };
    const unit = kind === 'cpu' ? CPU_SAMPLE_NS : samplePeriod;
    const samples = (is: Instance[]) => {
      const n = is.reduce((a, i) => a + Math.abs(i.total), 0) / unit!;
      const k = is.reduce((a, i) => a + Math.max(0, i.fns.get(name) ?? 0), 0) / unit!;
      return [k, n];
    };
    if (measure === 'share') {
      let z: number | null = null;
      if (unit !== undefined && unit > 0) {
        const [kb, nb] = samples(base);
        const [kt, nt] = samples(target);
        z = proportionZ(kb, nb, kt, nt);
      }
      return { name, base: b, target: t, baseMean: bm, targetMean: tm, ...shareRise(b, t, z, alpha) };
    }
    const lb = b.map((x) => Math.log(x + offset));
    const lt = t.map((x) => Math.log(x + offset));
    let ev = riseEvidence(lb, lt, { separationMargin: Math.log(fold), alpha });
    if (ev.rule === 'permutation' && !meansBeyond(lb, lt, Math.log(fold))) ev = { ...ev, rule: null };
    if (ev.rule === 'separation' && kind !== 'cpu' && unit !== undefined && unit > 0) {
      // Samples behind the values: a gauge's time-average per instance (exposure: instances); a
      // counter's increase (exposure: its seconds, or its series).
      const count = (is: Instance[]) => is.reduce((a, i) => a + Math.max(0, i.fns.get(name) ?? 0), 0) / unit;
      const exposure = (is: Instance[]) => (cls === 'gauge' ? is.length : timedCounters ? is.reduce((a, i) => a + i.durationNs, 0) : is.reduce((a, i) => a + i.groups, 0));
      const z = poissonZ(count(base), exposure(base), count(target), exposure(target));
      if (z < CPU_SAMPLING_Z) ev = { ...ev, rule: ev.p < alpha && meansBeyond(lb, lt, Math.log(fold)) ? 'permutation' : null };
    }
    return { name, base: b, target: t, baseMean: bm, targetMean: tm, ...ev };
  };
  const rose = [...names]
    .map(of)
    .filter((e) => e.rule !== null)
    .sort((a, b) => b.targetMean - b.baseMean - (a.targetMean - a.baseMean) || (a.name < b.name ? -1 : 1));
  return { kind, measure, rate, instances: { base: base.length, target: target.length }, totals, rose, of };
}
