import { valueClass } from '../model/temporality';
import type { ProfileKind } from '../model/profile';
import { intervalTotalsSql, profileSharesSql, SHARE_BITS } from '../store/rollup-terms';
import { tTwoSided, type WelchResult } from '../stats/welch';
import { cohortPredicate, type SqlParams } from './cohort';
import type { QueryEngine } from './engine';
import { planWindow, type WindowPlan } from './plan';
import type { WindowCohort } from './window';

// `fleetprof diff` of an interval (cpu) sample type on share, from sums: per side the replicate
// count n, the total, the duration and per function flat, cum and the sum and sum of squares of
// the per-profile fixed-point cum share (rollup-terms.ts profileSharesSql). Welch's t needs only
// n, mean and variance per side, so these sums are all the test needs, and they add up over any
// split of the window: whole days from function_shares_1d + functions_1d, whole hours from the
// _1h forms, the rest (edges, fresh hours) from raw rows, as the planner (plan.ts) cuts it. The
// raw-only path sums the same per-profile integers over the whole window, so rollups and raw rows
// give the same numbers and the same p-values, bit for bit (test/diff-rollup.test.ts).
//
// Why fixed point: the share of a profile is a real number; sums of doubles depend on the order
// of addition (and on DuckDB's parallelism), sums of integers do not. The variance is computed from
// the integer sums exactly (n Σx² - (Σx)² in BigInt) before it becomes a double.

export interface FunctionSums {
  flat: bigint;
  cum: bigint;
  shareSum: bigint;
  shareSqSum: bigint;
}

export interface ShareSide {
  unit: string;
  /** Replicates: the profiles of the window that carry the sample type. */
  profiles: number;
  instances: number;
  versions: string[];
  total: bigint;
  durationNs: bigint;
  fns: Map<string, FunctionSums>;
  /** Whether rollups answered part of the window (for tests and benchmarks). */
  planned: boolean;
}

/** Whether a diff query is answered from share sums (interval class, share measure, no labels or attribution). */
export function shareSumsApply(q: { kind: ProfileKind; labels?: Record<string, string>; attribute?: boolean; measure?: 'share' | 'norm' }, sampleType: string): boolean {
  return valueClass(q.kind, sampleType) === 'interval' && (q.measure ?? 'share') === 'share' && !q.attribute && Object.keys(q.labels ?? {}).length === 0;
}

type Span = [number, number];
const ts = (us: number) => `make_timestamp(${Math.trunc(us)}::BIGINT)`;
const spansSql = (col: string, spans: Span[]) => '(' + spans.map(([a, b]) => `(${col} >= ${ts(a)} AND ${col} < ${ts(b)})`).join(' OR ') + ')';

/** Whether function_shares_1h/_1d hold every hour and day the plan reads from rollups (older rollups predate them). */
async function sharesCover(engine: QueryEngine, plan: WindowPlan): Promise<boolean> {
  const c = plan.cohort;
  const count = async (table: 'function_shares_1d' | 'function_shares_1h', col: string, spans: Span[], step: number): Promise<boolean> => {
    if (spans.length === 0) return true;
    const from = (await engine.spanSource(table, spans)) ?? table;
    const id = cohortPredicate({ kind: c.kind, service: c.service, version: c.version }, 'profiles', { alias: 't', prefix: 'cv_' });
    const want = spans.reduce((a, [x, y]) => a + (y - x) / step, 0);
    const rows = await engine.rows(`SELECT COUNT(DISTINCT ${col}) AS n FROM ${from} t WHERE ${id.sql} AND t.sample_type = $st AND ${spansSql(`t.${col}`, spans)}`, {
      ...id.params,
      st: plan.sampleType,
    });
    return Number(rows[0]?.n ?? 0) === want;
  };
  return (await count('function_shares_1d', 'day', plan.days, 24 * 3_600_000_000)) && (await count('function_shares_1h', 'hour', plan.hours, 3_600_000_000));
}

/** The share sums of one side of a diff (see the header). */
export async function loadShareSums(engine: QueryEngine, c: WindowCohort, sampleType: string): Promise<ShareSide> {
  let plan = c.rollups === false ? null : await planWindow(engine, c, sampleType, 'functions', { profiles: true });
  if (plan && !(await sharesCover(engine, plan))) plan = null;
  const days = plan?.days ?? [];
  const hours = plan?.hours ?? [];
  const raw: [number | undefined, number | undefined][] = plan ? plan.raw : [[c.fromUs, c.toUs]];
  // Each statement gets exactly the parameters it names (DuckDB refuses unused ones).
  const statParams: SqlParams = { st: sampleType };
  const fnParams: SqlParams = { st: sampleType };
  const id = (params: SqlParams, alias: string, prefix: string) => {
    const p = cohortPredicate({ kind: c.kind, service: c.service, version: c.version }, 'profiles', { alias, prefix });
    Object.assign(params, p.params);
    return p.sql;
  };
  const rawPred = (params: SqlParams, i: number, alias: 'p' | 'f', [a, b]: [number | undefined, number | undefined]) => {
    const p = cohortPredicate({ kind: c.kind, service: c.service, version: c.version, instance: c.instance, fromUs: a, toUs: b }, alias === 'p' ? 'profiles' : 'functions', {
      alias,
      prefix: `${alias}${i}_`,
    });
    Object.assign(params, p.params);
    return p.sql;
  };

  const statParts: string[] = [];
  const rolled = [...days, ...hours];
  if (rolled.length > 0) {
    statParts.push(`SELECT r.instance, r.version, r.snapshots AS n, x.s.total AS total, x.s.unit AS unit, r.duration_ns AS dur
      FROM ${plan?.sources?.profiles ?? 'profiles_1h'} r, (SELECT UNNEST(r.sample_types) AS s) x WHERE ${id(statParams, 'r', 'sr_')} AND x.s.type = $st AND ${spansSql('r.hour', rolled)}`);
  }
  const fnParts: string[] = [];
  const zero = '0::HUGEINT';
  for (const [form, col, spans] of [
    ['1d', 'day', days],
    ['1h', 'hour', hours],
  ] as const) {
    if (spans.length === 0) continue;
    // Only the rollup files of the spans (the planner's sources, QueryEngine.spanSource), else the views.
    const fnSource = (form === '1d' ? plan?.sources?.day : plan?.sources?.hour) ?? `functions_${form}`;
    const shareSource = (await engine.spanSource(`function_shares_${form}`, spans)) ?? `function_shares_${form}`;
    fnParts.push(`SELECT t.function, t.flat::HUGEINT AS flat, t.cum::HUGEINT AS cum, ${zero} AS s1, ${zero} AS s2 FROM ${fnSource} t
      WHERE ${id(fnParams, 't', `f${form}_`)} AND t.sample_type = $st AND ${spansSql(`t.${col}`, spans)}`);
    fnParts.push(`SELECT t.function, ${zero} AS flat, ${zero} AS cum, t.share_sum::HUGEINT AS s1, t.share_sq_sum::HUGEINT AS s2 FROM ${shareSource} t
      WHERE ${id(fnParams, 't', `s${form}_`)} AND t.sample_type = $st AND ${spansSql(`t.${col}`, spans)}`);
  }
  raw.forEach((span, i) => {
    statParts.push(`SELECT instance, version, 1 AS n, total, unit, duration_ns AS dur FROM (${intervalTotalsSql(rawPred(statParams, i, 'p', span))}) WHERE sample_type = $st`);
    fnParts.push(`SELECT function, flat, cum, share::HUGEINT AS s1, share::HUGEINT * share AS s2 FROM (${profileSharesSql(rawPred(fnParams, i, 'p', span), rawPred(fnParams, i, 'f', span))}) WHERE sample_type = $st`);
  });
  const union = (parts: string[]) => parts.map((p) => `(${p})`).join(' UNION ALL ');
  const [stat] = await engine.rows(
    `SELECT COALESCE(SUM(n), 0)::BIGINT AS n, COALESCE(SUM(total::HUGEINT), 0)::HUGEINT AS total, COALESCE(SUM(dur::HUGEINT), 0)::HUGEINT AS dur,
            COUNT(DISTINCT instance) AS instances, list(DISTINCT version ORDER BY version) AS versions, MIN(unit) AS unit
     FROM (${union(statParts)})`,
    statParams,
  );
  const fns = new Map<string, FunctionSums>();
  const rows = await engine.rows(
    `SELECT function, SUM(flat)::HUGEINT AS flat, SUM(cum)::HUGEINT AS cum, SUM(s1)::HUGEINT AS s1, SUM(s2)::HUGEINT AS s2
     FROM (${union(fnParts)})
     GROUP BY function HAVING SUM(flat) <> 0 OR SUM(cum) <> 0`,
    fnParams,
  );
  for (const r of rows) {
    fns.set(r.function as string, { flat: BigInt(r.flat as bigint), cum: BigInt(r.cum as bigint), shareSum: BigInt(r.s1 as bigint), shareSqSum: BigInt(r.s2 as bigint) });
  }
  const n = Number(stat?.n ?? 0);
  return {
    unit: (stat?.unit as string | null) ?? '',
    profiles: n,
    instances: n === 0 ? 0 : Number(stat.instances),
    versions: n === 0 ? [] : ((stat.versions as string[] | null) ?? []).filter((v) => v !== null).sort(),
    total: BigInt((stat?.total as bigint) ?? 0n),
    durationNs: BigInt((stat?.dur as bigint) ?? 0n),
    fns,
    planned: plan !== null,
  };
}

/** Welch's t over fixed-point replicates given by their count, sum and sum of squares (lib/stats/welch.ts's welch, from moments). */
export function welchFromSums(a: { n: number; sum: bigint; sqSum: bigint }, b: { n: number; sum: bigint; sqSum: bigint }): WelchResult {
  if (a.n < 2 || b.n < 2) return { t: 0, df: 0, p: null };
  const scale = 2 ** SHARE_BITS;
  const mean = (s: typeof a) => Number(s.sum) / s.n / scale;
  // Sample variance (n - 1), exact in integers until the final division.
  const variance = (s: typeof a) => Number(BigInt(s.n) * s.sqSum - s.sum * s.sum) / (s.n * (s.n - 1)) / (scale * scale);
  const va = variance(a) / a.n;
  const vb = variance(b) / b.n;
  const diff = mean(b) - mean(a);
  const se2 = va + vb;
  if (se2 === 0) return { t: diff === 0 ? 0 : Math.sign(diff) * Infinity, df: a.n + b.n - 2, p: diff === 0 ? 1 : 0 };
  const t = diff / Math.sqrt(se2);
  const df = (se2 * se2) / ((va * va) / (a.n - 1) + (vb * vb) / (b.n - 1));
  return { t, df, p: tTwoSided(t, df) };
}
