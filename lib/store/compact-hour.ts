import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { duckdbType, type TableDef } from '../model/schema';
import { BATCH_COLUMN } from './dedupe';
import { HOUR_US } from './layout';
import { missingColumns, sqlString, tierSource } from './parquet';

// One closed hour of one table's fresh batch files -> bounded units, each one compacted file
// (lib/store/compact.ts publishes all units of an hour in ONE manifest swap: readers see all of
// them or none, and the fresh files they replace stop counting at that same moment).
//
// Why units: a 1,000-instance hour is ~70M functions and ~64M stacks rows; one ORDER BY over all
// of them under the Lambda's 1.8 GB DuckDB limit spilled 19 GB (docs/performance.md, "Fleet").
// A unit is a set of (service, instance) pairs whose rows stay under `unitRows`, so each sort is
// bounded whatever the fleet's size, and units are independent (the fan-out's work item).
//
// The dedupe rule is lib/store/dedupe.ts's, decided on KEYS, not by joining every row: one
// aggregate over (profile_id, batch, service, instance) gives the keys whose rows do not count
//   - a (profile_id, batch) whose profile_id has a smaller batch in this hour (redelivery), and
//   - a profile_id the hour's live compacted rows already hold (late copy of a compacted hour);
// usually none, and then the rows are copied with no join at all. A fresh file holds rows of the
// one UTC hour of its path (lib/store/layout.ts freshKey), so the rule's "per profile_id and hour"
// is per profile_id here.

export interface HourUnit {
  /** (service, instance) pairs whose rows the unit holds; NULLs are '' (COALESCE, both sides). */
  readonly pairs: readonly (readonly [string, string])[];
  /** Rows that count. */
  readonly rows: number;
  /**
   * Rows per pair (same order as `pairs`; absent in jobs planned before 2026-12-03). The finalizer
   * keeps them beside the output file (compact-jobs.ts keysKey), so a day close plans its units
   * and each unit's inputs without reading the day.
   */
  readonly counts?: readonly number[];
}

export interface HourPlan {
  readonly units: readonly HourUnit[];
  /** Rows that count (the sum over units). */
  readonly rows: number;
  /** (profile_id, batch) keys whose rows do not count. */
  readonly dropped: number;
  /**
   * Those keys ((profile_id, batch with NULL as '')): a plan travels to other processes (the
   * compaction workers, lib/store/compact-jobs.ts), so the rule's outcome is data, not a temp table.
   */
  readonly droppedKeys: readonly (readonly [string, string])[];
}

/** Rows per unit by default: measured with bench/compact.ts (docs/performance.md "Compaction and storage"). */
export const UNIT_ROWS = 4_000_000;

/** The function memory UNIT_ROWS was measured at (the compaction Lambdas' size until 2026-12-03). */
const UNIT_ROWS_AT_MB = 3008;

/**
 * Rows per unit (hour and day) for a compaction Lambda of `memoryMb`: the one rule that sizes a
 * unit from the memory its worker has (lib/aws/compact-job.ts compactLambdaOptions; the planner
 * packs, the workers run, both at the stack's `compactMemoryMb`). A unit's sort spills past
 * DuckDB's limit, and what its Parquet reader and writer hold is outside that limit, so its peak
 * grows with its rows: UNIT_ROWS at 3,008 MB, in proportion below (docs/performance.md "Cost model").
 */
export function compactUnitRows(memoryMb: number): number {
  return Math.max(250_000, Math.round((UNIT_ROWS * Math.min(memoryMb, UNIT_ROWS_AT_MB)) / UNIT_ROWS_AT_MB / 50_000) * 50_000);
}

const KEYS = '__compact_keys';
const DROPPED = '__compact_dropped';
const UNIT = '__compact_unit';

/** Splits the hour's rows into units of at most ~unitRows (one (service, instance) pair is never split). */
export async function planHour(conn: DuckDBConnection, table: TableDef, fresh: readonly string[], live: readonly string[], hourStartUs: number, unitRows = UNIT_ROWS): Promise<HourPlan> {
  const src = tierSource(table, 'fresh', fresh);
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE ${KEYS} AS SELECT profile_id, COALESCE(${BATCH_COLUMN}, '') AS b, COALESCE(service, '') AS s, COALESCE(instance, '') AS i, count(*)::BIGINT AS n FROM ${src} GROUP BY ALL`,
  );
  const redelivered = `SELECT profile_id, b FROM ${KEYS} QUALIFY b <> min(b) OVER (PARTITION BY profile_id)`;
  let droppedSql = redelivered;
  if (live.length > 0) {
    const liveSrc = `read_parquet([${live.map((f) => `'${sqlString(f)}'`).join(', ')}], union_by_name = true)`;
    const have = `SELECT DISTINCT profile_id FROM ${liveSrc} WHERE "time" >= make_timestamp(${hourStartUs}::BIGINT) AND "time" < make_timestamp(${hourStartUs + HOUR_US}::BIGINT)`;
    droppedSql = `${redelivered} UNION SELECT k.profile_id, k.b FROM ${KEYS} k SEMI JOIN (${have}) c ON k.profile_id = c.profile_id`;
  }
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${DROPPED} AS SELECT DISTINCT profile_id, b FROM (${droppedSql})`);
  const droppedKeys = (await conn.runAndReadAll(`SELECT profile_id, b FROM ${DROPPED} ORDER BY ALL`)).getRows().map(([p, b]) => [String(p), String(b)] as const);
  const dropped = droppedKeys.length;
  const kept = dropped === 0 ? KEYS : `(SELECT * FROM ${KEYS} k ANTI JOIN ${DROPPED} d ON k.profile_id = d.profile_id AND k.b = d.b)`;
  // Every pair, with the rows that count (0 when all its rows are dropped): each row lands in one unit.
  const sizes = (
    await conn.runAndReadAll(
      `SELECT a.s, a.i, COALESCE(c.n, 0)::BIGINT FROM (SELECT DISTINCT s, i FROM ${KEYS}) a LEFT JOIN (SELECT s, i, sum(n) AS n FROM ${kept} GROUP BY ALL) c USING (s, i) ORDER BY a.s, a.i`,
    )
  ).getRows() as [string, string, bigint][];
  const units = packUnits(
    sizes.map(([s, i, n]) => ({ s, i, n: Number(n) })),
    unitRows,
  );
  return { units, rows: units.reduce((a, u) => a + u.rows, 0), dropped, droppedKeys };
}

/**
 * Units in (service, instance) order: a service's instances fill a unit until it would exceed
 * `unitRows`; small services share units, a large one spans several. Deterministic for the same
 * inputs, so a re-run names the same files.
 */
export function packUnits(pairs: readonly { s: string; i: string; n: number }[], unitRows: number): HourUnit[] {
  const units: { pairs: [string, string][]; rows: number; counts: number[] }[] = [];
  let cur: { pairs: [string, string][]; rows: number; counts: number[] } | undefined;
  for (const p of pairs) {
    if (!cur || (cur.rows > 0 && cur.rows + p.n > unitRows)) units.push((cur = { pairs: [], rows: 0, counts: [] }));
    cur.pairs.push([p.s, p.i]);
    cur.counts.push(p.n);
    cur.rows += p.n;
  }
  return units.filter((u) => u.rows > 0);
}

/** VARCHAR order as DuckDB compares (UTF-8 bytes), which packUnits' input follows (`ORDER BY s, i`). */
export function compareUtf8(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * A closed day's live files -> units for the day consolidation: the same (service, instance)
 * packing, no dedupe (live rows always count). Bounds each day file's sort like an hour's.
 */
export async function planDay(conn: DuckDBConnection, live: readonly string[], unitRows = UNIT_ROWS): Promise<HourPlan> {
  const sizes = (
    await conn.runAndReadAll(
      `SELECT COALESCE(service, '') AS s, COALESCE(instance, '') AS i, count(*)::BIGINT FROM ${liveSource(live)} GROUP BY ALL ORDER BY s, i`,
    )
  ).getRows() as [string, string, bigint][];
  const units = packUnits(
    sizes.map(([s, i, n]) => ({ s, i, n: Number(n) })),
    unitRows,
  );
  return { units, rows: units.reduce((a, u) => a + u.rows, 0), dropped: 0, droppedKeys: [] };
}

/**
 * The source a unit reads: an hour's fresh files (planHour), a day's live files (planDay), or the
 * unit's own split files (writeSplit: its rows that count, nothing to filter).
 */
export type UnitSource = { readonly tier: 'fresh' | 'live' | 'split'; readonly files: readonly string[] };

function liveSource(files: readonly string[]): string {
  return `read_parquet([${files.map((f) => `'${sqlString(f)}'`).join(', ')}], union_by_name = true, hive_partitioning = false)`;
}

/**
 * Writes ONE unit of a plan made anywhere (another process, another machine): unit i's rows that
 * count to `outPath`, sorted by service then the table's sort key (so per-service reads prune on row-group statistics). The unit's rows are picked from the whole
 * source by its (service, instance) pairs (no split pass: every unit of an hour runs in its own
 * compaction worker, lib/store/compact-jobs.ts, so a split would be one more serial pass before
 * them; the per-unit filter costs a read of the source, measured ~20% of a unit's sort). The
 * plan's dropped keys are loaded into this connection first. Returns the rows written.
 */
export async function writeUnit(
  conn: DuckDBConnection,
  table: TableDef,
  source: UnitSource,
  plan: HourPlan,
  i: number,
  outPath: string,
  o: { zstdLevel: number; rowGroupRows: number; order: UnitOrder },
): Promise<number> {
  const { listValue, LIST, VARCHAR, INTEGER } = await import('@duckdb/node-api');
  const src = source.tier === 'fresh' ? tierSource(table, 'fresh', source.files) : liveSource(source.files);
  const missing = (await missingColumns(conn, table, src)).map((c) => `, CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join('');
  const cols = table.columns.map((c) => `"${c.name}"`).join(', ');
  const lead = o.order === 'pairs' ? ['service', 'instance'] : ['service'];
  const order = [...lead, ...table.sortBy.filter((c) => !lead.includes(c))].map((c) => `"${c}"`).join(', ');
  try {
    let dropped = '';
    if (source.tier === 'split') {
      // writeSplit applied the dropped keys and the unit's pairs: every row counts.
    } else if (plan.droppedKeys.length > 0) {
      await conn.run(
        `CREATE OR REPLACE TEMP TABLE ${DROPPED} AS SELECT unnest($1::VARCHAR[]) AS profile_id, unnest($2::VARCHAR[]) AS b`,
        [listValue(plan.droppedKeys.map((k) => k[0])), listValue(plan.droppedKeys.map((k) => k[1]))],
        [LIST(VARCHAR), LIST(VARCHAR)],
      );
      dropped = ` ANTI JOIN ${DROPPED} d ON f.profile_id = d.profile_id AND COALESCE(f.${BATCH_COLUMN}, '') = d.b`;
    }
    // A day unit's inputs are pair-major hour files (UnitOrder): bounds on service (and on instance
    // when the unit is one service's) let the reader skip the row groups of other pairs. The join
    // below stays the exact filter; the bounds only prune.
    const bounds = source.tier === 'live' && plan.units.length > 1 ? pairBounds(plan.units[i].pairs) : '';
    let rows = `(SELECT *${missing} FROM ${src}${bounds}) f${dropped}`;
    // One unit holds every pair with rows that count: no filter.
    if (plan.units.length > 1 && source.tier !== 'split') {
      const pairs = plan.units[i].pairs;
      await conn.run(
        `CREATE OR REPLACE TEMP TABLE ${UNIT} AS SELECT unnest($1::VARCHAR[]) AS s, unnest($2::VARCHAR[]) AS i, unnest($3::INTEGER[]) AS u`,
        [listValue(pairs.map((p) => p[0])), listValue(pairs.map((p) => p[1])), listValue(pairs.map(() => i))],
        [LIST(VARCHAR), LIST(VARCHAR), LIST(INTEGER)],
      );
      // An inner join (a unit's pairs are distinct, so no row is repeated): a SEMI JOIN here failed on
      // the 100-instance stacks hour with DuckDB's "Cannot resize vector" error.
      rows = `(SELECT f.* FROM ${rows} JOIN ${UNIT} m ON COALESCE(f.service, '') = m.s AND COALESCE(f.instance, '') = m.i) f`;
    }
    const r = await conn.runAndReadAll(
      `COPY (SELECT ${cols} FROM ${rows} ORDER BY ${order}) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL ${o.zstdLevel}, ROW_GROUP_SIZE ${o.rowGroupRows})`,
    );
    const n = Number(r.getRows()[0]?.[0] ?? 0);
    if (n !== plan.units[i].rows) throw new Error(`${table.name}: compaction unit ${i} wrote ${n} rows, its plan counted ${plan.units[i].rows}`);
    return n;
  } finally {
    await endHour(conn);
  }
}

/**
 * How a unit's rows are sorted. 'table': service, then the table's sort key (stack-major for
 * stacks: what compresses best, and what day files, the stored form, use). 'pairs': service,
 * instance, then the sort key: hour files, which a day close reads by ranges of (service,
 * instance) pairs; each row group then holds a few instances, so a day unit reads ~its share of
 * each hour file instead of all of it (docs/performance.md "Day close in key-range units").
 */
export type UnitOrder = 'table' | 'pairs';

/**
 * ` WHERE ...` bounds implied by a unit's pairs (NULLs are '' in pairs; a unit holding the ''
 * service gets no bound, the join alone filters it), in DuckDB's VARCHAR order.
 */
export function pairBounds(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0 || pairs.some((p) => p[0] === '')) return '';
  const min = (xs: string[]) => xs.reduce((a, b) => (compareUtf8(a, b) <= 0 ? a : b));
  const max = (xs: string[]) => xs.reduce((a, b) => (compareUtf8(a, b) >= 0 ? a : b));
  const services = pairs.map((p) => p[0]);
  const lo = min(services);
  const hi = max(services);
  let w = ` WHERE service >= '${sqlString(lo)}' AND service <= '${sqlString(hi)}'`;
  const instances = pairs.map((p) => p[1]);
  if (lo === hi && !instances.includes('')) w += ` AND instance >= '${sqlString(min(instances))}' AND instance <= '${sqlString(max(instances))}'`;
  return w;
}

/**
 * The split (one pass over a group of an hour's fresh files, lib/store/compact-jobs.ts): the
 * group's rows that count, each tagged with its unit, written to one file per unit that has rows
 * in the group (`<outDir>/__unit=<i>/*.parquet`, DuckDB PARTITION_BY; zstd 1 and small row groups:
 * the files live until the hour is published, and each partition's writer buffers one group).
 * Each unit then reads only its split files instead of filtering every fresh file of the hour
 * (a fresh file holds an SQS batch of random instances, so no file can be skipped): the hour's
 * rows are read twice in all instead of once per unit. Returns the local files per unit index.
 */
export async function writeSplit(conn: DuckDBConnection, table: TableDef, fresh: readonly string[], plan: HourPlan, outDir: string): Promise<Map<number, string[]>> {
  const { listValue, LIST, VARCHAR, INTEGER } = await import('@duckdb/node-api');
  const src = tierSource(table, 'fresh', fresh);
  const missing = (await missingColumns(conn, table, src)).map((c) => `, CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join('');
  const cols = table.columns.map((c) => `f."${c.name}"`).join(', ');
  try {
    let dropped = '';
    if (plan.droppedKeys.length > 0) {
      await conn.run(
        `CREATE OR REPLACE TEMP TABLE ${DROPPED} AS SELECT unnest($1::VARCHAR[]) AS profile_id, unnest($2::VARCHAR[]) AS b`,
        [listValue(plan.droppedKeys.map((k) => k[0])), listValue(plan.droppedKeys.map((k) => k[1]))],
        [LIST(VARCHAR), LIST(VARCHAR)],
      );
      dropped = ` ANTI JOIN ${DROPPED} d ON f.profile_id = d.profile_id AND COALESCE(f.${BATCH_COLUMN}, '') = d.b`;
    }
    const pairs = plan.units.flatMap((u, i) => u.pairs.map((p) => [p[0], p[1], i] as const));
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE ${UNIT} AS SELECT unnest($1::VARCHAR[]) AS s, unnest($2::VARCHAR[]) AS i, unnest($3::INTEGER[]) AS u`,
      [listValue(pairs.map((p) => p[0])), listValue(pairs.map((p) => p[1])), listValue(pairs.map((p) => p[2]))],
      [LIST(VARCHAR), LIST(VARCHAR), LIST(INTEGER)],
    );
    // An inner join (the pairs are distinct; a SEMI JOIN hit DuckDB's "Cannot resize vector", see writeUnit).
    await conn.run(
      `COPY (SELECT ${cols}, m.u AS __unit FROM (SELECT *${missing} FROM ${src}) f${dropped} JOIN ${UNIT} m ON COALESCE(f.service, '') = m.s AND COALESCE(f.instance, '') = m.i) TO '${sqlString(outDir)}' (FORMAT parquet, PARTITION_BY (__unit), COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE ${SPLIT_ROW_GROUP_ROWS})`,
    );
    const out = new Map<number, string[]>();
    for (const d of await fs.readdir(outDir).catch(() => [] as string[])) {
      const m = /^__unit=(\d+)$/.exec(d);
      if (!m) continue;
      const files = (await fs.readdir(path.join(outDir, d))).filter((f) => f.endsWith('.parquet')).sort();
      out.set(Number(m[1]), files.map((f) => path.join(outDir, d, f)));
    }
    return out;
  } finally {
    await endHour(conn);
  }
}

/** Row groups of split files: small, so each unit's partition writer buffers little. */
const SPLIT_ROW_GROUP_ROWS = 16_384;

/** Drops the plan's temp tables. */
export async function endHour(conn: DuckDBConnection): Promise<void> {
  for (const t of [KEYS, DROPPED, UNIT]) await conn.run(`DROP TABLE IF EXISTS ${t}`);
}
