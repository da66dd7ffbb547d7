import type { Int64 } from '../model/profile';
import { normalizeBig } from '../normalize/functions';
import { DEFAULT_SAMPLE_TYPE, needsSampleLabels, type SqlParams } from './cohort';
import { stackFunctionsSql } from './stack-functions';
import { topFromMergeSums } from './merge-sums';
import type { QueryEngine } from './engine';
import { planWindow, plannedSelectSql, type WindowPlan } from './plan';
import { profileWeightsSql, unitDenominator, weightedSelectSql, windowPartitionFilter, windowRowsWhere, type WindowCohort } from './window';
import type { TableName } from '../model/schema';
import type { PartitionFilter } from '../store/layout';
import { SUMS_TABLE } from '../store/merge';

// Fleet-wide top functions: the per-profile flat/cum rows of a window, weighted by the window's
// rule (lib/query/window.ts) and summed. pprof's merge sums sample values and flat/cum are linear
// in them, so for CPU this equals `go tool pprof -top` on all of the window's files at once, and
// for a counter uploaded cumulative `go tool pprof -top -base <last before> <last in window>`. When labels select samples rather than whole profiles
// (pprof sample labels, `-tagfocus`), flat/cum come from the stacks rows instead
// (lib/query/stack-functions.ts).

export interface TopQuery extends WindowCohort {
  sampleType?: string;
  limit?: number;
  by?: 'flat' | 'cum';
}

export interface TopResult {
  type: string;
  sampleType: string;
  unit: string;
  total: Int64;
  functions: { name: string; flat: Int64; cum: Int64 }[];
}

/**
 * The tables `top` can read for a query (the views, the planner's rollups, the merge tier's
 * pre-sums; stacks only when labels may select samples): the engine need not list the others
 * (PartitionFilter.tables), and refuses them if a change here forgets one.
 */
export function topTables(q: TopQuery): TableName[] {
  const labels = Object.keys(q.labels ?? {}).length > 0;
  return ['profiles', 'functions', SUMS_TABLE, 'profiles_1h', 'functions_1h', 'functions_1d', 'totals_1d', ...(labels ? (['stacks'] as const) : [])];
}

/** The partitions and tables a `top` query reads: what the CLI and the query API list. */
export function topPartitionFilter(q: TopQuery): PartitionFilter {
  return { ...windowPartitionFilter(q), tables: topTables(q) };
}

export async function top(engine: QueryEngine, q: TopQuery): Promise<TopResult> {
  const sampleType = q.sampleType ?? DEFAULT_SAMPLE_TYPE[q.kind];
  // The total is pprof's "of N total" of the cohort's files: with -tagfocus pprof still divides by
  // the total of every sample (unless -relative_percentages), so the profiles whose samples labels
  // select count whole here (cohortPredicate on profiles).
  const params: SqlParams = { st: sampleType };
  const bySamples = await needsSampleLabels(engine, q);
  const planned = q.rollups === false || bySamples ? null : await planWindow(engine, q, sampleType, 'functions', { totals: true });
  // The plan's raw spans through the pre-sums where they apply (below); the rollups answer the rest.
  const spans = planned && q.kind === 'cpu' ? await rawSpansFromSums(engine, q, planned, sampleType) : null;
  const plan = spans?.plan ?? planned;
  const weights = profileWeightsSql(q, sampleType, params);
  // The merge tier's pre-sums (like rollups, off with rollups: false) where they apply, else the functions view; they may bring the total too.
  const sums = plan || bySamples || q.rollups === false ? null : await topFromMergeSums(engine, q, sampleType, weights, params);
  const totals = sums?.totals
    ? [sums.totals]
    : plan
    ? await fromPlan(engine, plan, { table: 'totals', keys: [{ expr: 't.unit', name: 'unit' }], values: [{ expr: 't.total', name: 'total' }] }, 'SELECT SUM(total)::HUGEINT AS total, MIN(unit) AS unit FROM')
    : await engine.rows(
        `SELECT SUM(total)::HUGEINT AS total, MIN(unit) AS unit FROM (${weightedSelectSql(weights, {
          table: '(SELECT profile_id, s.total AS total, s.unit AS unit FROM (SELECT profile_id, UNNEST(sample_types) AS s FROM profiles) WHERE s.type = $st)',
          where: 'true',
          keys: [{ expr: 't.unit', name: 'unit' }],
          values: [{ expr: 't.total', name: 'total' }],
          unitDen: unitDenominator(q, sampleType),
        })})`,
        params,
      );
  const fns = plan
    ? (
        await fromPlan(
          engine,
          plan,
          {
            table: 'functions',
            keys: [{ expr: 't.function', name: 'name' }],
            values: [
              { expr: 't.flat', name: 'flat' },
              { expr: 't.cum', name: 'cum' },
            ],
          },
          'SELECT * FROM',
          'WHERE flat <> 0 OR cum <> 0',
        )
      ).map((r) => ({ name: r.name as string, flat: r.flat as bigint, cum: r.cum as bigint }))
    : bySamples
      ? await fromStacks(engine, q, sampleType, weights, params)
      : (sums?.functions ?? (await fromFunctions(engine, q, sampleType, weights, params)));
  const total = { total: (totals[0]?.total as bigint | null) ?? null, unit: (totals[0]?.unit as string | null) ?? null };
  return spans ? finishTop(q, sampleType, addTotals(total, spans.totals), addSums(fns, spans.functions)) : finishTop(q, sampleType, total, fns);
}

/**
 * A plan's raw spans of CPU (a window over rolled-up hours and the fresh hour: the last 24 hours)
 * summed as a window of their own by the merge tier's pre-sums (lib/query/merge-sums.ts) where its
 * direct path applies: the fresh hour's merges pre-summed, the other files' rows without the
 * weights' join; CPU profiles weigh 1, so disjoint spans add up. The plan's raw parts read the fresh
 * hour through the functions and profiles views instead (2.7 of 3.3 CPU-s of the last two hours'
 * `top` at 1,000 instances, docs/performance.md "The fresh hour"). Null when no span took that path.
 */
async function rawSpansFromSums(engine: QueryEngine, q: TopQuery, plan: WindowPlan, sampleType: string): Promise<{ plan: WindowPlan; functions: FunctionSums; totals: { total: bigint | null; unit: string | null } } | null> {
  const left: [number, number][] = [];
  let functions: FunctionSums = [];
  let totals: { total: bigint | null; unit: string | null } = { total: null, unit: null };
  for (const [a, b] of plan.raw) {
    const sq: TopQuery = { ...q, fromUs: a, toUs: b };
    const p: SqlParams = { st: sampleType };
    const r = await topFromMergeSums(engine, sq, sampleType, profileWeightsSql(sq, sampleType, p), p);
    if (!r?.totals) {
      left.push([a, b]);
      continue;
    }
    functions = addSums(functions, r.functions);
    totals = addTotals(totals, r.totals);
  }
  return left.length === plan.raw.length ? null : { plan: { ...plan, raw: left }, functions, totals };
}

function addTotals(a: { total: bigint | null; unit: string | null }, b: { total: bigint | null; unit: string | null }): { total: bigint | null; unit: string | null } {
  const total = a.total === null ? b.total : b.total === null ? a.total : a.total + b.total;
  const unit = a.unit === null ? b.unit : b.unit === null ? a.unit : a.unit < b.unit ? a.unit : b.unit;
  return { total, unit };
}

/** Per-function sums added by name; functions whose flat and cum are both 0 left out (as every path does). */
function addSums(a: FunctionSums, b: FunctionSums): FunctionSums {
  const by = new Map<string, { name: string; flat: bigint; cum: bigint }>();
  for (const f of [...a, ...b]) {
    const cur = by.get(f.name);
    if (cur) {
      cur.flat += BigInt(f.flat);
      cur.cum += BigInt(f.cum);
    } else by.set(f.name, { name: f.name, flat: BigInt(f.flat), cum: BigInt(f.cum) });
  }
  return [...by.values()].filter((f) => f.flat !== 0n || f.cum !== 0n);
}

/** The result from the window's total and per-function sums: pprof's order, the limit, exact integers (shared with lib/query/warm-top.ts). */
export function finishTop(q: TopQuery, sampleType: string, totals: { total: bigint | null; unit: string | null }, fns: FunctionSums): TopResult {
  const abs = (v: bigint) => (v < 0n ? -v : v);
  const cmp = (a: bigint, b: bigint) => (a === b ? 0 : a > b ? -1 : 1);
  const byName = (a: string, b: string) => (a === b ? 0 : a < b ? -1 : 1);
  // pprof's FlatNameOrder / CumNameOrder.
  fns.sort(
    q.by === 'cum'
      ? (a, b) => cmp(abs(a.cum), abs(b.cum)) || byName(a.name, b.name) || cmp(abs(a.flat), abs(b.flat))
      : (a, b) => cmp(abs(a.flat), abs(b.flat)) || byName(a.name, b.name) || cmp(abs(a.cum), abs(b.cum)),
  );
  const limited = q.limit !== undefined && q.limit > 0 ? fns.slice(0, q.limit) : fns;
  return {
    type: q.kind,
    sampleType,
    unit: totals.unit ?? '',
    total: normalizeBig(totals.total ?? 0n),
    functions: limited.map((f) => ({ name: f.name, flat: normalizeBig(f.flat), cum: normalizeBig(f.cum) })),
  };
}

async function fromPlan(engine: QueryEngine, plan: WindowPlan, s: Parameters<typeof plannedSelectSql>[1], head: string, tail = ''): Promise<Record<string, unknown>[]> {
  const params: SqlParams = {};
  const sql = plannedSelectSql(plan, s, params);
  return engine.rows(`${head} (${sql}) ${tail}`, params);
}

export type FunctionSums = { name: string; flat: bigint; cum: bigint }[];

/** The per-profile functions rows, weighted: exact when labels select whole profiles only. */
async function fromFunctions(engine: QueryEngine, q: TopQuery, sampleType: string, weights: string, wparams: SqlParams): Promise<FunctionSums> {
  const params = { ...wparams };
  const rows = await engine.rows(
    `SELECT * FROM (${weightedSelectSql(weights, {
      table: 'functions',
      where: `${windowRowsWhere(q, sampleType, params, 'functions', 't')} AND t.sample_type = $st`,
      keys: [{ expr: 't.function', name: 'name' }],
      values: [
        { expr: 't.flat', name: 'flat' },
        { expr: 't.cum', name: 'cum' },
      ],
      unitDen: unitDenominator(q, sampleType),
    })}) WHERE flat <> 0 OR cum <> 0`,
    params,
  );
  return rows.map((r) => ({ name: r.name as string, flat: r.flat as bigint, cum: r.cum as bigint }));
}

/** From the stacks rows, weighted, when pprof sample labels select some samples of a profile (-tagfocus). */
async function fromStacks(engine: QueryEngine, q: TopQuery, sampleType: string, weights: string, wparams: SqlParams): Promise<FunctionSums> {
  const params = { ...wparams };
  const where = windowRowsWhere(q, sampleType, params, 'stacks', 's');
  const rows = await engine.rows(stackFunctionsSql(where, 'st', false, weights).functions, params);
  return rows.map((r) => ({ name: r.name as string, flat: r.flat as bigint, cum: r.cum as bigint }));
}
