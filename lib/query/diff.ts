import { isoFromUs } from '../model/time';
import type { Int64, ProfileKind } from '../model/profile';
import { normalizeBig } from '../normalize/functions';
import { welch } from '../stats/welch';
import { loadShareSums, shareSumsApply, welchFromSums, type ShareSide } from './diff-shares';
import { DEFAULT_SAMPLE_TYPE, needsSampleLabels, partitionFilter, type SqlParams } from './cohort';
import { stackFunctionsSql } from './stack-functions';
import type { PartitionFilter } from '../store/layout';
import type { QueryEngine } from './engine';
import { attributionFrameSql } from './user-frames';
import { profileWeightsSql, roundDivSql, weightedSelectSql, windowPartitionFilter, windowRowsWhere, type WindowCohort, type WindowOptions } from './window';

// Differential profiles: the same functions in two cohorts (a baseline and a target), normalized so
// that cohorts of different sizes compare, with a significance test that uses the profiles as
// replicates. Each profile of a cohort is one observation (one instance over one capture), so the
// run-to-run spread of a function's share is measured, not assumed: a change that is within that
// spread is not reported as significant however large the raw numbers are.
//
// Per function and cohort: flat and cum summed over the cohort's profiles (exactly what
// `fleetprof top` prints for that cohort), their shares of the cohort total (pprof's "of N total"),
// and a normalized value: for CPU the value per second of profile duration (ns/s, i.e. cores in
// nanoseconds per second), for every other kind the mean per profile (heap inuse is a snapshot, so
// this is the absolute in-use size a typical instance holds).
//
// Significance: Welch's t-test over the per-profile cum shares (each profile's cum of the function
// / that profile's total; 0 where the function does not appear), two-sided, and an effect-size
// floor: a function is significant when p < alpha (default 0.01) AND |delta cum share| >= minEffect
// (default 0.02, two percentage points of the cohort). With `measure: 'norm'` the test runs on the
// per-profile normalized cum instead (absolute growth: leaks, goroutine counts), on a log scale
// (log(value + 1% of the mean per-profile total): multiplicative noise), and the floor is
// relative: |delta| >= minEffect x max(base, target) (both normalized).

export interface DiffSide {
  fromUs?: number;
  toUs?: number;
  version?: string;
}

export interface DiffQuery extends WindowOptions {
  kind: ProfileKind;
  sampleType?: string;
  service?: string;
  instance?: string;
  labels?: Record<string, string>;
  base: DiffSide;
  target: DiffSide;
  /** p-value below which a change may be significant (default 0.01). */
  alpha?: number;
  /** Effect-size floor (default 0.02): absolute share for 'share', relative for 'norm'. */
  minEffect?: number;
  measure?: 'share' | 'norm';
  /** Charge each sample to its leaf-most user frame (lib/query/user-frames.ts) instead of flat/cum. */
  attribute?: boolean;
  limit?: number;
  /** Also return each side's replicates (the digest's detectors judge them with their own rules). */
  replicates?: boolean;
}

/** One profile's values of one sample type: what the test uses as a replicate. */
export interface ProfileValues {
  id: string;
  instance: string;
  version: string;
  durationNs: number;
  total: bigint;
  /** function -> [flat, cum] (attributed self value in both when `attribute`). */
  fns: Map<string, [bigint, bigint]>;
  /**
   * How many replicates this value sums (default 1): the digest's per-instance values from
   * rollups (lib/query/instance-values.ts) stand for an instance's profiles or series at once.
   */
  groups?: number;
  /** Whether every replicate it sums carries a duration (default: durationNs > 0). */
  timed?: boolean;
}

export interface CohortSummary {
  from: string | null;
  to: string | null;
  versions: string[];
  profiles: number;
  instances: number;
  total: Int64;
  duration_s: number;
  /** How `*_norm` values are expressed: 'per_second' (CPU) or 'per_profile'. */
  norm: 'per_second' | 'per_profile';
  total_norm: number;
}

export interface DiffSideValues {
  flat: Int64;
  cum: Int64;
  flat_share: number;
  cum_share: number;
  flat_norm: number;
  cum_norm: number;
}

export interface DiffFunction {
  name: string;
  base: DiffSideValues;
  target: DiffSideValues;
  delta_cum_share: number;
  delta_flat_share: number;
  delta_cum_norm: number;
  p_value: number | null;
  significant: boolean;
}

export interface DiffResult {
  type: string;
  sampleType: string;
  unit: string;
  measure: 'share' | 'norm';
  base: CohortSummary;
  target: CohortSummary;
  functions: DiffFunction[];
  /** Each side's replicates, when the query asked for them. */
  replicates?: { base: ProfileValues[]; target: ProfileValues[] };
}

export const DEFAULT_ALPHA = 0.01;
export const DEFAULT_MIN_EFFECT = 0.02;

function sideCohort(q: DiffQuery, s: DiffSide): WindowCohort {
  return { aggregate: q.aggregate, lookbackUs: q.lookbackUs, kind: q.kind, service: q.service, instance: q.instance, labels: q.labels, version: s.version, fromUs: s.fromUs, toUs: s.toUs };
}

/**
 * The replicates of a cohort's window with their per-function values of one sample type. A
 * replicate is a group of the window's weights (lib/query/window.ts): one profile for CPU, one
 * process series' increase for counters, one instance's mean for gauges; its values are the
 * window's, so the cohort sums equal `fleetprof top` on the same window. When labels select
 * samples (pprof sample labels), a replicate's total and values are those of its selected samples
 * (shares are of the selected samples, pprof's -relative_percentages), and a replicate none of
 * whose samples is selected is not part of the cohort.
 */
export async function loadProfiles(
  engine: QueryEngine,
  c: WindowCohort,
  sampleType: string,
  attribute = false,
): Promise<{ unit: string; profiles: ProfileValues[] }> {
  const params: SqlParams = { st: sampleType };
  const weights = profileWeightsSql(c, sampleType, params);
  const bySamples = await needsSampleLabels(engine, c);
  // Each statement gets exactly the parameters it names (DuckDB refuses unused ones).
  const sp: SqlParams = { ...params };
  const stacksWhere = windowRowsWhere(c, sampleType, sp, 'stacks', 's');
  const fromStacks = stackFunctionsSql(stacksWhere, 'st', true, weights);
  const sampleTotals = bySamples ? new Map((await engine.rows(fromStacks.totals, sp)).map((r) => [r.grp as string, BigInt(r.total as bigint)])) : undefined;
  const groupRows = await engine.rows(
    `SELECT pw.grp, MIN(p.instance) AS instance, MIN(p.version) AS version,
            SUM(CASE WHEN pw.w > 0 THEN p.duration_ns ELSE 0 END) AS duration_ns,
            ${roundDivSql('SUM(p.s.total::HUGEINT * pw.w)', 'MIN(pw.den)')} AS total, MIN(p.s.unit) AS unit
     FROM (SELECT profile_id, instance, version, duration_ns, UNNEST(sample_types) AS s FROM profiles) p
     JOIN (${weights}) pw ON p.profile_id = pw.profile_id
     WHERE p.s.type = $st
     GROUP BY pw.grp ORDER BY pw.grp`,
    params,
  );
  const profiles = new Map<string, ProfileValues>();
  let unit = '';
  for (const r of groupRows) {
    const total = sampleTotals ? sampleTotals.get(r.grp as string) : BigInt(r.total as bigint);
    if (total === undefined) continue;
    unit ||= (r.unit as string) ?? '';
    profiles.set(r.grp as string, {
      id: r.grp as string,
      instance: r.instance as string,
      version: r.version as string,
      durationNs: Number(r.duration_ns),
      total,
      fns: new Map(),
    });
  }
  if (profiles.size === 0) return { unit, profiles: [] };
  if (!attribute && bySamples) {
    for (const r of await engine.rows(fromStacks.functions, sp)) {
      profiles.get(r.grp as string)?.fns.set(r.name as string, [BigInt(r.flat as bigint), BigInt(r.cum as bigint)]);
    }
  } else if (!attribute) {
    const fp: SqlParams = { ...params };
    const rows = await engine.rows(
      weightedSelectSql(weights, {
        table: 'functions',
        where: `${windowRowsWhere(c, sampleType, fp, 'functions', 't')} AND t.sample_type = $st`,
        keys: [{ expr: 't.function', name: 'function' }],
        values: [
          { expr: 't.flat', name: 'flat' },
          { expr: 't.cum', name: 'cum' },
        ],
        perGroup: true,
      }),
      fp,
    );
    for (const r of rows) {
      if (BigInt(r.flat as bigint) === 0n && BigInt(r.cum as bigint) === 0n) continue;
      profiles.get(r.grp as string)?.fns.set(r.function as string, [BigInt(r.flat as bigint), BigInt(r.cum as bigint)]);
    }
  } else {
    // Attribution in SQL (lib/model/attribution.ts, the rule attributed_1h is built with): each
    // group's stacks summed first (each distinct stack attributed once), then per attributed frame,
    // divided by the group's denominator (gauge means) and rounded per frame, as the rollups are.
    const ap: SqlParams = { ...params };
    const where = `${windowRowsWhere(c, sampleType, ap, 'stacks', 't')} AND t.sample_type = $st`;
    const rows = await engine.rows(
      `SELECT grp, name, ${roundDivSql('SUM(v)', 'MIN(den)')} AS value FROM (
         SELECT grp, den, ${attributionFrameSql('frames')} AS name, v FROM (
           SELECT pw.grp, t.frames, MIN(pw.den) AS den, SUM(t.value::HUGEINT * pw.w) AS v
           FROM stacks t JOIN (${weights}) pw ON t.profile_id = pw.profile_id WHERE ${where} GROUP BY pw.grp, t.frames))
       GROUP BY grp, name`,
      ap,
    );
    for (const r of rows) {
      const p = profiles.get(r.grp as string);
      if (!p) continue;
      const v = BigInt(r.value as bigint);
      if (v !== 0n) p.fns.set(r.name as string, [v, v]);
    }
  }
  return { unit, profiles: [...profiles.values()] };
}

function summarize(s: DiffSide, profiles: ProfileValues[], cpu: boolean): CohortSummary {
  const total = profiles.reduce((a, p) => a + p.total, 0n);
  const durNs = profiles.reduce((a, p) => a + p.durationNs, 0);
  const norm = normalizer(profiles, cpu);
  return {
    from: s.fromUs === undefined ? null : isoFromUs(s.fromUs),
    to: s.toUs === undefined ? null : isoFromUs(s.toUs),
    versions: [...new Set(profiles.map((p) => p.version))].sort(),
    profiles: replicateCount(profiles),
    instances: new Set(profiles.map((p) => p.instance)).size,
    total: normalizeBig(total),
    duration_s: durNs / 1e9,
    norm: cpu ? 'per_second' : 'per_profile',
    total_norm: norm(total),
  };
}

/** How many replicates the values stand for (ProfileValues.groups). */
function replicateCount(profiles: ProfileValues[]): number {
  return profiles.reduce((a, p) => a + (p.groups ?? 1), 0);
}

/** Cohort sum -> normalized value: per second of profile duration (CPU) or per profile. */
function normalizer(profiles: ProfileValues[], cpu: boolean): (v: bigint) => number {
  const durS = profiles.reduce((a, p) => a + p.durationNs, 0) / 1e9;
  if (cpu && durS > 0) return (v) => Number(v) / durS;
  const n = replicateCount(profiles);
  return (v) => (n === 0 ? 0 : Number(v) / n);
}

/** A profile's own normalized value (the replicate for measure 'norm'). */
function perProfileNorm(p: ProfileValues, v: bigint, cpu: boolean): number {
  return cpu && p.durationNs > 0 ? Number(v) / (p.durationNs / 1e9) : Number(v);
}

export interface CompareOptions {
  cpu: boolean;
  alpha?: number;
  minEffect?: number;
  measure?: 'share' | 'norm';
}

/** The per-function comparison of two sets of replicates, significant ones first by |delta|. */
export function compareProfiles(base: ProfileValues[], target: ProfileValues[], o: CompareOptions): DiffFunction[] {
  const alpha = o.alpha ?? DEFAULT_ALPHA;
  const minEffect = o.minEffect ?? DEFAULT_MIN_EFFECT;
  const measure = o.measure ?? 'share';
  const names = new Set<string>();
  for (const p of [...base, ...target]) for (const n of p.fns.keys()) names.add(n);
  const side = (ps: ProfileValues[]) => {
    const total = ps.reduce((a, p) => a + p.total, 0n);
    const norm = normalizer(ps, o.cpu);
    return (name: string): DiffSideValues => {
      let flat = 0n;
      let cum = 0n;
      for (const p of ps) {
        const v = p.fns.get(name);
        if (v) {
          flat += v[0];
          cum += v[1];
        }
      }
      const share = (x: bigint) => (total === 0n ? 0 : Number(x < 0n ? -x : x) / Number(total));
      return { flat: normalizeBig(flat), cum: normalizeBig(cum), flat_share: share(flat), cum_share: share(cum), flat_norm: norm(flat), cum_norm: norm(cum) };
    };
  };
  // Log scale for absolute values: their run-to-run noise is multiplicative (a function at 10 MB
  // varies by MBs, one at 10 kB by kBs), and a function absent on one side is log(offset), so a
  // consistent rise from nothing is not drowned by the spread of its size. The offset is 1% of the
  // mean per-profile total: functions below that are compressed towards "nothing".
  const all = [...base, ...target];
  const offset = Math.max(1e-9, (0.01 * all.reduce((a, p) => a + Math.abs(perProfileNorm(p, p.total, o.cpu)), 0)) / Math.max(1, all.length));
  const replicate = (p: ProfileValues, name: string): number => {
    const cum = p.fns.get(name)?.[1] ?? 0n;
    if (measure === 'norm') return Math.log(Math.max(0, perProfileNorm(p, cum, o.cpu)) + offset);
    return p.total === 0n ? 0 : Number(cum < 0n ? -cum : cum) / Number(p.total);
  };
  const bSide = side(base);
  const tSide = side(target);
  const out: DiffFunction[] = [];
  for (const name of names) {
    const b = bSide(name);
    const t = tSide(name);
    const test = welch(
      base.map((p) => replicate(p, name)),
      target.map((p) => replicate(p, name)),
    );
    const deltaShare = t.cum_share - b.cum_share;
    const deltaNorm = t.cum_norm - b.cum_norm;
    const effectOk =
      measure === 'norm' ? Math.abs(deltaNorm) >= minEffect * Math.max(Math.abs(b.cum_norm), Math.abs(t.cum_norm)) && deltaNorm !== 0 : Math.abs(deltaShare) >= minEffect;
    out.push({
      name,
      base: b,
      target: t,
      delta_cum_share: deltaShare,
      delta_flat_share: t.flat_share - b.flat_share,
      delta_cum_norm: deltaNorm,
      p_value: test.p,
      significant: test.p !== null && test.p < alpha && effectOk,
    });
  }
  const mag = (f: DiffFunction) => Math.abs(measure === 'norm' ? f.delta_cum_norm : f.delta_cum_share);
  out.sort((a, b) => Number(b.significant) - Number(a.significant) || mag(b) - mag(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

/** A side's cohort summary from its share sums (the same fields summarize() gives from replicates). */
function summarizeSums(s: DiffSide, side: ShareSide, cpu: boolean): CohortSummary {
  const norm = sumsNormalizer(side, cpu);
  return {
    from: s.fromUs === undefined ? null : isoFromUs(s.fromUs),
    to: s.toUs === undefined ? null : isoFromUs(s.toUs),
    versions: side.versions,
    profiles: side.profiles,
    instances: side.instances,
    total: normalizeBig(side.total),
    duration_s: Number(side.durationNs) / 1e9,
    norm: cpu ? 'per_second' : 'per_profile',
    total_norm: norm(side.total),
  };
}

function sumsNormalizer(side: ShareSide, cpu: boolean): (v: bigint) => number {
  const durS = Number(side.durationNs) / 1e9;
  if (cpu && durS > 0) return (v) => Number(v) / durS;
  return (v) => (side.profiles === 0 ? 0 : Number(v) / side.profiles);
}

/** compareProfiles for share sums (lib/query/diff-shares.ts): the same values, the test from the sums. */
export function compareShareSums(base: ShareSide, target: ShareSide, o: CompareOptions): DiffFunction[] {
  const alpha = o.alpha ?? DEFAULT_ALPHA;
  const minEffect = o.minEffect ?? DEFAULT_MIN_EFFECT;
  const names = new Set([...base.fns.keys(), ...target.fns.keys()]);
  const values = (side: ShareSide, name: string): DiffSideValues => {
    const norm = sumsNormalizer(side, o.cpu);
    const f = side.fns.get(name);
    const flat = f?.flat ?? 0n;
    const cum = f?.cum ?? 0n;
    const share = (x: bigint) => (side.total === 0n ? 0 : Number(x < 0n ? -x : x) / Number(side.total));
    return { flat: normalizeBig(flat), cum: normalizeBig(cum), flat_share: share(flat), cum_share: share(cum), flat_norm: norm(flat), cum_norm: norm(cum) };
  };
  const sums = (side: ShareSide, name: string) => ({ n: side.profiles, sum: side.fns.get(name)?.shareSum ?? 0n, sqSum: side.fns.get(name)?.shareSqSum ?? 0n });
  const out: DiffFunction[] = [];
  for (const name of names) {
    const b = values(base, name);
    const t = values(target, name);
    const test = welchFromSums(sums(base, name), sums(target, name));
    const deltaShare = t.cum_share - b.cum_share;
    out.push({
      name,
      base: b,
      target: t,
      delta_cum_share: deltaShare,
      delta_flat_share: t.flat_share - b.flat_share,
      delta_cum_norm: t.cum_norm - b.cum_norm,
      p_value: test.p,
      significant: test.p !== null && test.p < alpha && Math.abs(deltaShare) >= minEffect,
    });
  }
  out.sort((a, b) => Number(b.significant) - Number(a.significant) || Math.abs(b.delta_cum_share) - Math.abs(a.delta_cum_share) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

/** `fleetprof diff`: baseline vs target cohort of one kind and sample type. */
export async function diff(engine: QueryEngine, q: DiffQuery): Promise<DiffResult> {
  const sampleType = q.sampleType ?? DEFAULT_SAMPLE_TYPE[q.kind];
  const cpu = q.kind === 'cpu';
  // CPU on share: from sums, over rollups where the planner can (lib/query/diff-shares.ts). The
  // digest's detectors ask for the replicates and judge them themselves: they keep the replicate path.
  if (shareSumsApply(q, sampleType) && !q.replicates) {
    const bs = await loadShareSums(engine, sideCohort(q, q.base), sampleType);
    const ts = await loadShareSums(engine, sideCohort(q, q.target), sampleType);
    let functions = compareShareSums(bs, ts, { cpu, alpha: q.alpha, minEffect: q.minEffect });
    if (q.limit !== undefined && q.limit > 0) functions = functions.slice(0, q.limit);
    return {
      type: q.kind,
      sampleType,
      unit: bs.unit || ts.unit,
      measure: 'share',
      base: summarizeSums(q.base, bs, cpu),
      target: summarizeSums(q.target, ts, cpu),
      functions,
    };
  }
  const b = await loadProfiles(engine, sideCohort(q, q.base), sampleType, q.attribute);
  const t = await loadProfiles(engine, sideCohort(q, q.target), sampleType, q.attribute);
  return diffOfReplicates(q, sampleType, b, t);
}

/** A diff from each side's replicates (the digest loads them itself: lib/detect/common.ts). */
export function diffOfReplicates(q: DiffQuery, sampleType: string, b: { unit: string; profiles: ProfileValues[] }, t: { unit: string; profiles: ProfileValues[] }): DiffResult {
  const cpu = q.kind === 'cpu';
  const measure = q.measure ?? 'share';
  let functions = compareProfiles(b.profiles, t.profiles, { cpu, alpha: q.alpha, minEffect: q.minEffect, measure });
  if (q.limit !== undefined && q.limit > 0) functions = functions.slice(0, q.limit);
  return {
    type: q.kind,
    sampleType,
    unit: b.unit || t.unit,
    measure,
    base: summarize(q.base, b.profiles, cpu),
    target: summarize(q.target, t.profiles, cpu),
    functions,
    ...(q.replicates ? { replicates: { base: b.profiles, target: t.profiles } } : {}),
  };
}

/** The partition filter that covers both sides of a diff. */
export function diffPartitionFilter(q: DiffQuery): PartitionFilter {
  return partitionFilter(windowPartitionFilter(sideCohort(q, q.base)), windowPartitionFilter(sideCohort(q, q.target)));
}

