import type { Int64 } from '../model/profile';
import { normalizeBig } from '../normalize/functions';
import { cohortPredicate, DEFAULT_SAMPLE_TYPE, needsSampleLabels, type Cohort } from './cohort';
import { stackFunctionsSql } from './stack-functions';
import type { QueryEngine } from './engine';

// Fleet-wide top functions: the per-profile flat/cum rows summed over a cohort. That equals
// `go tool pprof -top` on all of the cohort's files at once, because pprof's merge sums sample
// values and flat/cum are linear in them. When labels select samples rather than whole profiles
// (pprof sample labels, `-tagfocus`), flat/cum come from the stacks rows instead
// (lib/query/stack-functions.ts).

export interface TopQuery extends Cohort {
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

export async function top(engine: QueryEngine, q: TopQuery): Promise<TopResult> {
  const sampleType = q.sampleType ?? DEFAULT_SAMPLE_TYPE[q.kind];
  // The total is pprof's "of N total" of the cohort's files: with -tagfocus pprof still divides by
  // the total of every sample (unless -relative_percentages), so the profiles whose samples labels
  // select count whole here (cohortPredicate on profiles).
  const p = cohortPredicate(q, 'profiles');
  const totals = await engine.rows(
    `WITH t AS (SELECT UNNEST(sample_types) AS s FROM profiles WHERE ${p.sql})
     SELECT SUM(s.total)::HUGEINT AS total, MIN(s.unit) AS unit FROM t WHERE s.type = $st`,
    { ...p.params, st: sampleType },
  );
  const fns = (await needsSampleLabels(engine, q)) ? await fromStacks(engine, q, sampleType) : await fromFunctions(engine, q, sampleType);
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
    unit: (totals[0]?.unit as string | null) ?? '',
    total: normalizeBig((totals[0]?.total as bigint | null) ?? 0n),
    functions: limited.map((f) => ({ name: f.name, flat: normalizeBig(f.flat), cum: normalizeBig(f.cum) })),
  };
}

type FunctionSums = { name: string; flat: bigint; cum: bigint }[];

/** The per-profile functions rows summed: exact when labels select whole profiles only. */
async function fromFunctions(engine: QueryEngine, q: TopQuery, sampleType: string): Promise<FunctionSums> {
  const f = cohortPredicate(q, 'functions', { alias: 'f' });
  const rows = await engine.rows(
    `SELECT function AS name, SUM(flat)::HUGEINT AS flat, SUM(cum)::HUGEINT AS cum
     FROM functions f
     WHERE ${f.sql} AND f.sample_type = $st
     GROUP BY function`,
    { ...f.params, st: sampleType },
  );
  return rows.map((r) => ({ name: r.name as string, flat: r.flat as bigint, cum: r.cum as bigint }));
}

/** From the stacks rows, when pprof sample labels select some samples of a profile (-tagfocus). */
async function fromStacks(engine: QueryEngine, q: TopQuery, sampleType: string): Promise<FunctionSums> {
  const s = cohortPredicate(q, 'stacks', { alias: 's' });
  const rows = await engine.rows(stackFunctionsSql(s.sql, 'st').functions, { ...s.params, st: sampleType });
  return rows.map((r) => ({ name: r.name as string, flat: r.flat as bigint, cum: r.cum as bigint }));
}
