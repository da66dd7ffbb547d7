import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { duckdbType, TABLES, type RollupTableName, type TableDef, type TableName } from '../model/schema';
import { valueClassSql } from '../model/temporality';
import { missingColumns, sqlString } from './parquet';
import { gcDayRowsSql, gcHourRowsSql } from './rollup-gc';
import { floorHourUs, increaseTermsSql, profileSharesSql, termAppliesSql } from './rollup-terms';
import { attributionFrameSql } from '../model/attribution';

// The rollup builder: a range of whole UTC hours of raw rows (profiles, functions, stacks) ->
// profiles_1h, functions_1h and stacks_1h files; a day's hour rollups -> functions_1d and
// stacks_1d. Sums only, in DuckDB, with the per-snapshot increase rule of rollup-terms.ts, so
// rollups of any set of whole hours add up to what the window rule gives for them.
//
// Inputs are local Parquet files (the caller, the compactor, knows which files hold an hour): the
// hours' raw files, plus the hour BEFORE the range for the profiles table (a cumulative
// snapshot's increase subtracts its predecessor, looked for back to the start of the previous
// hour; profiles, functions and stacks rows of that hour are read only for those predecessors).
// Output: one file per rollup table and partition (today dt and service), sorted by the table's
// sort key, written into `outDir`; the caller publishes them beside the compacted hour.

const HOUR_US = 3_600_000_000;
const DAY_US = 24 * HOUR_US;
/** Hour files are merged per day by the compactor (at zstd 19): written fast, not small. */
const HOUR_ZSTD = 3;

export interface RawTableFiles {
  profiles: readonly string[];
  functions: readonly string[];
  stacks: readonly string[];
  /** gc_cycles files of the hours and the TWO hours before them (rollup-gc.ts); none: no gc_1h rows. */
  gc_cycles?: readonly string[];
}

export interface RollupFile {
  table: RollupTableName;
  /** Partition values (the table's partitionKeys: dt, service). */
  partition: Record<string, string>;
  path: string;
  rows: number;
}

export interface HourRange {
  /** Whole UTC hours [fromUs, toUs), epoch microseconds. */
  fromUs: number;
  toUs: number;
}

function checkHours(r: HourRange): void {
  if (r.fromUs % HOUR_US !== 0 || r.toUs % HOUR_US !== 0 || r.toUs <= r.fromUs) {
    throw new Error(`rollups are built for whole UTC hours: [${r.fromUs}, ${r.toUs}) us is not`);
  }
}

/** A view named after a table over local files (typed NULL columns for ones no file has yet; empty when no files). */
export async function createFileView(conn: DuckDBConnection, name: string, def: TableDef, files: readonly string[]): Promise<void> {
  const all = [...def.partitionKeys, ...def.columns];
  if (files.length === 0) {
    await conn.run(`CREATE OR REPLACE TEMP VIEW ${name} AS SELECT ${all.map((c) => `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join(', ')} WHERE false`);
    return;
  }
  // Layout v2: compacted (dt=D/) and fresh (dt=D/hour=HH/) files together, so no Hive keys: dt from the path.
  const source = `read_parquet([${files.map((f) => `'${sqlString(f)}'`).join(', ')}], hive_partitioning = false, filename = true, union_by_name = true)`;
  const missing = new Set((await missingColumns(conn, def, source)).map((c) => c.name));
  const cols = def.columns.map((c) => (missing.has(c.name) ? `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"` : `"${c.name}"`));
  const keys = def.partitionKeys.map((k) => `regexp_extract(filename, '.*/${k.name}=([^/]+)/', 1) AS "${k.name}"`);
  await conn.run(`CREATE OR REPLACE TEMP VIEW ${name} AS SELECT ${[...cols, ...keys].join(', ')} FROM ${source}`);
}

const cls = (alias: string) => valueClassSql(`${alias}.kind`, `${alias}.sample_type`);
const instanceKey = (alias: string) => `CASE WHEN ${cls(alias)} = 'gauge' THEN ${alias}.instance ELSE '' END`;

/** SQL of functions_1h / stacks_1h rows (plus service) from the views and the temp table `rollup_terms`. */
function dataRollupSql(table: 'functions' | 'stacks'): string {
  const keys =
    table === 'functions'
      ? ['function']
      : ['stack_id', 'frames', 'lines', 'files', 'start_lines', 'inlined', 'sample_labels', 'num_labels'];
  const values = table === 'functions' ? ['flat', 'cum'] : ['value'];
  return `SELECT date_trunc('hour', sp.time) AS hour, d.service, d.version, ${instanceKey('d')} AS instance, d.kind, d.sample_type, d.unit,
      ${cls('d')} AS value_class, ${keys.map((k) => `d.${k}`).join(', ')},
      ${values.map((v) => `SUM(d.${v}::HUGEINT * t.w)::BIGINT AS ${v}`).join(', ')}
    FROM ${table} d JOIN rollup_terms t ON d.profile_id = t.profile_id JOIN rollup_snap sp ON sp.profile_id = t.snapshot_id
    WHERE d.time >= (SELECT MIN(scan_from) FROM rollup_bounds) AND ${termAppliesSql('t', 'd.kind', 'd.sample_type')}
    GROUP BY ALL
    HAVING ${values.map((v) => `SUM(d.${v}::HUGEINT * t.w) <> 0`).join(' OR ')}`;
}

/**
 * SQL of attributed_1h rows (plus service): the stacks' weighted values per instance and
 * attributed frame (lib/model/attribution.ts). Stacks are grouped first (a few thousand per
 * instance and hour) so the attribution runs once per stack, not once per row.
 */
const ATTRIBUTED_1H_SQL = `SELECT hour, service, version, instance, kind, sample_type, unit, value_class,
    ${attributionFrameSql('frames')} AS function, SUM(value)::BIGINT AS value
  FROM (
    SELECT date_trunc('hour', sp.time) AS hour, d.service, d.version, d.instance, d.kind, d.sample_type, d.unit,
           ${cls('d')} AS value_class, d.frames, SUM(d.value::HUGEINT * t.w) AS value
    FROM stacks d JOIN rollup_terms t ON d.profile_id = t.profile_id JOIN rollup_snap sp ON sp.profile_id = t.snapshot_id
    WHERE d.time >= (SELECT MIN(scan_from) FROM rollup_bounds) AND ${termAppliesSql('t', 'd.kind', 'd.sample_type')}
    GROUP BY ALL
  )
  GROUP BY ALL
  HAVING SUM(value) <> 0`;

const PROFILES_1H_SQL = `WITH st AS (
    SELECT t.snapshot_id, x.st.type AS type, MIN(x.st.unit) AS unit, SUM(x.st.total::HUGEINT * t.w) AS total
    FROM rollup_terms t JOIN (SELECT profile_id, kind, UNNEST(sample_types) AS st FROM profiles WHERE time >= (SELECT MIN(scan_from) FROM rollup_bounds)) x
      ON x.profile_id = t.profile_id
    WHERE ${termAppliesSql('t', 'x.kind', 'x.st.type')}
    GROUP BY ALL
  ),
  series AS (
    SELECT date_trunc('hour', time) AS hour, service, instance, version, COALESCE(process, '') AS process,
           COALESCE(temporality, CASE WHEN kind = 'cpu' THEN 'delta' ELSE 'cumulative' END) AS temporality, kind, profile_id, time, duration_ns
    FROM rollup_snap
  ),
  types AS (
    SELECT hour, service, instance, version, process, temporality, kind,
           list(struct_pack(type := st.type, unit := st.unit, total := st.total::BIGINT) ORDER BY st.type) AS sample_types
    FROM (SELECT s.hour, s.service, s.instance, s.version, s.process, s.temporality, s.kind, st.type, MIN(st.unit) AS unit, SUM(st.total) AS total
          FROM series s JOIN st ON st.snapshot_id = s.profile_id GROUP BY ALL) st
    GROUP BY ALL
  )
  SELECT s.hour, s.service, s.instance, s.version, s.process, s.temporality, s.kind, COUNT(*)::BIGINT AS snapshots,
         MIN(s.time) AS first_time, MAX(s.time) AS last_time, SUM(s.duration_ns)::BIGINT AS duration_ns,
         COALESCE(ANY_VALUE(ty.sample_types), []) AS sample_types
  FROM series s LEFT JOIN types ty USING (hour, service, instance, version, process, temporality, kind)
  GROUP BY s.hour, s.service, s.instance, s.version, s.process, s.temporality, s.kind`;

/** SQL of function_shares_1h rows (plus service) of the range: the per-profile fixed-point shares of rollup-terms.ts, summed. */
function sharesRollupSql(range: HourRange): string {
  const inRange = (a: string) => `${a}.time >= make_timestamp(${range.fromUs}::BIGINT) AND ${a}.time < make_timestamp(${range.toUs}::BIGINT)`;
  return `SELECT date_trunc('hour', time) AS hour, service, version, kind, sample_type, function,
      SUM(share)::BIGINT AS share_sum, SUM(share::HUGEINT * share)::BIGINT AS share_sq_sum
    FROM (${profileSharesSql(inRange('p'), inRange('f'))}) WHERE share <> 0 GROUP BY ALL`;
}

/**
 * Writes the temp table `name` (rows of a rollup table plus its partition columns) as one file
 * per partition, sorted by the table's sort key. A table with no rows writes no file.
 */
async function writePartitioned(conn: DuckDBConnection, name: string, table: RollupTableName, outDir: string, zstdLevel: number): Promise<RollupFile[]> {
  const def = TABLES[table];
  const parts = (await conn.runAndReadAll(`SELECT DISTINCT ${def.partitionKeys.map((k) => `"${k.name}"`).join(', ')}, COUNT(*) OVER (PARTITION BY ${def.partitionKeys.map((k) => `"${k.name}"`).join(', ')}) AS n FROM ${name}`)).getRowObjectsJS();
  const out: RollupFile[] = [];
  const cols = def.columns.map((c) => `"${c.name}"::${duckdbType(c.type)} AS "${c.name}"`).join(', ');
  const order = def.sortBy.map((c) => `"${c}"`).join(', ');
  for (const [i, p] of parts.entries()) {
    const partition = Object.fromEntries(def.partitionKeys.map((k) => [k.name, String(p[k.name])]));
    const where = def.partitionKeys.map((k) => `"${k.name}" = '${sqlString(partition[k.name])}'`).join(' AND ');
    const file = path.join(outDir, `${table}-${i}.parquet`);
    await conn.run(`COPY (SELECT ${cols} FROM ${name} WHERE ${where} ORDER BY ${order}) TO '${sqlString(file)}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL ${zstdLevel}, ROW_GROUP_SIZE 122880)`);
    out.push({ table, partition, path: file, rows: Number(p.n) });
  }
  return out;
}

/** The hour rollup tables buildHourRollups writes, and the raw tables each reads (every one but gc_1h needs the increase terms: profiles). */
export const HOUR_ROLLUP_INPUTS = {
  profiles_1h: ['profiles'],
  functions_1h: ['profiles', 'functions'],
  stacks_1h: ['profiles', 'stacks'],
  function_shares_1h: ['profiles', 'functions'],
  attributed_1h: ['profiles', 'stacks'],
  gc_1h: ['gc_cycles'],
} as const satisfies Partial<Record<RollupTableName, readonly (keyof RawTableFiles)[]>>;
export type HourRollupTable = keyof typeof HOUR_ROLLUP_INPUTS;

/**
 * profiles_1h, functions_1h, stacks_1h, function_shares_1h, attributed_1h and gc_1h of the whole
 * hours [fromUs, toUs), from raw files that hold those hours and the hour before (see the header),
 * or only the tables in `only` (the compaction fans an hour's tables out to parallel workers:
 * each builds one from the raw tables HOUR_ROLLUP_INPUTS names, and the others' files need not be
 * passed). Rows outside the range are ignored, so passing a day file for an hour is fine (only slower).
 */
export async function buildHourRollups(conn: DuckDBConnection, raw: RawTableFiles, range: HourRange, outDir: string, only?: readonly HourRollupTable[]): Promise<RollupFile[]> {
  checkHours(range);
  await fs.mkdir(outDir, { recursive: true });
  const want = (t: HourRollupTable) => !only || only.includes(t);
  const needsTerms = (Object.keys(HOUR_ROLLUP_INPUTS) as HourRollupTable[]).some((t) => t !== 'gc_1h' && want(t));
  for (const t of ['profiles', 'functions', 'stacks'] as const) await createFileView(conn, t, TABLES[t], raw[t]);
  const ts = (us: number) => `make_timestamp(${us}::BIGINT)`;
  if (needsTerms) {
    await conn.run(`CREATE OR REPLACE TEMP TABLE rollup_bounds AS SELECT ${ts(floorHourUs(range.fromUs) - HOUR_US)} AS scan_from`);
    await conn.run(`CREATE OR REPLACE TEMP TABLE rollup_terms AS ${increaseTermsSql({ fromUs: range.fromUs, toUs: range.toUs })}`);
    await conn.run(`CREATE OR REPLACE TEMP TABLE rollup_snap AS SELECT * FROM profiles WHERE time >= ${ts(range.fromUs)} AND time < ${ts(range.toUs)}`);
  }
  const withDt = (sql: string) => `SELECT *, strftime(hour, '%Y-%m-%d') AS dt FROM (${sql})`;
  const out: RollupFile[] = [];
  const build = async (table: HourRollupTable, sql: string) => {
    if (!want(table)) return;
    await conn.run(`CREATE OR REPLACE TEMP TABLE rollup_out AS ${withDt(sql)}`);
    out.push(...(await writePartitioned(conn, 'rollup_out', table, outDir, HOUR_ZSTD)));
  };
  try {
    await build('profiles_1h', PROFILES_1H_SQL);
    await build('functions_1h', dataRollupSql('functions'));
    await build('stacks_1h', dataRollupSql('stacks'));
    await build('function_shares_1h', sharesRollupSql(range));
    await build('attributed_1h', ATTRIBUTED_1H_SQL);
    if (want('gc_1h') && (raw.gc_cycles ?? []).length > 0) {
      await createFileView(conn, 'gc_cycles', TABLES.gc_cycles, raw.gc_cycles ?? []);
      await build('gc_1h', gcHourRowsSql(range.fromUs, range.toUs));
    }
  } finally {
    for (const t of ['rollup_out', 'rollup_terms', 'rollup_snap', 'rollup_bounds']) await conn.run(`DROP TABLE IF EXISTS ${t}`);
    for (const t of ['profiles', 'functions', 'stacks', 'gc_cycles']) await conn.run(`DROP VIEW IF EXISTS ${t}`);
  }
  return out;
}

/**
 * The day forms (functions_1d, stacks_1d, function_shares_1d, gc_1d, totals_1d) of the UTC day
 * starting at dayUs, from that day's hour rollup files: the sums of its hour rows (exact: every
 * rollup value is a plain sum).
 */
export async function buildDayRollups(
  conn: DuckDBConnection,
  hourFiles: { functions_1h: readonly string[]; stacks_1h: readonly string[]; function_shares_1h?: readonly string[]; attributed_1h?: readonly string[]; gc_1h?: readonly string[]; profiles_1h?: readonly string[] },
  dayUs: number,
  outDir: string,
): Promise<RollupFile[]> {
  if (dayUs % DAY_US !== 0) throw new Error(`day rollups start at 00:00 UTC: ${dayUs} us does not`);
  await fs.mkdir(outDir, { recursive: true });
  const out: RollupFile[] = [];
  const pairs: [TableName & ('functions_1h' | 'stacks_1h' | 'function_shares_1h' | 'attributed_1h'), 'functions_1d' | 'stacks_1d' | 'function_shares_1d' | 'attributed_1d', string[]][] = [
    ['function_shares_1h', 'function_shares_1d', ['share_sum', 'share_sq_sum']],
    ['attributed_1h', 'attributed_1d', ['value']],
    ['functions_1h', 'functions_1d', ['flat', 'cum']],
    ['stacks_1h', 'stacks_1d', ['value']],
  ];
  const ts = (us: number) => `make_timestamp(${us}::BIGINT)`;
  try {
    for (const [from, to, values] of pairs) {
      await createFileView(conn, from, TABLES[from], hourFiles[from] ?? []);
      const keys = TABLES[to].columns.map((c) => c.name).filter((c) => c !== 'day' && !values.includes(c));
      const others = TABLES[to].partitionKeys.map((k) => k.name).filter((k) => k !== 'dt');
      await conn.run(`CREATE OR REPLACE TEMP TABLE rollup_out AS
        SELECT ${ts(dayUs)} AS day, strftime(${ts(dayUs)}, '%Y-%m-%d') AS dt, ${[...others, ...keys].map((k) => `"${k}"`).join(', ')},
               ${values.map((v) => `SUM("${v}"::HUGEINT)::BIGINT AS "${v}"`).join(', ')}
        FROM ${from} WHERE hour >= ${ts(dayUs)} AND hour < ${ts(dayUs + DAY_US)}
        GROUP BY ALL HAVING ${values.map((v) => `SUM("${v}"::HUGEINT) <> 0`).join(' OR ')}`);
      out.push(...(await writePartitioned(conn, 'rollup_out', to, outDir, 19)));
    }
    if ((hourFiles.profiles_1h ?? []).length > 0) {
      // totals_1d: every sample type's totals of the day's profiles_1h rows, summed over instances,
      // processes and hours (zero totals kept: they still carry the unit).
      await createFileView(conn, 'profiles_1h', TABLES.profiles_1h, hourFiles.profiles_1h ?? []);
      await conn.run(`CREATE OR REPLACE TEMP TABLE rollup_out AS
        SELECT ${ts(dayUs)} AS day, strftime(${ts(dayUs)}, '%Y-%m-%d') AS dt, service, version, kind, x.st.type AS sample_type, MIN(x.st.unit) AS unit,
               ${valueClassSql('kind', 'x.st.type')} AS value_class, SUM(x.st.total::HUGEINT)::BIGINT AS total
        FROM (SELECT service, version, kind, UNNEST(sample_types) AS st FROM profiles_1h WHERE hour >= ${ts(dayUs)} AND hour < ${ts(dayUs + DAY_US)}) x
        GROUP BY ALL`);
      out.push(...(await writePartitioned(conn, 'rollup_out', 'totals_1d', outDir, 19)));
    }
    if ((hourFiles.gc_1h ?? []).length > 0) {
      await createFileView(conn, 'gc_1h', TABLES.gc_1h, hourFiles.gc_1h ?? []);
      await conn.run(`CREATE OR REPLACE TEMP TABLE rollup_out AS SELECT *, strftime(day, '%Y-%m-%d') AS dt FROM (${gcDayRowsSql(dayUs)})`);
      out.push(...(await writePartitioned(conn, 'rollup_out', 'gc_1d', outDir, 19)));
    }
  } finally {
    await conn.run('DROP TABLE IF EXISTS rollup_out');
    for (const [from] of pairs) await conn.run(`DROP VIEW IF EXISTS ${from}`);
    await conn.run('DROP VIEW IF EXISTS gc_1h');
    await conn.run('DROP VIEW IF EXISTS profiles_1h');
  }
  return out;
}
