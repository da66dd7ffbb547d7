// `node dist/bench/compact.js [--source SRC] [--instances 40] [--hours 2] [--fresh GEN] [--unit-rows N] [--keep DIR] [--json]`:
// what one scheduled compaction costs per instance-hour (issue #11 points 4 and 7), measured on
// the code the stack runs (lib/aws/compact-job.ts -> lib/store/compact-due.ts) with the compaction
// Lambda's DuckDB settings (COMPACT_FUNCTION.memoryMb), and where the stored bytes go.
//
// Data: SRC (a `fleetprof ingest` directory of one UTC hour, bench/fleet-source.ts; made with 4
// instances when not given) copied by the fleet simulator's generator (bench/fleet-generate.ts)
// to I instances x H hours in the fresh tier, as ingest leaves it. The hours lie inside one UTC
// day that is not closed by the hour runs. Steps, each a child process (its wall time and peak
// RSS, DuckDB's native memory included, are its own):
//   hours: the schedule's runs at each hour's end + 7 min (hour files + their rollups);
//   day:   the run at the next day's 00:07 (the day consolidation + day rollups).
// Then: stored bytes per CPU sample over the live files of every table (raw + rollups), and the
// biggest columns (DuckDB parquet_metadata), so a storage change shows where it moved bytes.
// Prints numbers; asserts nothing (targets are judged in docs/performance.md).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCompactJob } from '../lib/aws/compact-job';
import { unitProcesses } from '../lib/aws/compact-units';
import type { UnitReport } from '../lib/store/compact';
import { COMPACT_FUNCTION } from '../lib/aws/resources';
import { lambdaDuckDbSettings } from '../lib/aws/runtime';
import { TABLE_NAMES, RAW_TABLE_NAMES } from '../lib/model/schema';
import { liveFileSet } from '../lib/store/live';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, sqlString } from '../lib/store/parquet';
import { generate, HOUR_US } from './fleet-generate';
import { makeSource } from './fleet-source';

const HWM_HOOK = path.join(__dirname, 'hwm-hook.js');
const SETTLE_US = 7 * 60_000_000; // the schedule's :07

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function child(step: string, dir: string, times: number[]): Promise<void> {
  const store = new LocalStore(dir);
  const runs = [];
  const unitRows = arg('--unit-rows') ? Number(arg('--unit-rows')) : undefined;
  const units: UnitReport[] = [];
  // CPU of the whole process (every DuckDB thread included): on this shared machine wall time is
  // mostly other engineers' load; the CPU seconds are what an unloaded Lambda would mostly bill.
  const cpu0 = process.cpuUsage();
  for (const nowUs of times) {
    // Large days' units each in a process of their own (`fleetprof compact`'s way): their CPU and peak come with their reports.
    const apart = unitProcesses({ store: { kind: 'local', root: dir }, jobs: 1, nowUs, unitRows });
    const r = await runCompactJob({ store, settings: lambdaDuckDbSettings(), unitRows, apart, onUnit: (u) => units.push(u) }, nowUs);
    // rollupMs: absent before the rollups went through the compactor's hook.
    const rollupMs = (r as { rollupMs?: number }).rollupMs ?? NaN;
    runs.push({ now: r.now, ms: r.ms, rollupMs, hours: r.hours, days: r.days, filesMerged: r.filesMerged, bytesBefore: r.bytesBefore, bytesAfter: r.bytesAfter });
  }
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ step, runs, units, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n');
}

type Run = { ms: number; rollupMs: number; hours: number; days: number };
type Unit = { table: string; hour: number; unit: number; units: number; rows: number; ms: number; peakMb?: number; cpuMs?: number };

function measure(step: string, dir: string, times: number[]): { seconds: number; cpuSeconds: number; peakMb: number; runs: Run[]; units: Unit[] } {
  const hwm = path.join(os.tmpdir(), `compact-hwm-${process.pid}-${step}`);
  const t0 = process.hrtime.bigint();
  const unitArgs = arg('--unit-rows') ? ['--unit-rows', arg('--unit-rows')!] : [];
  const r = spawnSync(process.execPath, ['--require', HWM_HOOK, __filename, '--step', step, '--dir', dir, '--times', times.join(','), ...unitArgs], {
    env: { ...process.env, FLEETPROF_HWM_FILE: hwm, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(COMPACT_FUNCTION.memoryMb) },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`step ${step} failed: ${r.stderr}`);
  const peakMb = Number(readFileSync(hwm, 'utf8')) / 1024;
  rmSync(hwm, { force: true });
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { runs: Run[]; units?: Unit[]; cpuMs: number };
  // Units run in processes of their own (peakMb set): their CPU is not in the step's.
  const apartCpuMs = (out.units ?? []).reduce((a, u) => a + (u.peakMb !== undefined ? (u.cpuMs ?? 0) : 0), 0);
  return { seconds, cpuSeconds: (out.cpuMs + apartCpuMs) / 1000, peakMb, runs: out.runs, units: out.units ?? [] };
}

/** Per table: units per hour, the split pass (unit -1) and the largest unit's rows and time, total seconds. */
function unitStats(units: Unit[]): { table: string; units: number; splitSeconds: number; maxRows: number; maxSeconds: number; seconds: number }[] {
  const by = new Map<string, Unit[]>();
  for (const u of units) by.set(u.table, [...(by.get(u.table) ?? []), u]);
  return [...by].map(([table, all]) => {
    const us = all.filter((u) => u.unit >= 0);
    return {
      table,
      units: Math.max(...us.map((u) => u.units)),
      splitSeconds: all.filter((u) => u.unit < 0).reduce((a, u) => a + u.ms, 0) / 1000,
      maxRows: Math.max(...us.map((u) => u.rows)),
      maxSeconds: Math.max(...us.map((u) => u.ms)) / 1000,
      seconds: all.reduce((a, u) => a + u.ms, 0) / 1000,
    };
  });
}

/** Per table, the day units run in processes of their own (peakMb set): how many, their CPU, rows and peaks. */
function dayUnitStats(units: Unit[]): { table: string; units: number; cpuSeconds: number; maxRows: number; minPeakMb: number; maxPeakMb: number; minCpuSeconds: number; maxCpuSeconds: number }[] {
  const by = new Map<string, Unit[]>();
  for (const u of units.filter((x) => x.peakMb !== undefined)) by.set(u.table, [...(by.get(u.table) ?? []), u]);
  return [...by].map(([table, all]) => ({
    table,
    units: all.length,
    cpuSeconds: all.reduce((a, u) => a + u.cpuMs!, 0) / 1000,
    maxRows: Math.max(...all.map((u) => u.rows)),
    minPeakMb: Math.min(...all.map((u) => u.peakMb!)),
    maxPeakMb: Math.max(...all.map((u) => u.peakMb!)),
    minCpuSeconds: Math.min(...all.map((u) => u.cpuMs!)) / 1000,
    maxCpuSeconds: Math.max(...all.map((u) => u.cpuMs!)) / 1000,
  }));
}

async function storage(dir: string): Promise<{ samples: number; bytes: Record<string, number>; columns: { table: string; column: string; bytes: number }[] }> {
  const store = new LocalStore(dir);
  const db = await openDuckDb();
  const conn = await db.connect();
  try {
    const files: Record<string, string[]> = {};
    for (const t of TABLE_NAMES) {
      const s = await liveFileSet(store, t, {});
      files[t] = [...s.compacted, ...s.fresh];
    }
    const list = (fs: string[]) => fs.map((f) => `'${sqlString(f)}'`).join(', ');
    const samples = Number(
      (await conn.runAndReadAll(`SELECT SUM(value) FROM read_parquet([${list(files.stacks)}], union_by_name = true) WHERE kind = 'cpu' AND sample_type = 'samples'`)).getRows()[0][0],
    );
    const bytes: Record<string, number> = {};
    const columns: { table: string; column: string; bytes: number }[] = [];
    for (const t of TABLE_NAMES) {
      if (files[t].length === 0) continue;
      let b = 0;
      for (const f of files[t]) b += (await import('node:fs')).statSync(f).size;
      bytes[t] = b;
      const rows = (
        await conn.runAndReadAll(
          `SELECT split_part(path_in_schema, ', ', 1) AS col, SUM(total_compressed_size)::BIGINT AS b FROM parquet_metadata([${list(files[t])}]) GROUP BY 1 ORDER BY 2 DESC`,
        )
      ).getRows();
      for (const [c, n] of rows) columns.push({ table: t, column: String(c), bytes: Number(n) });
    }
    return { samples, bytes, columns };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/**
 * `--fresh DIR`: a fresh tier generate() wrote before (the same --instances and --hours), copied
 * instead of generated again (generation is most of a large run's wall time; it is not measured).
 */
async function reuse(from: string, dir: string): Promise<{ rows: number; source: { hourUs: number } }> {
  cpSync(path.join(from, 'fresh'), path.join(dir, 'fresh'), { recursive: true });
  const files = readdirSync(path.join(dir, 'fresh'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.parquet'));
  const hourUs = Math.max(
    ...files.map((f) => {
      const m = /dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})/.exec(f)!;
      return Date.parse(`${m[1]}T${m[2]}:00:00Z`) * 1000;
    }),
  );
  const db = await openDuckDb();
  const conn = await db.connect();
  try {
    const list = files.map((f) => `'${sqlString(path.join(dir, 'fresh', f))}'`).join(', ');
    const rows = Number((await conn.runAndReadAll(`SELECT SUM(num_rows)::BIGINT FROM parquet_file_metadata([${list}])`)).getRows()[0][0]);
    return { rows, source: { hourUs } };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

async function main(): Promise<void> {
  const step = arg('--step');
  if (step) return child(step, arg('--dir')!, arg('--times')!.split(',').map(Number));
  const instances = Number(arg('--instances') ?? 40);
  const hours = Number(arg('--hours') ?? 2);
  const json = process.argv.includes('--json');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-compact-'));
  const dir = arg('--keep') ?? path.join(tmp, 'data');
  try {
    let source = arg('--source');
    if (!source) {
      source = path.join(tmp, 'src');
      makeSource({ out: source, instances: 4, hourMs: Date.parse('2026-12-01T10:00:00Z') });
    }
    if (existsSync(path.join(dir, 'fresh'))) throw new Error(`${dir} is not empty`);
    const fresh = arg('--fresh');
    const g = fresh ? await reuse(fresh, dir) : await generate({ source, out: dir, instances, hours });
    const srcHourUs = g.source.hourUs;
    const firstUs = srcHourUs - (hours - 1) * HOUR_US;
    const dayEndUs = Math.floor(srcHourUs / (24 * HOUR_US)) * 24 * HOUR_US + 24 * HOUR_US;
    if (Math.floor(firstUs / (24 * HOUR_US)) !== Math.floor(srcHourUs / (24 * HOUR_US))) throw new Error('the hours must lie in one UTC day (pick a later source hour)');
    if (srcHourUs + HOUR_US + SETTLE_US >= dayEndUs) throw new Error('the last hour run would close the day (pick an earlier source hour)');
    const hourTimes = Array.from({ length: hours }, (_, h) => firstUs + (h + 1) * HOUR_US + SETTLE_US);
    const instanceHours = instances * hours;
    const load0 = os.loadavg()[0];
    const hr = measure('hours', dir, hourTimes);
    const dy = measure('day', dir, [dayEndUs + SETTLE_US]);
    const st = await storage(dir);
    const total = Object.values(st.bytes).reduce((a, b) => a + b, 0);
    const raw = RAW_TABLE_NAMES.reduce((a, t) => a + (st.bytes[t] ?? 0), 0);
    const hourRunS = hr.runs.reduce((a, r) => a + r.ms, 0) / 1000;
    const dayRunS = dy.runs.reduce((a, r) => a + r.ms, 0) / 1000;
    const hourRollupS = hr.runs.reduce((a, r) => a + r.rollupMs, 0) / 1000;
    const dayRollupS = dy.runs.reduce((a, r) => a + r.rollupMs, 0) / 1000;
    const out = {
      instances,
      hours,
      rows: g.rows,
      cpuSamples: st.samples,
      loadavg: [load0, os.loadavg()[0]],
      hourRuns: { seconds: hourRunS, rollupSeconds: hourRollupS, processSeconds: hr.seconds, cpuSeconds: hr.cpuSeconds, peakMb: hr.peakMb, rowsPerSecond: g.rows / hourRunS, secondsPerInstanceHour: hourRunS / instanceHours, cpuSecondsPerInstanceHour: hr.cpuSeconds / instanceHours },
      units: unitStats(hr.units),
      dayClose: { seconds: dayRunS, rollupSeconds: dayRollupS, processSeconds: dy.seconds, cpuSeconds: dy.cpuSeconds, peakMb: dy.peakMb, secondsPerInstanceHour: dayRunS / instanceHours, cpuSecondsPerInstanceHour: dy.cpuSeconds / instanceHours, unitsApart: dayUnitStats(dy.units) },
      minutesPer1000InstanceHour: { hour: (hourRunS / instanceHours) * 1000 / 60, dayCloseAmortized: ((dayRunS / instanceHours) * 1000) / 60 },
      bytesPerCpuSample: { total: total / st.samples, raw: raw / st.samples, rollups: (total - raw) / st.samples, ...Object.fromEntries(Object.entries(st.bytes).map(([t, b]) => [t, b / st.samples])) },
      topColumns: st.columns.sort((a, b) => b.bytes - a.bytes).slice(0, 15).map((c) => ({ ...c, perSample: c.bytes / st.samples })),
    };
    if (json) {
      process.stdout.write(JSON.stringify(out, null, 1) + '\n');
      return;
    }
    const f = (n: number, d = 2) => n.toFixed(d);
    console.log(`# bench compact — ${new Date().toISOString()} — ${os.cpus().length} cpus, load ${f(load0, 1)} -> ${f(os.loadavg()[0], 1)}; Lambda DuckDB settings at ${COMPACT_FUNCTION.memoryMb} MB`);
    console.log(`${instances} instances x ${hours} h = ${instanceHours} instance-hours, ${g.rows} fresh rows, ${st.samples} CPU samples`);
    console.log(`hour runs  ${f(hourRunS, 1).padStart(8)} s (rollups ${f(hourRollupS, 1)} s)  peak ${f(hr.peakMb, 0).padStart(5)} MB  ${f(out.hourRuns.rowsPerSecond, 0)} rows/s  ${f(out.hourRuns.secondsPerInstanceHour, 3)} s/instance-hour (CPU ${f(out.hourRuns.cpuSecondsPerInstanceHour, 3)} s)  => ${f(out.minutesPer1000InstanceHour.hour, 1)} min per 1,000-instance hour`);
    for (const u of out.units) console.log(`  ${u.table.padEnd(16)} ${String(u.units).padStart(3)} units  split ${f(u.splitSeconds, 1)} s  largest unit ${u.maxRows} rows, ${f(u.maxSeconds, 1)} s; total ${f(u.seconds, 1)} s`);
    console.log(`day close  ${f(dayRunS, 1).padStart(8)} s (rollups ${f(dayRollupS, 1)} s)  peak ${f(dy.peakMb, 0).padStart(5)} MB  ${f(out.dayClose.secondsPerInstanceHour, 3)} s/instance-hour (CPU ${f(out.dayClose.cpuSecondsPerInstanceHour, 3)} s)  => ${f(out.minutesPer1000InstanceHour.dayCloseAmortized, 1)} min per 1,000-instance hour (once a day)`);
    for (const u of out.dayClose.unitsApart) console.log(`  ${u.table.padEnd(16)} ${String(u.units).padStart(3)} day units, each in its own process: CPU ${f(u.cpuSeconds, 1)} s in all, largest unit ${u.maxRows} rows, peak RSS ${f(u.minPeakMb, 0)}-${f(u.maxPeakMb, 0)} MB, CPU ${f(u.minCpuSeconds, 1)}-${f(u.maxCpuSeconds, 1)} s per unit`);
    console.log(`bytes per CPU sample: total ${f(out.bytesPerCpuSample.total)} (raw ${f(out.bytesPerCpuSample.raw)}, rollups ${f(out.bytesPerCpuSample.rollups)})`);
    for (const [t, b] of Object.entries(st.bytes)) console.log(`  ${t.padEnd(18)} ${f(b / st.samples, 3).padStart(8)}`);
    console.log('largest columns (compressed bytes per CPU sample):');
    for (const c of out.topColumns) console.log(`  ${(c.table + '.' + c.column).padEnd(36)} ${f(c.perSample, 3).padStart(8)}`);
  } finally {
    if (!arg('--keep')) rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench:compact: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
