// `node dist/bench/day-unit.js --from DIR --dt YYYY-MM-DD --work DIR [--hours 24] [--tables stacks,functions] [--units first,middle] [--copy shift|bytes] [--memory-mb MB] [--json]`:
// what ONE unit of a day close costs on a day of `--hours` hours (issue #11 point 4: a day of
// 1,000 instances is ~380 stacks units), measured without compacting the whole day.
//
// Input: a data directory whose dt holds the hour files of a few real hours (bench/compact.ts
// --keep DIR after its hour runs; hour files the day close retired are still on disk until their
// grace) and their key counts (lib/store/compact-jobs.ts keysKey). The day is made in WORK from
// them: hour k is a copy of real hour (k mod n) with `time` shifted by whole hours and
// `profile_id`'s time digits with it, as the fleet simulator shifts hours (`--copy bytes`: the real
// hour's file copied as it is, rows repeating every n hours: fast, same reads, row groups and
// sort work, but bytes not representative); hour files keep their
// pair ranges, row groups and sort order. Its key counts and manifest are written for all hours;
// the Parquet copies only for the files the measured units read (the planner reads key counts
// only; a unit reads only its inputs). Then planDayJob plans the day as the stack does, and each
// measured unit runs runUnit in its own process with the compaction Lambda's settings at its
// memory (COMPACT_FUNCTION.memoryMb or --memory-mb: DuckDB's limit and threads, and the unit
// rows the day is packed in, lib/aws/compact-job.ts compactLambdaOptions; CPU-s of the process,
// wall, peak RSS), as a worker would. Also printed: rows of the unit's
// input files, rows of the row groups its bounds can select (Parquet statistics), rows written,
// and bytes per CPU sample of the day unit against the hour files it replaces.
// Prints numbers; asserts nothing (docs/performance.md judges).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COMPACT_FUNCTION } from '../lib/aws/resources';
import { compactLambdaOptions } from '../lib/aws/compact-job';
import type { TableName } from '../lib/model/schema';
import { STORED_ROW_GROUP_ROWS } from '../lib/store/compact';
import { pairBounds } from '../lib/store/compact-hour';
import { jobKey, keysKey, planDayJob, putJob, readJob, runUnit } from '../lib/store/compact-jobs';
import { LocalStore } from '../lib/store/local';
import { writeManifest, type DayManifest, type LiveFile } from '../lib/store/manifest';
import { openDuckDb, ParquetWriter, sqlString } from '../lib/store/parquet';
import { createHash } from 'node:crypto';

const HWM_HOOK = path.join(__dirname, 'hwm-hook.js');
const HOUR_MS = 3_600_000;
/** The function memory the units run as (and the day is packed for). */
const MEMORY_MB = Number(arg('--memory-mb') ?? COMPACT_FUNCTION.memoryMb);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

type PairCount = [string, string, number];

interface HourFile {
  hour: number;
  name: string;
  tag: string;
  suffix: string;
  counts: PairCount[];
}

/** The real hour files of a table's dt and their key counts. */
function realHours(from: string, table: string, dt: string): HourFile[] {
  const dir = path.join(from, table, `dt=${dt}`);
  const out: HourFile[] = [];
  for (const name of readdirSync(dir).sort()) {
    const m = /^h(\d{2})-([0-9a-f]+)(-u\d+of\d+)?\.parquet$/.exec(name);
    if (!m) continue;
    const keys = path.join(from, '_compaction-keys', table, `dt=${dt}`, `h${m[1]}-${m[2]}.json`);
    if (!existsSync(keys)) throw new Error(`${keys}: no key counts for ${name} (compacted by an earlier build?)`);
    const counts = (JSON.parse(readFileSync(keys, 'utf8')) as { files: Record<string, PairCount[]> }).files[name];
    out.push({ hour: Number(m[1]), name, tag: m[2], suffix: m[3] ?? '', counts });
  }
  if (out.length === 0) throw new Error(`${dir}: no hour files`);
  return out;
}

const tagOf = (tag: string, hour: number) => createHash('sha256').update(`${tag}@${hour}`).digest('hex').slice(0, 24);

async function child(): Promise<void> {
  const store = new LocalStore(arg('--work')!);
  const db = await openDuckDb(compactLambdaOptions().settings);
  const writer = await ParquetWriter.create(db);
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  try {
    const r = await runUnit(store, writer, arg('--job')!, Number(arg('--unit')), (j) => ({ zstdLevel: 9, rowGroupRows: j.table === 'stacks' ? STORED_ROW_GROUP_ROWS : 1 << 20 }));
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(JSON.stringify({ ms: Date.now() - t0, unitMs: r.ms, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n');
  } finally {
    writer.close();
    db.closeSync();
  }
}

async function main(): Promise<void> {
  if (arg('--step') === 'unit') return child();
  const from = arg('--from')!;
  const dt = arg('--dt')!;
  const work = arg('--work')!;
  const hours = Number(arg('--hours') ?? 24);
  const tables = (arg('--tables') ?? 'stacks,functions').split(',') as TableName[];
  const which = (arg('--units') ?? 'first,middle').split(',');
  // 'shift' (times and ids shifted per hour, re-encoded: slow for stacks) or 'bytes' (file copies).
  const copyMode = arg('--copy') ?? 'shift';
  if (existsSync(work)) throw new Error(`${work} exists`);
  const store = new LocalStore(work);
  const db = await openDuckDb({ memoryLimit: '1500MB', tempDirectory: path.join(work, '.tmp', 'spill') });
  const writer = await ParquetWriter.create(db);
  const conn = await db.connect();
  const results: Record<string, unknown>[] = [];
  const load0 = os.loadavg()[0];
  try {
    for (const table of tables) {
      const real = realHours(from, table, dt);
      const srcHours = [...new Set(real.map((f) => f.hour))].sort((a, b) => a - b);
      // The synthetic day: every hour's files and key counts (Parquet copies made on demand below).
      const live: LiveFile[] = [];
      const origin = new Map<string, { src: HourFile; shiftH: number }>();
      const byJob = new Map<string, Record<string, PairCount[]>>();
      for (let k = 0; k < hours; k++) {
        const srcHour = srcHours[k % srcHours.length];
        for (const f of real.filter((x) => x.hour === srcHour)) {
          const tag = tagOf(f.tag, k);
          const name = `h${String(k).padStart(2, '0')}-${tag}${f.suffix}.parquet`;
          live.push({ name, hours: [k], rows: f.counts.reduce((a, c) => a + c[2], 0) });
          origin.set(name, { src: f, shiftH: k - srcHour });
          const job = keysKey({ table, dt, span: k, tag });
          byJob.set(job, { ...(byJob.get(job) ?? {}), [name]: f.counts });
        }
      }
      for (const [key, files] of byJob) {
        mkdirSync(path.dirname(path.join(work, key)), { recursive: true });
        writeFileSync(path.join(work, key), JSON.stringify({ version: 1, files }));
      }
      const m: DayManifest = { version: 2, live, merged: [], retired: [] };
      if (!(await writeManifest(store, table, dt, m, null))) throw new Error('manifest');
      const job = (await planDayJob(store, writer, table, dt, m, { unitRows: compactLambdaOptions({ ...process.env, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(MEMORY_MB) }).unitRows, rollupSource: false, now: Date.now() }))!;
      await putJob(store, job);
      const picks = which.map((w) => (w === 'first' ? 0 : w === 'middle' ? Math.floor(job.units.length / 2) : Number(w)));
      for (const u of picks) {
        const inputs = job.unitInputs ? job.unitInputs[u].map((i) => job.inputs[i]) : job.inputs;
        // The unit's inputs as Parquet: real hour files shifted (not measured).
        const tc = Date.now();
        for (const name of inputs) {
          const dst = path.join(work, table, `dt=${dt}`, name);
          if (existsSync(dst)) continue;
          const { src, shiftH } = origin.get(name)!;
          if (copyMode === 'bytes') {
            // The real hour's bytes: the same rows (times and ids repeat every n hours). The unit's
            // reads, row groups and sort are those of a real day; its output compresses better
            // than a real day's would (repeated rows), so bytes are not measured in this mode.
            copyFileSync(path.join(from, table, `dt=${dt}`, src.name), dst);
            continue;
          }
          const shiftMs = shiftH * HOUR_MS;
          const rg = table === 'stacks' ? STORED_ROW_GROUP_ROWS : 1 << 20;
          await conn.run(
            `COPY (SELECT * REPLACE ("time" + INTERVAL (${shiftH}) HOUR AS "time", lpad(lower(to_hex(epoch_ms("time") + ${shiftMs})), 12, '0') || substr(profile_id, 13) AS profile_id) FROM read_parquet('${sqlString(path.join(from, table, `dt=${dt}`, src.name))}')) TO '${sqlString(dst)}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 9, ROW_GROUP_SIZE ${rg})`,
          );
        }
        const copySeconds = (Date.now() - tc) / 1000;
        const files = inputs.map((n) => `'${sqlString(path.join(work, table, `dt=${dt}`, n))}'`).join(', ');
        // Rows of the input files, and of the row groups whose statistics the unit's bounds do not exclude.
        const bounds = pairBounds(job.units[u].pairs);
        const inRows = Number((await conn.runAndReadAll(`SELECT sum(num_rows)::BIGINT FROM parquet_file_metadata([${files}])`)).getRows()[0][0]);
        const lo = /service >= '([^']*)'/.exec(bounds)?.[1];
        const hi = /service <= '([^']*)'/.exec(bounds)?.[1];
        const ilo = /instance >= '([^']*)'/.exec(bounds)?.[1];
        const ihi = /instance <= '([^']*)'/.exec(bounds)?.[1];
        const groups = (await conn.runAndReadAll(
          `SELECT file_name, row_group_id, any_value(row_group_num_rows), max(CASE WHEN path_in_schema = 'service' THEN stats_min_value END), max(CASE WHEN path_in_schema = 'service' THEN stats_max_value END), max(CASE WHEN path_in_schema = 'instance' THEN stats_min_value END), max(CASE WHEN path_in_schema = 'instance' THEN stats_max_value END) FROM parquet_metadata([${files}]) GROUP BY 1, 2`,
        )).getRows() as [string, bigint, bigint, string, string, string, string][];
        let selectable = 0;
        for (const [, , n, smin, smax, imin, imax] of groups) {
          if (lo !== undefined && (smax < lo || smin > hi!)) continue;
          if (ilo !== undefined && (smin === smax ? imax < ilo || imin > ihi! : false)) continue;
          selectable += Number(n);
        }
        const key = jobKey(job);
        const out = path.join(work, table, `dt=${dt}`, job.names[u]);
        rmSync(out, { force: true });
        const hwm = path.join(work, `.hwm-${table}-${u}`);
        const r = spawnSync(process.execPath, ['--require', HWM_HOOK, __filename, '--step', 'unit', '--work', work, '--job', key, '--unit', String(u)], {
          env: { ...process.env, FLEETPROF_HWM_FILE: hwm, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(MEMORY_MB) },
          encoding: 'utf8',
        });
        if (r.status !== 0) throw new Error(`unit ${u} failed: ${r.stderr}`);
        const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms: number; unitMs: number; cpuMs: number };
        const peakMb = Number(readFileSync(hwm, 'utf8')) / 1024;
        const outBytes = statSync(out).size;
        const pairs = job.units[u].pairs.length;
        // CPU samples: of the unit's rows (stacks), else those of its instance-hours at the source's rate.
        const samplesOf = async (fileList: string) =>
          Number((await conn.runAndReadAll(`SELECT COALESCE(sum(value), 0)::BIGINT FROM read_parquet([${fileList}]) WHERE kind = 'cpu' AND sample_type = 'samples'`)).getRows()[0][0]);
        const realStacks = readdirSync(path.join(from, 'stacks', `dt=${dt}`)).filter((n) => /^h\d{2}-/.test(n)).map((n) => `'${sqlString(path.join(from, 'stacks', `dt=${dt}`, n))}'`).join(', ');
        const realSamples = await samplesOf(realStacks);
        const realInstanceHours = realHours(from, 'stacks', dt).reduce((a, f) => a + f.counts.length, 0);
        const perInstanceHour = realSamples / realInstanceHours;
        const unitSamples = table === 'stacks' ? await samplesOf(`'${sqlString(out)}'`) : perInstanceHour * pairs * hours;
        // The hour form of the same table: bytes of the real hour files per CPU sample of their instance-hours.
        const realFiles = real.map((f) => path.join(from, table, `dt=${dt}`, f.name));
        const hourBytes = realFiles.reduce((a, f) => a + statSync(f).size, 0);
        const hourSamples = perInstanceHour * real.reduce((a, f) => a + f.counts.length, 0);
        results.push({
          table,
          unit: u,
          units: job.units.length,
          pairs,
          rows: job.units[u].rows,
          inputFiles: inputs.length,
          inputRows: inRows,
          selectableRows: selectable,
          readAmplification: selectable / job.units[u].rows,
          cpuSeconds: res.cpuMs / 1000,
          seconds: res.ms / 1000,
          peakMb,
          outBytes,
          bytesPerCpuSample: outBytes / unitSamples,
          hourFormBytesPerCpuSample: hourBytes / hourSamples,
          copySeconds,
          copyMode,
          bytesPerCpuSampleMeasured: copyMode === 'shift',
        });
        process.stderr.write(JSON.stringify(results[results.length - 1]) + '\n');
      }
      // The job object is not finalized: the day's files stay as made.
      if (!(await readJob(store, jobKey(job)))) throw new Error('job vanished');
    }
  } finally {
    conn.closeSync();
    writer.close();
    db.closeSync();
  }
  const out = { memoryMb: MEMORY_MB, dt, hours, loadavg: [load0, os.loadavg()[0]], units: results };
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(out, null, 1) + '\n');
  else {
    console.log(`# bench day-unit — ${new Date().toISOString()} — load ${load0.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}; one day of ${hours} h from the real hours of ${from}`);
    for (const r of results) console.log(JSON.stringify(r));
  }
}

main().catch((e) => {
  process.stderr.write(`bench:day-unit: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
