// The fleet simulator's copy step (bench/fleet.ts runs it as a child process to measure its time
// and peak memory): I instances x (D x 24) hours from a one-hour source of N instances.
//
// Copies are made from the source's Parquet, never by re-ingesting, in two passes:
// 1. the base hour, once: the source's live rows of each table x I/N copies k with
//      instance   -> `<instance>~<k>`
//      profile_id -> copyId(profile_id, ~k@0): a distinct, deterministic source identity, the same
//                    in every table, as ingest gives each uploaded object;
//    every other column (version, process, labels, kinds, stacks, values, source) byte for byte.
//    The SQL form is `SELECT ... FROM src CROSS JOIN range(I/N)` (baseColumns); DuckDB ran it at
//    ~46,000 rows/s here (~50 min for a 1,000-instance hour), so where the source file's instance
//    and profile_id chunks are dictionary-encoded, copy k is the source file's bytes with those two
//    dictionaries swapped and the copies are joined row group by row group (bench/fleet-parquet.ts;
//    copies 0 and I/N-1 checked row by row against the SQL form); the small tables use the SQL;
// 2. every hour (the base hour is the last one, shift 0): the base hour with only
//      time       -> time + whole hours (the target hour's offset from the source hour)
//      profile_id -> copyId(base profile_id, @shift): its time digits shifted (distinct per hour,
//                    the same in every table)
//      _batch     -> a new batch id per file
//    changed, by swapping those columns' dictionary pages in a copy of the base file's bytes
//    (bench/fleet-parquet.ts: no row is decoded or encoded; the first copy of each table is
//    checked row by row against the same shift in SQL), or by a DuckDB COPY of the base where a
//    column is not dictionary-encoded (the small profiles and gc_cycles tables). Re-encoding every
//    hour in DuckDB ran at ~200-250k rows/s on this machine (the list columns of `stacks` are
//    most of it); the copy runs at disk speed. DuckDB runs with a memory limit
//    (FLEET_GENERATE_MEMORY, default 1500MB, spilling to DIR/.tmp): the old one-pass copy peaked
//    at 7.9 GB unlimited.
//
// What it writes is what ingest writes: the fresh tier, one file per table per batch, where a
// batch is one target hour of all copies (one file per table and hour: service is a column).
// Ingest would write the same rows in more, smaller batch files; the compactor and the rollup
// builder that run next only see rows, so the compacted tier and the rollups they produce are
// what the stack would hold after the same hours of uploads (fewer fresh files is the only
// difference: the compaction step's GET count is the cloud's divided by the batches per hour,
// which docs/performance.md accounts for separately from the measured batch size).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import { duckdbType, TABLE_NAMES, TABLES, type TableName } from '../lib/model/schema';
import { listTableFiles } from '../lib/query/open';
import { freshKey, newBatchId } from '../lib/store/layout';
import { BATCH_COLUMN } from '../lib/store/dedupe';
import { LocalStore } from '../lib/store/local';
import { missingColumns, openDuckDb, sqlString } from '../lib/store/parquet';
import { concatParquet, copyIdSql, loadDictionaries, shiftDictionaries, shiftFile, verifyShift, type BaseDictionaries, type ShiftRole } from './fleet-parquet';

export const HOUR_US = 3_600_000_000;

export interface GenerateOptions {
  source: string;
  out: string;
  instances: number;
  hours: number;
}

export interface SourceInfo {
  /** Start of the source hour, epoch microseconds. */
  hourUs: number;
  instances: string[];
  services: string[];
  rows: Record<TableName, number>;
}

/** Loads the source's live rows into in-memory tables src_<table>; checks it is one UTC hour. */
export async function loadSource(conn: DuckDBConnection, source: string): Promise<SourceInfo> {
  const files = await listTableFiles(new LocalStore(source), {});
  const rows = {} as Record<TableName, number>;
  let minUs = Infinity;
  let maxUs = -Infinity;
  const instances = new Set<string>();
  const services = new Set<string>();
  for (const t of TABLE_NAMES) {
    // Layout v2: compacted and fresh files (the source is one clean `fleetprof ingest`, so no
    // source is in it twice and the batch dedupe of the views has nothing to drop).
    const all = [...files[t].compacted, ...files[t].fresh];
    if (all.length === 0) {
      rows[t] = 0;
      continue;
    }
    const list = all.map((f) => `'${sqlString(f)}'`).join(', ');
    const source = `read_parquet([${list}], hive_partitioning = false, union_by_name = true)`;
    // A SRC ingested by an older fleetprof lacks columns added since (runtime_metrics.process):
    // typed NULLs, as the query views give them (lib/query/engine.ts).
    const missing = new Set((await missingColumns(conn, TABLES[t], source)).map((c) => c.name));
    const select = TABLES[t].columns.map((c) => (missing.has(c.name) ? `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"` : `"${c.name}"`));
    await conn.run(`CREATE OR REPLACE TABLE src_${t} AS SELECT ${select.join(', ')} FROM ${source}`);
    const r = (await conn.runAndReadAll(`SELECT count(*), epoch_us(min(time)), epoch_us(max(time)) FROM src_${t}`)).getRows()[0];
    rows[t] = Number(r[0]);
    if (rows[t] > 0) {
      minUs = Math.min(minUs, Number(r[1]));
      maxUs = Math.max(maxUs, Number(r[2]));
    }
    for (const [i, s] of (await conn.runAndReadAll(`SELECT DISTINCT instance, service FROM src_${t}`)).getRows()) {
      instances.add(String(i));
      services.add(String(s));
    }
  }
  if (!Number.isFinite(minUs)) throw new Error(`${source}: no rows (ingest one hour of profiles into it first)`);
  const hourUs = Math.floor(minUs / HOUR_US) * HOUR_US;
  if (maxUs >= hourUs + HOUR_US) {
    throw new Error(
      `${source}: rows span ${new Date(minUs / 1000).toISOString()} .. ${new Date(maxUs / 1000).toISOString()}, not one UTC hour [H, H+1h)`,
    );
  }
  return { hourUs, instances: [...instances].sort(), services: [...services].sort(), rows };
}

/** The base hour's SELECT list: instance and profile_id per copy k, everything else as is. */
export function baseColumns(t: TableName): string {
  return TABLES[t].columns
    .map((c) => {
      switch (c.name) {
        case 'instance':
          return `instance || '~' || k::VARCHAR AS instance`;
        case 'profile_id':
          return `${copyIdSql('profile_id', `'~' || k::VARCHAR || '@0'`, 0)} AS profile_id`;
        default:
          return `"${c.name}"`;
      }
    })
    .join(', ');
}

/** Another hour from the base hour (the SQL path): time shifted, profile_id re-derived per hour. */
export function shiftedColumn(name: 'time' | 'profile_id', shiftHours: number): string {
  return name === 'time' ? `time + INTERVAL (${shiftHours}) HOUR AS time` : `${copyIdSql('profile_id', `'@${shiftHours}'`, shiftHours)} AS profile_id`;
}

/** What changes between hours (bench/fleet-parquet.ts); the base hour's batch id is a placeholder. */
const ROLES: Record<string, ShiftRole> = { time: 'time', profile_id: 'hash', [BATCH_COLUMN]: 'batch' };
const BASE_BATCH = newBatchId(0);

/** What changes between instance copies of the base hour (the SQL form: baseColumns). */
const COPY_ROLES: Record<string, ShiftRole> = { instance: 'copy', profile_id: 'copy-hash' };

/**
 * The base hour of table t (all `copies` instance copies, shift 0) by bytes: the source's rows
 * written once by DuckDB (instance and profile_id as the source has them), then per copy k that
 * file's bytes with the instance (v~k) and profile_id (copyId) dictionaries swapped
 * (bench/fleet-parquet.ts), the copies joined into one file. Copies 0 and the last are checked row
 * by row against the SQL form (baseColumns); the joined file's row and instance counts are
 * checked too. Null when a chunk of those columns is not dictionary-encoded (the caller uses SQL).
 * The dictionaries returned are the joined file's, for the hour shifts (no scan of the big file).
 */
async function copyBase(
  conn: DuckDBConnection,
  t: TableName,
  file: string,
  copies: number,
  scratch: string,
): Promise<{ rows: number; bytes: Buffer; dicts: BaseDictionaries } | null> {
  const srcFile = path.join(scratch, `src-${t}.parquet`);
  const cols = TABLES[t].columns.map((c) => `"${c.name}"`).join(', ');
  const n = Number((await conn.run(`COPY (SELECT ${cols}, '${BASE_BATCH}' AS ${BATCH_COLUMN} FROM src_${t}) TO '${sqlString(srcFile)}' (${PARQUET_OPTS})`)).rowsChanged);
  try {
    const all = await loadDictionaries(conn, srcFile, { ...ROLES, ...COPY_ROLES });
    const swap: BaseDictionaries = {
      roles: COPY_ROLES,
      rowGroups: all.rowGroups.map((rg) => ({ instance: rg.instance, profile_id: rg.profile_id })),
    };
    const srcBytes = await fs.readFile(srcFile);
    const parts: Buffer[] = [];
    const rowGroups: BaseDictionaries['rowGroups'] = [];
    for (let k = 0; k < copies; k++) {
      const spec = { shiftHours: 0, batchId: BASE_BATCH, copy: k };
      const b = shiftFile(srcBytes, swap, spec);
      if (!b) return null;
      if (k === 0 || k === copies - 1) {
        const tmp = path.join(scratch, `${randomUUID()}.parquet`);
        await fs.writeFile(tmp, b);
        await verifyShift(conn, srcFile, tmp, COPY_ROLES, spec);
        await fs.rm(tmp, { force: true });
      }
      parts.push(b);
      const pid = shiftDictionaries({ roles: { profile_id: 'copy-hash' }, rowGroups: all.rowGroups.map((rg) => ({ profile_id: rg.profile_id })) }, spec);
      all.rowGroups.forEach((rg, i) => rowGroups.push({ time: rg.time, profile_id: pid[i].profile_id, [BATCH_COLUMN]: rg[BATCH_COLUMN] }));
    }
    const bytes = concatParquet(parts);
    await fs.writeFile(file, bytes);
    const c = (await conn.runAndReadAll(`SELECT count(*), count(DISTINCT instance) FROM read_parquet('${sqlString(file)}')`)).getRows()[0];
    const srcInstances = Number((await conn.runAndReadAll(`SELECT count(DISTINCT instance) FROM src_${t}`)).getRows()[0][0]);
    if (Number(c[0]) !== n * copies || Number(c[1]) !== srcInstances * copies) {
      throw new Error(`${file}: ${c[0]} rows of ${c[1]} instances, expected ${n * copies} of ${srcInstances * copies}`);
    }
    return { rows: n * copies, bytes, dicts: { roles: ROLES, rowGroups } };
  } finally {
    await fs.rm(srcFile, { force: true });
  }
}

/** The step's DuckDB: bounded memory (the old row-by-row copy peaked at 7.9 GB), spilling to DIR. */
const GENERATE_MEMORY = process.env.FLEET_GENERATE_MEMORY ?? '1500MB';

const PARQUET_OPTS = `FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880`;

export async function generate(
  o: GenerateOptions,
): Promise<{ source: SourceInfo; files: number; rows: number; bytes: number; baseSeconds: number; shiftSeconds: number; rowsPerSecond: number; rowsByCopy: number; rowsBySql: number }> {
  const store = new LocalStore(o.out);
  await fs.mkdir(store.scratchDir, { recursive: true });
  const spill = path.join(store.scratchDir, 'duckdb-spill');
  const db = await openDuckDb({ memoryLimit: GENERATE_MEMORY, tempDirectory: spill });
  const conn = await db.connect();
  // Row order inside a fresh file carries no meaning (the compactor sorts); letting DuckDB write
  // in any order measured ~20% faster.
  await conn.run(`SET preserve_insertion_order = false`);
  try {
    const t0 = process.hrtime.bigint();
    const src = await loadSource(conn, o.source);
    const n = src.instances.length;
    if (o.instances % n !== 0) throw new Error(`--instances ${o.instances} is not a multiple of the source's ${n} instances`);
    const copies = o.instances / n;
    let files = 0;
    let rows = 0;
    let bytes = 0;
    const put = async (t: TableName, shift: number, tmp: string, written: number): Promise<void> => {
      const hourUs = src.hourUs + shift * HOUR_US;
      const dt = new Date(hourUs / 1000).toISOString().slice(0, 10);
      const hh = Number(new Date(hourUs / 1000).toISOString().slice(11, 13));
      bytes += (await fs.stat(tmp)).size;
      await store.putFile(freshKey(t, dt, hh, newBatchId()), tmp);
      files++;
      rows += written;
    };
    // 1. The base hour (the source's own hour, shift 0): all I/N copies of every table, kept in
    //    scratch. Each batch file is one table's hour of all copies (layout v2: service is a column).
    //    Where the source's instance and profile_id chunks are dictionary-encoded (the big tables),
    //    copy k is the source hour's file with those dictionaries swapped and the I/N copies are
    //    joined row group by row group (copyBase); otherwise (the small profiles and gc_cycles
    //    tables) DuckDB writes the CROSS JOIN with the per-row rename and hash.
    const base = {} as Record<TableName, { file: string; rows: number; dicts: BaseDictionaries; bytes: Buffer; verified: boolean }>;
    let byCopy = 0;
    let bySql = 0;
    let baseByCopy = 0;
    for (const t of TABLE_NAMES) {
      if (src.rows[t] === 0) continue;
      const file = path.join(store.scratchDir, `base-${t}.parquet`);
      const copied = await copyBase(conn, t, file, copies, store.scratchDir);
      if (copied) {
        base[t] = { file, rows: copied.rows, dicts: copied.dicts, bytes: copied.bytes, verified: false };
        baseByCopy += copied.rows;
        continue;
      }
      const r = await conn.run(
        `COPY (SELECT ${baseColumns(t)}, '${BASE_BATCH}' AS ${BATCH_COLUMN} FROM src_${t} CROSS JOIN range(${copies}) r(k)) TO '${sqlString(file)}' (${PARQUET_OPTS})`,
      );
      base[t] = { file, rows: Number(r.rowsChanged), dicts: await loadDictionaries(conn, file, ROLES), bytes: await fs.readFile(file), verified: false };
    }
    process.stderr.write(`base hour: ${baseByCopy} rows by copying the source's file per instance copy\n`);
    const t1 = process.hrtime.bigint();
    // 2. Every hour (oldest first, as uploads arrive; the last is the source's, shift 0): the base
    //    hour's bytes with the dictionaries of time, profile_id and _batch swapped
    //    (bench/fleet-parquet.ts), or, where a column chunk is not dictionary-encoded (the small
    //    profiles and gc_cycles tables), the base read back by DuckDB with those columns rewritten.
    for (let h = 0; h < o.hours; h++) {
      const shift = h - (o.hours - 1);
      for (const t of TABLE_NAMES) {
        const b = base[t];
        if (!b) continue;
        const spec = { shiftHours: shift, batchId: newBatchId() };
        const tmp = path.join(store.scratchDir, `${randomUUID()}.parquet`);
        const copied = shiftFile(b.bytes, b.dicts, spec);
        if (copied) {
          await fs.writeFile(tmp, copied);
          if (!b.verified) {
            await verifyShift(conn, b.file, tmp, ROLES, spec);
            b.verified = true;
          }
          byCopy += b.rows;
        } else {
          const cols = TABLES[t].columns.map((c) => (c.name === 'time' || c.name === 'profile_id' ? shiftedColumn(c.name, shift) : `"${c.name}"`)).join(', ');
          await conn.run(`COPY (SELECT ${cols}, '${spec.batchId}' AS ${BATCH_COLUMN} FROM read_parquet('${sqlString(b.file)}')) TO '${sqlString(tmp)}' (${PARQUET_OPTS})`);
          bySql += b.rows;
        }
        await put(t, shift, tmp, b.rows);
      }
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      process.stderr.write(`\rgenerated hour ${h + 1}/${o.hours} (${rows} rows, ${files} files, ${Math.round(rows / s)} rows/s)`);
    }
    process.stderr.write('\n');
    for (const t of TABLE_NAMES) if (base[t]) await fs.rm(base[t].file, { force: true });
    process.stderr.write(`rows by file copy ${byCopy}, by DuckDB ${bySql}\n`);
    await fs.rm(spill, { recursive: true, force: true });
    const t2 = process.hrtime.bigint();
    const total = Number(t2 - t0) / 1e9;
    return {
      source: src,
      files,
      rows,
      bytes,
      baseSeconds: Number(t1 - t0) / 1e9,
      shiftSeconds: Number(t2 - t1) / 1e9,
      rowsPerSecond: rows / total,
      rowsByCopy: byCopy,
      rowsBySql: bySql,
    };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
