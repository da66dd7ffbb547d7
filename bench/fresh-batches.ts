// A fresh hour laid out as production ingest writes it (issue #11 point 5, "the current hour is
// always fresh"): one Parquet file per table per SQS batch of BATCH_BUNDLES agent bundles, where a
// bundle is one instance's minute (its six profiles, six metrics snapshots; docs/upload-contract.md).
// At 1,000 instances that is 60 x 100 = 6,000 files per table for the hour.
//
// The simulator (bench/fleet-generate.ts) writes one file per table per hour; the rows are what
// ingest would write, only their file count differs. This splits those rows, unchanged except for
// `_batch`, into the production layout:
//   batch of a row = (minute of its source, group of BATCH_BUNDLES instances)
// where the minute is that of the source's first row (a profile's rows share its capture time; a
// gctrace log's or metrics batch's rows stay together, as they came in one upload), and instances
// are numbered `<source instance>~<k>` -> k x N + (index of the source instance). Each batch file
// gets a deterministic batch id (time-ordered like newBatchId: the end of its minute) in its path
// and its `_batch` column, the same id in every table, as ingest gives one batch's files.
//
//   node dist/bench/fresh-batches.js --in GENERATED --out DIR [--bundles 10] [--tables profiles,functions]
//   node dist/bench/fresh-batches.js --source SRC --instances I --out DIR [--minutes M] [--tables stacks]
//
// The second form skips the generated hour: it writes the same batch files straight from the
// simulator's source (instance copies and the hour's profile ids by the generator's own SQL,
// fleet-generate.ts baseColumns then shiftedColumn at shift 0, as it writes the source's hour), and only the batches of the hour's first M minutes (default 60): splitting a
// 1,000-instance hour's 64M `stacks` rows from GEN runs for hours on this machine, while a
// minute's merge needs only that minute's files.
//
// Two DuckDB passes per table so no partitioned write buffers more than ~2M rows: rows -> one file
// per instance group (PARTITION_BY, flushed every 16,384 rows), then each group file -> one file per
// minute. Each batch file is sorted by the table's sort key, as ingest writes it.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RAW_TABLE_NAMES, TABLES } from '../lib/model/schema';
import { BATCH_COLUMN } from '../lib/store/dedupe';
import { freshKey } from '../lib/store/layout';
import { openDuckDb, sqlString } from '../lib/store/parquet';
import { baseColumns, loadSource, shiftedColumn } from './fleet-generate';

const MINUTE_US = 60_000_000;

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.name.endsWith('.parquet')) out.push(p);
  }
  return out;
}

/** The batch id of (minute, group): 'b' + the minute's end in base-36 ms (9 digits) + 12 hex digits of the group. */
export function batchIdOf(hourUs: number, minute: number, group: number): string {
  const ms = Math.floor(hourUs / 1000) + (minute + 1) * 60_000;
  return `b${ms.toString(36).padStart(9, '0')}${group.toString(16).padStart(12, '0')}`;
}

export async function splitIntoBatches(input: string, out: string, bundles: number, only?: readonly string[]): Promise<{ tables: Record<string, { files: number; rows: number }>; seconds: number }> {
  const t0 = Date.now();
  const tmp = path.join(out, '.split-tmp');
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  const db = await openDuckDb({ memoryLimit: '2GB', tempDirectory: path.join(tmp, 'spill'), threads: 2 });
  const conn = await db.connect();
  await conn.run(`SET partitioned_write_flush_threshold = 16384`);
  await conn.run(`SET partitioned_write_max_open_files = 1000`);
  const tables: Record<string, { files: number; rows: number }> = {};
  try {
    for (const t of RAW_TABLE_NAMES.filter((x) => !only || only.includes(x))) {
      const files = await walk(path.join(input, 'fresh', t));
      if (files.length === 0) continue;
      const m = /dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\//.exec(files[0]);
      if (!m || files.some((f) => !f.includes(`dt=${m[1]}/hour=${m[2]}/`))) throw new Error(`${t}: the input must be one fresh hour`);
      const [dt, hour] = [m[1], Number(m[2])];
      const hourUs = Date.parse(`${dt}T${m[2]}:00:00Z`) * 1000;
      const src = `read_parquet([${files.map((f) => `'${sqlString(f)}'`).join(', ')}], hive_partitioning = false)`;
      const names = (await conn.runAndReadAll(`SELECT DISTINCT split_part(instance, '~', 1) AS s FROM ${src} ORDER BY s`)).getRows().map((r) => String(r[0]));
      const list = `[${names.map((n) => `'${sqlString(n)}'`).join(', ')}]`;
      const idx = `(CAST(split_part(instance, '~', 2) AS INTEGER) * ${names.length} + list_position(${list}, split_part(instance, '~', 1)) - 1)`;
      // Pass 1: one file per instance group.
      const g1 = path.join(tmp, `${t}-groups`);
      await conn.run(`COPY (SELECT *, ${idx} // ${bundles} AS __g FROM ${src}) TO '${sqlString(g1)}' (FORMAT parquet, PARTITION_BY (__g), COMPRESSION zstd)`);
      const groups = (await fs.readdir(g1)).filter((d) => d.startsWith('__g='));
      const order = TABLES[t].sortBy.map((c) => `"${c}"`).join(', ');
      let n = 0;
      let rows = 0;
      for (const gd of groups) {
        const group = Number(gd.slice(4));
        const gsrc = `read_parquet('${sqlString(path.join(g1, gd))}/*.parquet', hive_partitioning = false)`;
        // Pass 2: the group's rows by the minute of their source's first row.
        const minute = `LEAST(59, GREATEST(0, (MIN(epoch_us("time")) OVER (PARTITION BY profile_id) - ${hourUs}) // ${MINUTE_US}))`;
        const batchExpr = `'b' || lpad(lower(to_base((${Math.floor(hourUs / 1000)} + (__m + 1) * 60000)::BIGINT, 36)), 9, '0') || '${group.toString(16).padStart(12, '0')}'`;
        const g2 = path.join(tmp, `${t}-${group}`);
        await conn.run(
          `COPY (SELECT * EXCLUDE (__m), ${batchExpr} AS ${BATCH_COLUMN}, __m AS __mm FROM (SELECT *, ${minute} AS __m FROM ${gsrc}) ORDER BY __m, ${order})
           TO '${sqlString(g2)}' (FORMAT parquet, PARTITION_BY (__mm), COMPRESSION zstd)`,
        );
        for (const md of await fs.readdir(g2)) {
          const minuteN = Number(md.slice(5));
          const parts = await walk(path.join(g2, md));
          if (parts.length !== 1) throw new Error(`${t} group ${group} minute ${minuteN}: ${parts.length} files`);
          const key = freshKey(t, dt, hour, batchIdOf(hourUs, minuteN, group));
          const dest = path.join(out, key);
          await fs.mkdir(path.dirname(dest), { recursive: true });
          await fs.rename(parts[0], dest);
          n++;
        }
        rows += Number((await conn.runAndReadAll(`SELECT count(*) FROM ${gsrc}`)).getRows()[0][0]);
        await fs.rm(g2, { recursive: true, force: true });
      }
      await fs.rm(g1, { recursive: true, force: true });
      tables[t] = { files: n, rows };
      process.stderr.write(`${t}: ${rows} rows -> ${n} batch files (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    }
  } finally {
    conn.closeSync();
    db.closeSync();
    await fs.rm(tmp, { recursive: true, force: true });
  }
  return { tables, seconds: (Date.now() - t0) / 1000 };
}

/** The batch files of (group of `bundles` instances, minute < `minutes`) written from SRC directly: what splitIntoBatches makes of the generated hour. */
export async function batchesFromSource(source: string, out: string, instances: number, bundles: number, minutes: number, only?: readonly string[]): Promise<{ tables: Record<string, { files: number; rows: number }>; seconds: number }> {
  const t0 = Date.now();
  const tmp = path.join(out, '.split-tmp');
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  const db = await openDuckDb({ memoryLimit: '2GB', tempDirectory: path.join(tmp, 'spill'), threads: 2 });
  const conn = await db.connect();
  const tables: Record<string, { files: number; rows: number }> = {};
  try {
    const src = await loadSource(conn, source);
    const names = src.instances;
    if (instances % names.length !== 0) throw new Error(`--instances ${instances} is not a multiple of the source's ${names.length}`);
    const hourUs = src.hourUs;
    const dt = new Date(hourUs / 1000).toISOString().slice(0, 10);
    const hour = new Date(hourUs / 1000).getUTCHours();
    for (const t of RAW_TABLE_NAMES.filter((x) => !only || only.includes(x))) {
      if (src.rows[t] === 0) continue;
      // The minute of each source profile (its first row's), as splitIntoBatches takes it per copy.
      // Except gc_cycles: the source ingests an instance's hour of gctrace as ONE log, which would put
      // the hour's GC rows in minute 0; the agent uploads each minute's lines in that minute's bundle,
      // so here a row goes to its own minute, and each minute's rows get their own profile id.
      const perRow = t === 'gc_cycles';
      const minuteOf = (agg: string) => `LEAST(59, GREATEST(0, (${agg}(epoch_us("time")) - ${hourUs}) // ${MINUTE_US}))`;
      if (perRow) await conn.run(`CREATE OR REPLACE TABLE src_${t} AS SELECT * REPLACE (md5(profile_id || '#' || ${minuteOf('')}::VARCHAR) AS profile_id) FROM src_${t}`);
      await conn.run(`CREATE OR REPLACE TABLE m_${t} AS SELECT profile_id AS __pid, ${minuteOf('min')} AS __m FROM src_${t} GROUP BY ALL`);
      const order = TABLES[t].sortBy.map((c) => `"${c}"`).join(', ');
      let n = 0;
      let rows = 0;
      for (let group = 0; group * bundles < instances; group++) {
        // The group's instance copies: index k x N + (source instance's index) -> (k, source instance).
        const pairs: string[] = [];
        for (let idx = group * bundles; idx < Math.min(instances, (group + 1) * bundles); idx++) pairs.push(`(${Math.floor(idx / names.length)}, '${sqlString(names[idx % names.length])}')`);
        const batchExpr = `'b' || lpad(lower(to_base((${Math.floor(hourUs / 1000)} + (__m + 1) * 60000)::BIGINT, 36)), 9, '0') || '${group.toString(16).padStart(12, '0')}'`;
        const g2 = path.join(tmp, `${t}-${group}`);
        const r = await conn.runAndReadAll(
          `COPY (SELECT * EXCLUDE (__m), ${batchExpr} AS ${BATCH_COLUMN}, __m AS __mm FROM (
                   SELECT * REPLACE (${shiftedColumn('time', 0)}, ${shiftedColumn('profile_id', 0)}) FROM (SELECT ${baseColumns(t)}, m.__m FROM src_${t} s JOIN (VALUES ${pairs.join(', ')}) p(k, __src) ON s.instance = p.__src JOIN m_${t} m ON m.__pid = s.profile_id
                   WHERE m.__m < ${minutes})) ORDER BY __m, ${order})
           TO '${sqlString(g2)}' (FORMAT parquet, PARTITION_BY (__mm), COMPRESSION zstd)`,
        );
        rows += Number(r.getRows()[0]?.[0] ?? 0);
        for (const md of await fs.readdir(g2).catch(() => [] as string[])) {
          const minuteN = Number(md.slice(5));
          const parts = await walk(path.join(g2, md));
          if (parts.length !== 1) throw new Error(`${t} group ${group} minute ${minuteN}: ${parts.length} files`);
          const dest = path.join(out, freshKey(t, dt, hour, batchIdOf(hourUs, minuteN, group)));
          await fs.mkdir(path.dirname(dest), { recursive: true });
          await fs.rename(parts[0], dest);
          n++;
        }
        await fs.rm(g2, { recursive: true, force: true });
      }
      tables[t] = { files: n, rows };
      process.stderr.write(`${t}: ${rows} rows -> ${n} batch files from the source (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    }
  } finally {
    conn.closeSync();
    db.closeSync();
    await fs.rm(tmp, { recursive: true, force: true });
  }
  return { tables, seconds: (Date.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const input = arg(argv, '--in');
  const source = arg(argv, '--source');
  const out = arg(argv, '--out');
  const only = arg(argv, '--tables')?.split(',');
  if (source && out) {
    const r = await batchesFromSource(path.resolve(source), path.resolve(out), Number(arg(argv, '--instances')), Number(arg(argv, '--bundles') ?? 10), Number(arg(argv, '--minutes') ?? 60), only);
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (!input || !out) throw new Error('usage: node dist/bench/fresh-batches.js --in GENERATED --out DIR [--bundles 10] | --source SRC --instances I --out DIR [--minutes M] [--tables t,...]');
  const r = await splitIntoBatches(path.resolve(input), path.resolve(out), Number(arg(argv, '--bundles') ?? 10), only);
  process.stdout.write(JSON.stringify(r) + '\n');
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`fresh-batches: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
