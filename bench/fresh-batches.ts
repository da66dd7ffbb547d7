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
          `COPY (SELECT * EXCLUDE (__m) REPLACE (${batchExpr} AS ${BATCH_COLUMN}), __m AS __mm FROM (SELECT *, ${minute} AS __m FROM ${gsrc}) ORDER BY __m, ${order})
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

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const input = arg(argv, '--in');
  const out = arg(argv, '--out');
  if (!input || !out) throw new Error('usage: node dist/bench/fresh-batches.js --in GENERATED --out DIR [--bundles 10]');
  const only = arg(argv, '--tables')?.split(',');
  const r = await splitIntoBatches(path.resolve(input), path.resolve(out), Number(arg(argv, '--bundles') ?? 10), only);
  process.stdout.write(JSON.stringify(r) + '\n');
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`fresh-batches: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
