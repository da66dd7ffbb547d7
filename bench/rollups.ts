// `npm run -s bench:rollups`: `top` over N days from rollups vs from raw rows, in the same run on
// the same data, and the stored bytes per CPU sample with and without the rollups.
// Prints numbers; asserts nothing (targets are judged in docs/performance.md).
//
// Data: one hour of CPU and heap profiles of I instances (real fixture profiles, each replay
// perturbed: bench/replay.ts), written through the ingest path; then that hour copied to every
// hour of D days (times shifted by whole hours, as the fleet simulator of #11 does) and written
// in the fresh tier (layout v2), then compacted and rolled up by the scheduled job's code
// (lib/store/compact-due.ts), as the stack holds it once the days are closed. Env: BENCH_DAYS (default 7), BENCH_INSTANCES (20),
// BENCH_PER_HOUR (12 profiles of each kind per instance and hour), BENCH_REPEAT (3).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeProfile } from '../lib/decode';
import { detectKind } from '../lib/decode/kind';
import { parseSourceMeta } from '../lib/model/source';
import { profileRows } from '../lib/normalize/profile-rows';
import { publishEntries } from '../lib/ingest';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { compactDue } from '../lib/store/compact-due';
import { BATCH_COLUMN } from '../lib/store/dedupe';
import { freshKey } from '../lib/store/layout';
import { liveFileSet } from '../lib/store/live';
import { TABLES, ROLLUP_TABLE_NAMES, type TableName } from '../lib/model/schema';
import { openEngine } from '../lib/query/open';
import { top } from '../lib/query/top';
import { flameGraph } from '../lib/query/flamegraph';
import { windowPartitionFilter } from '../lib/query/window';
import { mulberry32, perturb } from './replay';

const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const HOUR_US = 3_600_000_000;
const DAYS = Number(process.env.BENCH_DAYS ?? 7);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 20);
const PER_HOUR = Number(process.env.BENCH_PER_HOUR ?? 12);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);

async function time<T>(f: () => Promise<T>): Promise<{ ms: number; r: T }> {
  let best = Infinity;
  let r!: T;
  for (let i = 0; i < REPEAT; i++) {
    const t0 = performance.now();
    r = await f();
    best = Math.min(best, performance.now() - t0);
  }
  return { ms: best, r };
}

async function main(): Promise<void> {
  console.log(`# fleetprof bench:rollups — ${new Date().toISOString()} — node ${process.version}, ${os.cpus().length} cpus, load ${os.loadavg()[0].toFixed(1)}`);
  const stage = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-rb-stage-'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-rb-data-'));
  const start = Date.parse('2026-11-01T00:00:00Z') * 1000;
  const firstHour = start + (DAYS * 24 - 1) * HOUR_US; // the source hour is the last one
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  const conn = await instance.connect();
  try {
    // One hour through the ingest path.
    const runs = readdirSync(path.join(ROOT, 'test/fixtures/go'), { withFileTypes: true }).filter((e) => e.isDirectory());
    const sources = ['cpu', 'heap'].flatMap((k) => runs.map((r) => decodeProfile(readFileSync(path.join(ROOT, 'test/fixtures/go', r.name, `${k}.pb.gz`)))));
    const rnd = mulberry32(11);
    const store = new LocalStore(dir);
    const store0 = new LocalStore(stage);
    let n = 0;
    for (let i = 0; i < INSTANCES; i++) {
      for (let k = 0; k < PER_HOUR; k++) {
        for (const [j, src] of sources.entries()) {
          const tUs = firstHour + Math.floor(((k + (i % 7) / 7) * HOUR_US) / PER_HOUR);
          const p = perturb(src, rnd, tUs * 1000);
          const meta = parseSourceMeta({ service: `svc-${i % 4}`, instance: `i-${i}`, version: 'v1', process: `p-${i}`, source: 'bench', sourceId: `rb/${i}/${k}/${j}` });
          const rows = profileRows(p, detectKind(p), meta, `p${n}`);
          n++;
          await publishEntries({ store: store0, writer }, [
            { table: 'functions', rows: rows.functions },
            { table: 'stacks', rows: rows.stacks },
            { table: 'profiles', rows: rows.profiles },
          ]);
        }
      }
    }
    // Every hour of D days: the source hour shifted, written as ingest writes it (layout v2: one
    // fresh batch file per table and hour), then compacted and rolled up by the scheduled job's
    // code (lib/store/compact-due.ts: hour files, their rollups through the v2 hook, day files and
    // day forms), as the stack would hold it a day later.
    const t0 = performance.now();
    const staged = path.join(stage, '.copies');
    mkdirSync(staged, { recursive: true });
    for (const t of ['profiles', 'functions', 'stacks'] as const) {
      const cols = TABLES[t].columns.map((c) => `"${c.name}"`);
      const sel = cols.map((c) => (c === '"time"' ? `time - to_microseconds(h * ${HOUR_US}::BIGINT) AS time` : c === '"profile_id"' ? `profile_id || '-' || h::VARCHAR AS profile_id` : c));
      const shifted = `time - to_microseconds(h * ${HOUR_US}::BIGINT)`;
      await conn.run(`COPY (
          SELECT ${sel.join(', ')}, 'b000000000000000000000' AS ${BATCH_COLUMN}, strftime(${shifted}, '%Y-%m-%d') AS dt, strftime(${shifted}, '%H') AS hour
          FROM read_parquet('${stage}/fresh/${t}/**/*.parquet', hive_partitioning = false, union_by_name = true), range(${DAYS * 24}) r(h)
        ) TO '${staged}/${t}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt, hour))`);
      for (const dtDir of readdirSync(path.join(staged, t))) {
        for (const hourDir of readdirSync(path.join(staged, t, dtDir))) {
          for (const [i, f] of readdirSync(path.join(staged, t, dtDir, hourDir)).entries()) {
            await store.putFile(freshKey(t, dtDir.slice(3), Number(hourDir.slice(5)), `b${String(i).padStart(21, '0')}`), path.join(staged, t, dtDir, hourDir, f));
          }
        }
      }
    }
    const copyS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const ru = await compactDue(store, writer, { nowUs: start + DAYS * 24 * HOUR_US + 2 * HOUR_US });
    const rollupS = (performance.now() - t1) / 1000;
    const live = async (t: TableName) => {
      const s = await liveFileSet(store, t, {});
      return [...s.compacted, ...s.fresh];
    };
    const samples = Number(
      (await (await conn.runAndReadAll(`SELECT SUM(value) AS n FROM read_parquet([${(await live('stacks')).map((f) => `'${f}'`).join(', ')}]) WHERE kind = 'cpu' AND sample_type = 'samples'`)).getRowObjectsJS())[0].n,
    );
    const bytesOf = async (t: TableName) => (await live(t)).reduce((a, f) => a + statSync(f).size, 0);
    let raw = 0;
    for (const t of ['profiles', 'functions', 'stacks'] as const) raw += await bytesOf(t);
    const rolledBy: Record<string, number> = {};
    for (const t of ROLLUP_TABLE_NAMES) rolledBy[t] = await bytesOf(t);
    const rolled = Object.values(rolledBy).reduce((a, b) => a + b, 0);
    console.log(`\n${DAYS} days x ${INSTANCES} instances x ${PER_HOUR} CPU + ${PER_HOUR} heap profiles per instance-hour: ${n * DAYS * 24} profiles, ${samples} CPU samples`);
    console.log(
      `copied to ${DAYS * 24} hours (fresh tier) in ${copyS.toFixed(1)} s; compacted with rollups of ${ru.rollups.hours} hours and ${ru.rollups.days} days in ${rollupS.toFixed(1)} s (${(rollupS / (DAYS * 24)).toFixed(2)} s/hour, one at a time)`,
    );
    console.log(`\n## Stored bytes per CPU sample (cpu + heap tables over CPU samples)`);
    console.log(`raw tables (compacted: day files)          ${(raw / samples).toFixed(3).padStart(8)}`);
    console.log(`rollups (${ROLLUP_TABLE_NAMES.join(', ')}) ${(rolled / samples).toFixed(3).padStart(8)}`);
    for (const t of ROLLUP_TABLE_NAMES) console.log(`  ${t.padEnd(14)} ${(rolledBy[t] / samples).toFixed(3).padStart(8)}`);
    console.log(`total                                      ${((raw + rolled) / samples).toFixed(3).padStart(8)}`);

    console.log(`\n## Queries (best of ${REPEAT}; engine opened per query, as the CLI does)`);
    console.log(`| query | raw rows (ms) | rollups (ms) | raw / rollups | same answer |`);
    console.log(`|---|---:|---:|---:|---|`);
    const end = start + DAYS * 24 * HOUR_US;
    const cases: { name: string; kind: 'cpu' | 'heap'; fromUs: number; toUs: number; service?: string; flame?: boolean }[] = [
      { name: `top cpu, ${DAYS} days, fleet`, kind: 'cpu', fromUs: start, toUs: end },
      { name: `top cpu, ${DAYS} days, one service`, kind: 'cpu', fromUs: start, toUs: end, service: 'svc-1' },
      { name: `top cpu, ${DAYS} days - 30 min (raw edges)`, kind: 'cpu', fromUs: start + HOUR_US / 2, toUs: end },
      { name: `top heap (gauge), ${DAYS} days`, kind: 'heap', fromUs: start, toUs: end },
      { name: 'top cpu, last hour', kind: 'cpu', fromUs: end - HOUR_US, toUs: end },
      { name: 'flamegraph cpu, one day', kind: 'cpu', fromUs: end - 24 * HOUR_US, toUs: end, flame: true },
    ];
    for (const c of cases) {
      const run = (rollups: boolean) =>
        time(async () => {
          const q = { kind: c.kind, fromUs: c.fromUs, toUs: c.toUs, service: c.service, rollups };
          const e = await openEngine(store, windowPartitionFilter(q), [dir]);
          try {
            return JSON.stringify(c.flame ? await flameGraph(e, q) : await top(e, q), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
          } finally {
            e.close();
          }
        });
      const a = await run(false);
      const b = await run(true);
      console.log(`| ${c.name} | ${a.ms.toFixed(0)} | ${b.ms.toFixed(0)} | ${(a.ms / b.ms).toFixed(1)}x | ${a.r === b.r ? 'yes' : 'NO'} |`);
    }
  } finally {
    conn.closeSync();
    writer.close();
    instance.closeSync();
    rmSync(stage, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
