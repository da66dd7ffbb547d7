import { duckdbType, TABLES } from '../model/schema';
import { BATCH_COLUMN, viewRowsSql } from '../store/dedupe';
import { isMergeBatch, sameProfiles, SUMS_TABLE } from '../store/merge';
import { missingColumns, sqlString, tierSource } from '../store/parquet';
import { cohortPredicate, type SqlParams } from './cohort';
import type { QueryEngine } from './engine';
import { weightedSelectSql, windowRowsWhere, type WindowCohort } from './window';

// `top` of CPU over fresh hours with the merge tier's pre-sums (lib/store/merge.ts,
// functions_merge): a merge the window covers whole adds its pre-summed rows; every other
// functions file (the last minute's batch files, merges at the window's edges, compacted files)
// adds its raw rows, weighted by the window's rule as always. Exact: a merge is summed only when
//   - its functions file (same batch id) is listed and none of that file's profiles is dropped by
//     the dedupe rule (lib/store/dedupe.ts): then every one of its rows counts in the functions view;
//   - every profile of the merge lies in the window (its first and last time), so each weighs 1
//     (CPU: interval class, lib/query/window.ts), and its profiles row exists (the merge wrote its
//     profiles from the same batches; ingest PUTs profiles last);
// a merge with a profile dropped goes back to its raw rows (with the drop applied).
// The dedupe keys of a summed merge's functions come from the merge's profiles file of the same id
// (the same profiles, ~1/200 of the rows): a profile without functions rows has none anywhere (every
// copy of a profile is identical), so its extra key changes no row. The other files' keys come from
// their own rows: the last minute's ~100 files, and merges at the edges.
// This replaces the functions view, whose dedupe keys read every fresh row (70M at 1,000 instances,
// docs/performance.md "The fresh hour as production lays it out").

export type FunctionSums = { name: string; flat: bigint; cum: bigint }[];

const batchOfPath = (p: string) => (p.split('/').pop() ?? '').split('.')[0];

type Dropped = { key: string; b: string }[];

/** `top`'s total (pprof's "of N total") and unit; null when no profile matched. */
export type Totals = { total: bigint | null; unit: string | null };

/** The profiles view's dropped keys (computed once per engine, the totals' view uses them too), with their batch. */
async function viewKeys(engine: QueryEngine): Promise<Dropped> {
  // A key is `profile_id/batch/dtThh`: the batch is the second field from the end.
  return (await engine.droppedKeys('profiles')).map((key) => ({ key, b: key.split('/').at(-2) ?? '' }));
}

/**
 * The dedupe rule on keys (lib/store/dedupe.ts droppedKeysSql's: per (profile_id, hour) the
 * smallest batch) over the functions' own keys: a merge's from its profiles file, every other
 * functions file's from its rows.
 */
async function ownKeys(engine: QueryEngine, merges: readonly { id: string }[], prById: ReadonlyMap<string, string>, fnFresh: readonly string[]): Promise<Dropped> {
  const twins = merges.map((m) => prById.get(m.id)!);
  const twinIds = new Set(merges.map((m) => m.id));
  const own = fnFresh.filter((p) => !twinIds.has(batchOfPath(p)));
  await engine.fetch('profiles', twins);
  await engine.fetch('functions', own);
  const keySrc = (tbl: 'profiles' | 'functions', files: string[]) =>
    files.length === 0 ? [] : [`SELECT DISTINCT profile_id, COALESCE(${BATCH_COLUMN}, '') AS b, dt || 'T' || hour AS h FROM ${tierSource(TABLES[tbl], 'fresh', files)}`];
  const keys = [...keySrc('profiles', twins), ...keySrc('functions', own)].join(' UNION ');
  return (
    await engine.rows(
      `WITH k AS MATERIALIZED (${keys}) SELECT k.profile_id || '/' || k.b || '/' || k.h AS key, k.b AS b FROM k JOIN (SELECT profile_id, h, min(b) AS b FROM k GROUP BY ALL HAVING count(*) > 1) w ON k.profile_id = w.profile_id AND k.h = w.h WHERE k.b <> w.b`,
    )
  ).map((r) => ({ key: String(r.key), b: String(r.b) }));
}

/**
 * The window's function sums using the pre-sums (and how many merges were summed), or null when they do not apply (no pre-sum
 * file, not CPU, an instance or label filter, late fresh files of a compacted hour): the caller
 * reads the functions view as before.
 */
export async function topFromMergeSums(engine: QueryEngine, q: WindowCohort, sampleType: string, weights: string, wparams: SqlParams): Promise<{ functions: FunctionSums; summed: number; totals?: Totals } | null> {
  if (q.kind !== 'cpu' || q.fromUs === undefined || q.toUs === undefined || q.instance !== undefined || Object.keys(q.labels ?? {}).length > 0) return null;
  const sums = engine.tableFiles(SUMS_TABLE);
  const fn = engine.tableFiles('functions');
  const pr = engine.tableFiles('profiles');
  if (sums.fresh.length === 0 || fn.lateHours.length > 0 || pr.lateHours.length > 0) return null;
  const fnById = new Map(fn.fresh.map((p) => [batchOfPath(p), p]));
  const prById = new Map(pr.fresh.map((p) => [batchOfPath(p), p]));
  // A merge: its pre-sums, functions file and profiles file, all listed.
  const merges = sums.fresh.map((p) => ({ id: batchOfPath(p), sums: p })).filter((m) => isMergeBatch(m.id) && fnById.has(m.id) && prById.has(m.id));
  if (merges.length === 0) return null;
  await engine.fetch(SUMS_TABLE, merges.map((m) => m.sums));
  const list = (ps: readonly string[]) => `[${ps.map((p) => `'${sqlString(p)}'`).join(', ')}]`;
  const sumsSrc = `read_parquet(${list(merges.map((m) => m.sums))}, hive_partitioning = false)`;
  const inWindow = new Set(
    (
      await engine.rows(
        `SELECT ${BATCH_COLUMN} AS b FROM ${sumsSrc} GROUP BY ALL HAVING min(first_time) >= make_timestamp(${Math.trunc(q.fromUs)}::BIGINT) AND max(last_time) < make_timestamp(${Math.trunc(q.toUs)}::BIGINT)`,
      )
    ).map((r) => String(r.b)),
  );
  const shared = sameProfiles(fn.fresh, pr.fresh, sums.fresh);
  const dropped = shared ? await viewKeys(engine) : await ownKeys(engine, merges, prById, fn.fresh);
  // The functions' keys the profiles' (shared) and no late hour (checked above): a functions row
  // counts exactly when its profile's row does, and carries that profile's kind, service, version
  // and time; every CPU profile weighs 1. So the weights' join (a read of every profiles file)
  // adds nothing to the raw rows' sums, nor to the total (lib/query/top.ts joins the profiles to
  // their weights). That holds for compacted files too: an hour's compacted functions and profiles
  // hold the same profiles once each (the compactor's dedupe is the same rule on the same keys);
  // while only one of the two tables of an hour is switched, the other's fresh batch files of that
  // hour are still listed and `shared` is false, and a batch either compaction missed is a late
  // hour. A window reaching into a compacted hour (the last hour, 40 minutes after the hour's
  // turn) spent 2.6-3.2 CPU-s in that join at 1,000 instances, 1.5-1.6 without
  // (docs/performance.md "The fresh hour"). Compacted files only by the hours their manifest says
  // they hold: a last-hour window of a day with compacted hours would otherwise read every
  // compacted functions file of the day.
  const span = [[q.fromUs, q.toUs]] as const;
  const fnCompacted = engine.compactedIn('functions', span);
  const direct = shared;
  const droppedBatches = new Set(dropped.map((d) => d.b));
  const summed = merges.filter((m) => inWindow.has(m.id) && !droppedBatches.has(m.id));
  const summedIds = new Set(summed.map((m) => m.id));

  const params: SqlParams = { ...wparams };
  const parts: string[] = [];
  if (summed.length > 0) {
    const id = cohortPredicate({ kind: q.kind, service: q.service, version: q.version }, SUMS_TABLE, { alias: 's', prefix: 'ms_' });
    Object.assign(params, id.params);
    parts.push(
      `SELECT s.function AS name, SUM(s.flat)::HUGEINT AS flat, SUM(s.cum)::HUGEINT AS cum FROM read_parquet(${list(summed.map((m) => m.sums))}, hive_partitioning = false) s WHERE ${id.sql} AND s.sample_type = $st GROUP BY ALL`,
    );
  }
  // Every other functions file, raw: compacted files of the window's hours and the fresh files not summed, the drops applied.
  const rawFresh = fn.fresh.filter((p) => !summedIds.has(batchOfPath(p)));
  await engine.fetch('functions', [...fnCompacted, ...rawFresh]);
  if (fnCompacted.length + rawFresh.length > 0) {
    const def = TABLES.functions;
    const compacted = fnCompacted.length > 0 ? tierSource(def, 'compacted', fnCompacted) : undefined;
    const fresh = rawFresh.length > 0 ? tierSource(def, 'fresh', rawFresh) : undefined;
    const missingIn = async (src: string | undefined) => (src ? new Set((await missingColumns(engine.conn, def, src)).map((c) => c.name)) : null);
    const [mc, mf] = [await missingIn(compacted), await missingIn(fresh)];
    const extra = def.columns
      .filter((c) => (mc === null || mc.has(c.name)) && (mf === null || mf.has(c.name)))
      .map((c) => `, CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`)
      .join('');
    const rows = `(${viewRowsSql({ compacted, fresh, dropped: dropped.map((d) => `'${sqlString(d.key)}'`), extra })})`;
    const where = `${windowRowsWhere(q, sampleType, params, 'functions', 't')} AND t.sample_type = $st`;
    parts.push(
      direct
        ? `SELECT t.function AS name, SUM(t.flat)::HUGEINT AS flat, SUM(t.cum)::HUGEINT AS cum FROM ${rows} t WHERE ${where} GROUP BY ALL`
        : weightedSelectSql(weights, {
            table: rows,
            where,
            keys: [{ expr: 't.function', name: 'name' }],
            values: [
              { expr: 't.flat', name: 'flat' },
              { expr: 't.cum', name: 'cum' },
            ],
            unitDen: true,
          }),
    );
  }
  const totals = direct ? await directTotals(engine, q, sampleType) : undefined;
  if (parts.length === 0) return { functions: [], summed: 0, totals };
  const sql = `SELECT name, SUM(flat)::HUGEINT AS flat, SUM(cum)::HUGEINT AS cum FROM (${parts.map((p) => `(${p})`).join(' UNION ALL ')}) GROUP BY name HAVING SUM(flat) <> 0 OR SUM(cum) <> 0`;
  // Only the parameters the statement names (without a raw part the weights' are unused, which DuckDB refuses).
  const out = await engine.rows(sql, Object.fromEntries(Object.entries(params).filter(([k]) => new RegExp(`\\$${k}\\b`).test(sql))));
  return { functions: out.map((r) => ({ name: r.name as string, flat: r.flat as bigint, cum: r.cum as bigint })), summed: summed.length, totals };
}

/** The window's total and unit from the profiles view alone: every CPU profile in the cohort weighs 1 (see `direct`). */
async function directTotals(engine: QueryEngine, q: WindowCohort, sampleType: string): Promise<Totals> {
  const pred = cohortPredicate(q, 'profiles', { alias: 'p', prefix: 'tt_' });
  const rows = await engine.rows(
    `SELECT SUM(s.total)::HUGEINT AS total, MIN(s.unit) AS unit FROM (SELECT UNNEST(p.sample_types) AS s FROM profiles p WHERE ${pred.sql}) WHERE s.type = $st`,
    { ...pred.params, st: sampleType },
  );
  return { total: (rows[0]?.total as bigint | null) ?? null, unit: (rows[0]?.unit as string | null) ?? null };
}
