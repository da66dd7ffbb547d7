// The fleet simulator's copy step (bench/fleet.ts runs it as a child process to measure its time
// and peak memory): I instances x (D x 24) hours from a one-hour source of N instances.
//
// Copies are made in DuckDB SQL over the source's Parquet, never by re-ingesting: the source's
// live rows of each table are loaded once, then for every target hour one COPY per table writes
// `SELECT ... FROM src CROSS JOIN range(I/N)` with
//   instance   -> `<instance>~<k>`
//   time       -> time + whole hours (the target hour's offset from the source hour)
//   profile_id -> md5(profile_id ~ k @ hour offset): a distinct, deterministic source identity,
//                 the same in every table, as ingest gives each uploaded object;
// every other column (version, process, labels, kinds, stacks, values, source) byte for byte.
//
// What it writes is what ingest writes: the fresh tier, one file per table per batch, where a
// batch is one target hour of all copies (per service while the layout partitions by service).
// Ingest would write the same rows in more, smaller batch files; the compactor and the rollup
// builder that run next only see rows, so the compacted tier and the rollups they produce are
// what the stack would hold after the same hours of uploads (fewer fresh files is the only
// difference: the compaction step's GET count is the cloud's divided by the batches per hour,
// which docs/performance.md accounts for separately from the measured batch size).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import { TABLE_NAMES, TABLES, type TableName } from '../lib/model/schema';
import { listTableFiles } from '../lib/query/open';
import { freshKey, newBatchId } from '../lib/store/layout';
import { BATCH_COLUMN } from '../lib/store/dedupe';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, sqlString } from '../lib/store/parquet';

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
    const cols = TABLES[t].columns.map((c) => `"${c.name}"`);
    // Layout v2: compacted and fresh files (the source is one clean `fleetprof ingest`, so no
    // source is in it twice and the batch dedupe of the views has nothing to drop).
    const all = [...files[t].compacted, ...files[t].fresh];
    if (all.length === 0) {
      rows[t] = 0;
      continue;
    }
    const list = all.map((f) => `'${sqlString(f)}'`).join(', ');
    await conn.run(`CREATE OR REPLACE TABLE src_${t} AS SELECT ${cols.join(', ')} FROM read_parquet([${list}], hive_partitioning = false, union_by_name = true)`);
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

/** The SELECT list of a copy: instance, time and profile_id rewritten, everything else as is. */
function copyColumns(t: TableName, shiftHours: number): string {
  return TABLES[t].columns
    .map((c) => {
      switch (c.name) {
        case 'instance':
          return `instance || '~' || k::VARCHAR AS instance`;
        case 'time':
          return `time + INTERVAL (${shiftHours}) HOUR AS time`;
        case 'profile_id':
          return `md5(profile_id || '~' || k::VARCHAR || '@' || '${shiftHours}') AS profile_id`;
        default:
          return `"${c.name}"`;
      }
    })
    .join(', ');
}

export async function generate(o: GenerateOptions): Promise<{ source: SourceInfo; files: number; rows: number; bytes: number }> {
  const db = await openDuckDb();
  const conn = await db.connect();
  try {
    const src = await loadSource(conn, o.source);
    const n = src.instances.length;
    if (o.instances % n !== 0) throw new Error(`--instances ${o.instances} is not a multiple of the source's ${n} instances`);
    const copies = o.instances / n;
    const store = new LocalStore(o.out);
    await fs.mkdir(store.scratchDir, { recursive: true });
    let files = 0;
    let rows = 0;
    let bytes = 0;
    // Oldest hour first, as the uploads would have arrived; the last hour is the source's + 0.
    for (let h = 0; h < o.hours; h++) {
      const shift = h - (o.hours - 1);
      const hourUs = src.hourUs + shift * HOUR_US;
      const dt = new Date(hourUs / 1000).toISOString().slice(0, 10);
      const hh = new Date(hourUs / 1000).toISOString().slice(11, 13);
      for (const t of TABLE_NAMES) {
        if (src.rows[t] === 0) continue;
        for (const service of src.services) {
          const batchId = newBatchId();
          const tmp = path.join(store.scratchDir, `${randomUUID()}.parquet`);
          const r = await conn.run(
            `COPY (SELECT ${copyColumns(t, shift)}, '${batchId}' AS ${BATCH_COLUMN} FROM src_${t} CROSS JOIN range(${copies}) r(k) WHERE service = '${sqlString(service)}')
             TO '${sqlString(tmp)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`,
          );
          const written = Number(r.rowsChanged);
          if (written === 0) {
            await fs.rm(tmp, { force: true });
            continue;
          }
          bytes += (await fs.stat(tmp)).size;
          await store.putFile(freshKey(t, dt, Number(hh), batchId), tmp);
          files++;
          rows += written;
        }
      }
      process.stderr.write(`\rgenerated hour ${h + 1}/${o.hours} (${rows} rows, ${files} files)`);
    }
    process.stderr.write('\n');
    return { source: src, files, rows, bytes };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
