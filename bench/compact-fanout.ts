// `node dist/bench/compact-fanout.js --fresh GEN --work DIR [--batches B [--prepare-only]] [--sample K] [--skip-tables T]
// [--snapshot-before-rollups SNAP] [--rollups-only] [--workers 12] [--memory-mb MB] [--json]`:
// one closed hour compacted through the fan-out's roles as the stack runs them (issue #11 points 1
// and 4): the planner (lib/aws/compact-job.ts runCompactPlanner, the scheduled Lambda), then each
// work message it sends in its own child process like one compaction-worker invocation
// (runCompactWorker: a split group, or one unit, finalized by whichever unit completes its job;
// then the hour's rollups, one message per rollup table), each with the compaction Lambda's settings at its memory (COMPACT_FUNCTION.memoryMb, or --memory-mb MB:
// DuckDB's limit and the unit budget both derive from it, lib/aws/compact-job.ts compactLambdaOptions).
//
// Per role it measures CPU seconds (user + system of the whole process, DuckDB's threads included,
// around the role's call), wall, peak RSS (VmHWM) and the S3 requests the role makes (counted by
// bench/counting-store.ts the way S3Store makes them). The hour's wall with W workers is computed
// from the measured unit times (longest first onto W workers), not run.
//
// Data: GEN is a directory bench/fleet-generate.ts wrote for one hour (`generate({hours: 1})`:
// one fresh file per table). The stack has one fresh file per table per SQS batch of 10 agent
// bundles (6 x instances per table-hour); `--batches B` rewrites each table's hour into ~B files,
// a file holding the rows of whole (instance, minute) bundles picked by a hash (random instances,
// as an SQS batch holds), before anything is measured. `--sample K` runs only K units of each job
// (spread over the job) and scales the rest from them (the job is then not finalized and no
// rollups run: the report says so). Prints numbers and checks rows in = rows out; asserts no time.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compactLambdaOptions, runCompactPlanner, runCompactWorker } from '../lib/aws/compact-job';
import { COMPACT_FUNCTION } from '../lib/aws/resources';
import { RAW_TABLE_NAMES } from '../lib/model/schema';
import { parseJobKey, type WorkMessage } from '../lib/store/compact-jobs';
import { rollupMessages } from '../lib/store/compact';
import { readManifest, writeManifest } from '../lib/store/manifest';
import { COMPACTOR_ROLLUPS } from '../lib/store/rollup-compact';
import { compactedDtPrefix, freshKey, HOUR_US } from '../lib/store/layout';
import { liveFileSet } from '../lib/store/live';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, sqlString } from '../lib/store/parquet';
import { CountingStore } from './counting-store';
import { checkTop, type TopJson } from './fleet-checks';

const HWM_HOOK = path.join(__dirname, 'hwm-hook.js');
const SETTLE_US = 7 * 60_000_000; // the schedule's :07
/** The function memory every role runs as (the planner and the workers share it: lib/infra/compaction.ts). */
const MEMORY_MB = Number(arg('--memory-mb') ?? COMPACT_FUNCTION.memoryMb);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

type Counts = CountingStore['counts'];
interface RoleRun {
  role: 'plan' | 'split' | 'unit' | 'rollup' | 'rollups';
  table?: string;
  unit?: number;
  units?: number;
  cpuS: number;
  wallS: number;
  peakMb: number;
  requests: Counts;
  sent: WorkMessage[];
  /** The run that sent this message (index into the runs; -1 for the planner), for the schedule. */
  from?: number;
  job?: string;
  /** Seconds since the planner started (measured, with `--parallel` processes at a time). */
  startS?: number;
  endS?: number;
}

// ---------------------------------------------------------------- child: one role

async function childRole(): Promise<void> {
  const store = new CountingStore(new LocalStore(arg('--dir')!));
  const nowUs = Number(arg('--now'));
  const sent: WorkMessage[] = [];
  const send = async (ms: readonly WorkMessage[]) => {
    sent.push(...ms);
  };
  // As the Lambdas run (lambdas/compact.ts, compact-worker.ts): DuckDB and the unit budget from the memory.
  const o = compactLambdaOptions();
  // `--threads N` (experiments only): DuckDB's threads instead of the rule's.
  if (arg('--threads')) o.settings = { ...o.settings, threads: Number(arg('--threads')) };
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  if (arg('--role') === 'plan') {
    await runCompactPlanner({ store, send, ...o }, nowUs);
  } else {
    const r = await runCompactWorker({ store, send, ...o }, [arg('--body')!], nowUs);
    if (r.failed.length > 0) throw new Error(`work message failed: ${arg('--body')}`);
  }
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ cpuS: (c.user + c.system) / 1e6, wallS, requests: store.counts, sent }) + '\n');
}

function roleArgs(dir: string, nowUs: number, role: 'plan' | 'work', body?: string): string[] {
  return ['--require', HWM_HOOK, __filename, '--child', '--role', role, '--dir', dir, '--now', String(nowUs), ...(body ? ['--body', body] : [])];
}

/** A child's environment: the Lambda's memory, and its own peak file (children may run side by side). */
function roleEnv(hwm: string): NodeJS.ProcessEnv {
  return { ...process.env, FLEETPROF_HWM_FILE: hwm, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(MEMORY_MB) };
}

let roleSeq = 0;
const hwmFile = () => path.join(os.tmpdir(), `fanout-hwm-${process.pid}-${roleSeq++}`);

function roleResult(hwm: string, stdout: string): Omit<RoleRun, 'role'> {
  const peakMb = Number(readFileSync(hwm, 'utf8')) / 1024;
  rmSync(hwm, { force: true });
  return { ...(JSON.parse(stdout.trim().split('\n').pop()!) as { cpuS: number; wallS: number; requests: Counts; sent: WorkMessage[] }), peakMb };
}

function runRole(dir: string, nowUs: number, role: 'plan' | 'work', body?: string): Omit<RoleRun, 'role'> {
  const hwm = hwmFile();
  const r = spawnSync(process.execPath, roleArgs(dir, nowUs, role, body), { env: roleEnv(hwm), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`role ${role} ${body ?? ''} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return roleResult(hwm, r.stdout);
}

/** runRole without blocking: `--parallel P` runs up to P of these at once, as P workers would. */
function runRoleAsync(dir: string, nowUs: number, role: 'plan' | 'work', body?: string): Promise<Omit<RoleRun, 'role'>> {
  const hwm = hwmFile();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, roleArgs(dir, nowUs, role, body), { env: roleEnv(hwm), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) reject(new Error(`role ${role} ${body ?? ''} failed (${code ?? signal}): ${err}`));
      else {
        try {
          resolve(roleResult(hwm, out));
        } catch (e) {
          reject(e as Error);
        }
      }
    });
  });
}

// ---------------------------------------------------------------- data

/** GEN's fresh tier copied to DIR, each table's hour optionally rewritten into ~B batch files. Returns the hour's start (us) and fresh rows per table. */
async function prepare(gen: string, dir: string, batches: number): Promise<{ hourUs: number; rows: Record<string, number>; files: Record<string, number> }> {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  cpSync(path.join(gen, 'fresh'), path.join(dir, 'fresh'), { recursive: true });
  const byTable = new Map<string, string[]>();
  let hourUs = 0;
  let dt = '';
  let hour = 0;
  for (const f of readdirSync(path.join(dir, 'fresh'), { recursive: true, encoding: 'utf8' }).filter((x) => x.endsWith('.parquet'))) {
    const m = /^([a-z_0-9]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\//.exec(f)!;
    byTable.set(m[1], [...(byTable.get(m[1]) ?? []), path.join(dir, 'fresh', f)]);
    dt = m[2];
    hour = Number(m[3]);
    hourUs = Date.parse(`${dt}T${m[3]}:00:00Z`) * 1000;
  }
  const db = await openDuckDb({ memoryLimit: '2500MB', threads: 2, tempDirectory: path.join(dir, '_spill') });
  const conn = await db.connect();
  // Partitioned writes flush often (100 open partitions of list columns must fit the memory limit).
  await conn.run('SET partitioned_write_flush_threshold = 65536');
  await conn.run('SET partitioned_write_max_open_files = 200');
  await conn.run('SET preserve_insertion_order = false');
  const t0 = Date.now();
  const rows: Record<string, number> = {};
  const files: Record<string, number> = {};
  try {
    for (const [table, fs] of byTable) {
      const list = fs.map((f) => `'${sqlString(f)}'`).join(', ');
      rows[table] = Number((await conn.runAndReadAll(`SELECT SUM(num_rows)::BIGINT FROM parquet_file_metadata([${list}])`)).getRows()[0][0]);
      if (batches <= 1 || rows[table] < batches) {
        files[table] = fs.length;
        continue;
      }
      // A bundle is one instance-minute: its rows stay together, bundles spread by a hash over ~B files.
      // Two hash-partitioned writes (G groups, then ~B/G files per group), no sort: one ORDER BY of
      // the whole hour (64M stacks rows with list columns at 1,000 instances) did not finish in an hour.
      const tmp = path.join(dir, '_rebatch', table);
      mkdirSync(tmp, { recursive: true });
      const groups = Math.min(batches, 100);
      const per = Math.ceil(batches / groups);
      const bundle = `hash(instance, date_trunc('minute', "time"))`;
      await conn.run(`COPY (SELECT *, ${bundle} % ${groups} AS __g FROM read_parquet([${list}], union_by_name = true)) TO '${sqlString(path.join(tmp, 'g'))}' (FORMAT parquet, PARTITION_BY (__g), COMPRESSION zstd)`);
      for (const f of fs) rmSync(f);
      const out: string[] = [];
      for (const g of readdirSync(path.join(tmp, 'g'))) {
        const gdir = path.join(tmp, 'g', g);
        const kdir = path.join(tmp, `k-${g}`);
        await conn.run(`COPY (SELECT *, ${bundle} // ${groups} % ${per} AS __k FROM read_parquet('${sqlString(gdir)}/*.parquet', hive_partitioning = false)) TO '${sqlString(kdir)}' (FORMAT parquet, PARTITION_BY (__k), COMPRESSION zstd)`);
        rmSync(gdir, { recursive: true, force: true });
        out.push(...readdirSync(kdir, { recursive: true, encoding: 'utf8' }).filter((x) => x.endsWith('.parquet')).map((x) => path.join(kdir, x)));
      }
      for (const [n, f] of out.entries()) {
        const key = freshKey(table, dt, hour, `rebatch-${String(n).padStart(6, '0')}`);
        mkdirSync(path.dirname(path.join(dir, key)), { recursive: true });
        renameSync(f, path.join(dir, key));
      }
      files[table] = out.length;
      process.stderr.write(`rebatched ${table}: ${rows[table]} rows -> ${out.length} files (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  } finally {
    conn.closeSync();
    db.closeSync();
    rmSync(path.join(dir, '_rebatch'), { recursive: true, force: true });
    rmSync(path.join(dir, '_spill'), { recursive: true, force: true });
  }
  return { hourUs, rows, files };
}

/** Rows each raw table's readers see after the run (live compacted + unmerged fresh files). */
async function rowsSeen(dir: string): Promise<Record<string, number>> {
  const store = new LocalStore(dir);
  const db = await openDuckDb({ memoryLimit: '1GB', threads: 1 });
  const conn = await db.connect();
  try {
    const out: Record<string, number> = {};
    for (const t of RAW_TABLE_NAMES) {
      const s = await liveFileSet(store, t, {});
      const fs = [...s.compacted, ...s.fresh];
      if (fs.length === 0) continue;
      out[t] = Number((await conn.runAndReadAll(`SELECT SUM(num_rows)::BIGINT FROM parquet_file_metadata([${fs.map((f) => `'${sqlString(f)}'`).join(', ')}])`)).getRows()[0][0]);
    }
    return out;
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** Longest-first list scheduling of durations onto `workers`: the makespan. */
function makespan(durations: readonly number[], workers: number): number {
  const w = new Array<number>(workers).fill(0);
  for (const d of [...durations].sort((a, b) => b - a)) {
    let k = 0;
    for (let j = 1; j < workers; j++) if (w[j] < w[k]) k = j;
    w[k] += d;
  }
  return Math.max(0, ...w);
}

/**
 * The hour on `workers` workers from each role's measured duration (`dur`: CPU-s or wall), with the
 * stack's dependencies: the planner's messages wait for the planner; a split job's units wait for
 * all of its split groups (the last splitter sends them); rollup messages wait for every split and
 * unit (the dt's last finalizer sends them); anything else waits for the role that sent it. Ready
 * messages go to the first free worker, earliest ready first (the queue's order). runs[0] is the
 * planner, which runs on its own (the scheduled Lambda). Returns the hour's end.
 */
export function scheduleOnWorkers(runs: readonly RoleRun[], workers: number, dur: (r: RoleRun) => number): number {
  const end = new Array<number>(runs.length).fill(NaN);
  end[0] = dur(runs[0]);
  const body = runs.map((_, i) => i).filter((i) => runs[i].role === 'unit' || runs[i].role === 'split');
  const deps = runs.map((r, i): number[] => {
    if (i === 0) return [];
    if (r.role === 'rollup' || r.role === 'rollups') return body.length > 0 ? body : [r.from ?? 0];
    const from = runs[r.from ?? 0];
    if (from?.role === 'split') return runs.map((_, j) => j).filter((j) => runs[j].role === 'split' && runs[j].job === from.job);
    return [r.from ?? 0];
  });
  const free = new Array<number>(workers).fill(0);
  const pending = new Set(runs.map((_, i) => i).filter((i) => i > 0));
  while (pending.size > 0) {
    let best = -1;
    let bestAt = Infinity;
    for (const i of pending) {
      if (deps[i].some((d) => Number.isNaN(end[d]))) continue;
      const at = Math.max(0, ...deps[i].map((d) => end[d]));
      if (at < bestAt) [best, bestAt] = [i, at];
    }
    if (best < 0) throw new Error('schedule: a role waits for one that never ran');
    pending.delete(best);
    let k = 0;
    for (let j = 1; j < workers; j++) if (free[j] < free[k]) k = j;
    end[best] = Math.max(free[k], bestAt) + dur(runs[best]);
    free[k] = end[best];
  }
  return Math.max(...end);
}

/** `fleetprof top` over the hour on DIR (fleet-wide and for one service) against I/N x the same on the source hour. */
function topChecks(dir: string, source: string, hourUs: number, instances: readonly string[], service: string): { name: string; ok: boolean; detail: string }[] {
  const cli = path.join(__dirname, '../bin/fleetprof.js');
  const window = ['--from', new Date(hourUs / 1000).toISOString(), '--to', new Date((hourUs + HOUR_US) / 1000).toISOString()];
  const top = (data: string, extra: string[]): TopJson => {
    const r = spawnSync(process.execPath, [cli, 'top', '--type', 'cpu', ...extra, '--data', data, ...window, '--json'], { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`top ${extra.join(' ')} --data ${data} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as TopJson;
  };
  // The generator names copies `<source instance>~<k>`.
  const copies = instances.length / new Set(instances.map((i) => i.split('~')[0])).size;
  return [
    { name: 'fleet', ...checkTop(top(dir, []), top(source, []), copies) },
    { name: `service ${service}`, ...checkTop(top(dir, ['--service', service]), top(source, ['--service', service]), copies) },
  ];
}

/** K indexes spread over 0..n-1 (first and last included). */
function spread(n: number, k: number): number[] {
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  return [...new Set(Array.from({ length: k }, (_, j) => Math.round((j * (n - 1)) / Math.max(1, k - 1))))];
}

/**
 * `--rollups-only`: GEN's fresh file of each raw table made the hour's one live compacted file of
 * DIR (the rows the hour's units would hold, deduped already: the generator writes each profile
 * once), marked pending, as an hour's last finalizer leaves it; then only the rollup messages
 * run. The rollups read the hour's live rows whatever their file layout, so this measures them
 * at a fleet size whose compaction would take longer than the run has.
 */
async function publishGenerated(gen: string, dir: string): Promise<{ hourUs: number; dt: string; rows: Record<string, number> }> {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  const store = new LocalStore(dir);
  const db = await openDuckDb({ memoryLimit: '1GB', threads: 1 });
  const conn = await db.connect();
  const rows: Record<string, number> = {};
  let hourUs = 0;
  let dt = '';
  try {
    for (const f of readdirSync(path.join(gen, 'fresh'), { recursive: true, encoding: 'utf8' }).filter((x) => x.endsWith('.parquet'))) {
      const m = /^([a-z_0-9]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\//.exec(f)!;
      const [table, hour] = [m[1], Number(m[3])];
      dt = m[2];
      hourUs = Date.parse(`${dt}T${m[3]}:00:00Z`) * 1000;
      const src = path.join(gen, 'fresh', f);
      const n = Number((await conn.runAndReadAll(`SELECT SUM(num_rows)::BIGINT FROM parquet_file_metadata('${sqlString(src)}')`)).getRows()[0][0]);
      rows[table] = (rows[table] ?? 0) + n;
      const name = `h${String(hour).padStart(2, '0')}-generated-${path.basename(f, '.parquet')}.parquet`;
      mkdirSync(path.join(dir, compactedDtPrefix(table, dt)), { recursive: true });
      cpSync(src, path.join(dir, compactedDtPrefix(table, dt), name));
      const { manifest, etag } = await readManifest(store, table, dt);
      const pending = (COMPACTOR_ROLLUPS.sources as readonly string[]).includes(table) ? { rollup: 'pending' as const } : {};
      await writeManifest(store, table, dt, { ...manifest, live: [...manifest.live, { name, hours: [hour], ...pending, rows: n }] }, etag);
    }
  } finally {
    conn.closeSync();
    db.closeSync();
  }
  return { hourUs, dt, rows };
}

async function rollupsOnly(gen: string, dir: string, workers: number): Promise<void> {
  const p = await publishGenerated(gen, dir);
  const nowUs = p.hourUs + HOUR_US + SETTLE_US;
  const store = new LocalStore(dir);
  const queue = await rollupMessages(store, COMPACTOR_ROLLUPS, p.dt);
  const snapshot = arg('--snapshot-before-rollups');
  if (snapshot) {
    rmSync(snapshot, { recursive: true, force: true });
    execFileSync('cp', ['-al', dir, snapshot]);
  }
  const load0 = os.loadavg()[0];
  const runs: { table: string; cpuS: number; wallS: number; peakMb: number; requests: Counts }[] = [];
  while (queue.length > 0) {
    const m = queue.shift()!;
    const r = runRole(dir, nowUs, 'work', JSON.stringify(m));
    runs.push({ table: m.kind === 'rollup' ? m.table : m.kind, ...r });
    queue.push(...r.sent);
    process.stderr.write(`  ${JSON.stringify(m)}: ${r.cpuS.toFixed(1)} CPU-s, ${r.wallS.toFixed(1)} s, ${r.peakMb.toFixed(0)} MB, GET ${r.requests.GET} PUT ${r.requests.PUT}\n`);
  }
  const out = {
    rows: p.rows,
    loadavg: [load0, os.loadavg()[0]],
    runs,
    cpuS: runs.reduce((a, r) => a + r.cpuS, 0),
    longestCpuS: makespan(runs.map((r) => r.cpuS), workers),
    longestWallS: makespan(runs.map((r) => r.wallS), workers),
    peakMb: Math.max(...runs.map((r) => r.peakMb)),
  };
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(out, null, 1) + '\n');
  else {
    console.log(`# compact-fanout --rollups-only — ${new Date().toISOString()} — load ${load0.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}; rows ${JSON.stringify(p.rows)}`);
    for (const r of runs) console.log(`${('rollup ' + r.table).padEnd(26)} ${r.cpuS.toFixed(1).padStart(8)} CPU-s ${r.wallS.toFixed(1).padStart(8)} s, peak ${r.peakMb.toFixed(0)} MB, GET ${r.requests.GET} PUT ${r.requests.PUT}`);
    console.log(`rollups ${out.cpuS.toFixed(1)} CPU-s in ${runs.length} messages; on ${workers} workers ${out.longestCpuS.toFixed(1)} CPU-s / ${out.longestWallS.toFixed(1)} s wall (longest chain); peak ${out.peakMb.toFixed(0)} MB`);
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return childRole();
  if (process.argv.includes('--rollups-only')) return rollupsOnly(arg('--fresh')!, arg('--work')!, Number(arg('--workers') ?? 12));
  const gen = arg('--fresh');
  const dir = arg('--work');
  if (!gen || !dir) throw new Error('usage: compact-fanout --fresh GEN --work DIR [--batches B] [--sample K] [--workers 12] [--json]');
  const batches = Number(arg('--batches') ?? 1);
  const sample = arg('--sample') ? Number(arg('--sample')) : Infinity;
  const workers = Number(arg('--workers') ?? 12);
  const p = await prepare(gen, dir, batches);
  // `--prepare-only`: DIR/fresh is then the input of later runs (`--fresh DIR`, no --batches), e.g. of two builds side by side.
  if (process.argv.includes('--prepare-only')) {
    process.stdout.write(JSON.stringify({ prepared: dir, ...p }) + '\n');
    return;
  }
  const instances = new Set<string>();
  const services = new Set<string>();
  {
    const db = await openDuckDb({ memoryLimit: '1GB', threads: 1 });
    const conn = await db.connect();
    const f = readdirSync(path.join(dir, 'fresh/profiles'), { recursive: true, encoding: 'utf8' }).filter((x) => x.endsWith('.parquet'));
    for (const [i] of (await conn.runAndReadAll(`SELECT DISTINCT instance FROM read_parquet([${f.map((x) => `'${sqlString(path.join(dir, 'fresh/profiles', x))}'`).join(', ')}])`)).getRows()) instances.add(String(i));
    for (const [v] of (await conn.runAndReadAll(`SELECT DISTINCT service FROM read_parquet([${f.map((x) => `'${sqlString(path.join(dir, 'fresh/profiles', x))}'`).join(', ')}])`)).getRows()) services.add(String(v));
    conn.closeSync();
    db.closeSync();
  }
  const nowUs = p.hourUs + HOUR_US + SETTLE_US;
  const load0 = os.loadavg()[0];
  const runs: RoleRun[] = [];
  const t0 = Date.now();
  const plan = runRole(dir, nowUs, 'plan');
  runs.push({ role: 'plan', ...plan, from: -1, startS: 0, endS: (Date.now() - t0) / 1000 });
  // Each message with the run that sent it (index into runs): the hour's schedule is rebuilt from these.
  const queue: { m: WorkMessage; from: number }[] = plan.sent.map((m) => ({ m, from: 0 }));
  // Units of each job (its object, as the planner wrote it); in sample mode K per job, spread over it.
  const unitsOf = new Map<string, number>();
  const jobUnits = (job: string) => {
    if (!unitsOf.has(job)) unitsOf.set(job, (JSON.parse(readFileSync(path.join(dir, job), 'utf8')) as { names: string[] }).names.length);
    return unitsOf.get(job)!;
  };
  const chosen = (job: string, unit: number) => spread(jobUnits(job), sample).includes(unit);
  let sampled = false;
  const done = new Set<string>();
  // `--skip-tables a,b`: those tables' splits and units are not run (a large table measured in another run).
  const skip = new Set((arg('--skip-tables') ?? '').split(',').filter(Boolean));
  // `--snapshot-before-rollups SNAP`: DIR hard-linked to SNAP (LocalStore replaces files by rename, so
  // the copy keeps this state) just before the first rollup message: the state another build's rollups
  // role can be run on, side by side.
  const snapshot = arg('--snapshot-before-rollups');
  let snapped = false;
  // `--parallel P`: up to P work messages at once, each in its own process (P workers of the stack; 1: one
  // after the other). A message whose process fails is run once more (the queue's redelivery; every role is
  // safe to repeat), then the run fails.
  const parallel = Number(arg('--parallel') ?? 1);
  const redelivered: string[] = [];
  const inflight = new Set<Promise<void>>();
  let failure: Error | undefined;
  const work = async (m: WorkMessage, from: number, what: Pick<RoleRun, 'role' | 'table' | 'unit' | 'units'>): Promise<void> => {
    const startS = (Date.now() - t0) / 1000;
    const body = JSON.stringify(m);
    let r: Omit<RoleRun, 'role'>;
    try {
      r = await runRoleAsync(dir, nowUs, 'work', body);
    } catch (e) {
      redelivered.push(`${body}: ${(e as Error).message.slice(0, 300)}`);
      process.stderr.write(`  FAILED, run once more: ${(e as Error).message.slice(0, 500)}\n`);
      r = await runRoleAsync(dir, nowUs, 'work', body);
    }
    runs.push({ ...what, ...r, from, job: m.kind === 'unit' || m.kind === 'split' ? m.job : undefined, startS, endS: (Date.now() - t0) / 1000 });
    const idx = runs.length - 1;
    queue.push(...r.sent.map((x) => ({ m: x, from: idx })));
    const name = what.role === 'unit' ? `unit ${what.table} ${what.unit! + 1}/${what.units}` : what.role === 'split' ? `split ${what.table} group ${what.unit}` : what.role === 'rollup' ? `rollup ${what.table}` : 'rollups';
    process.stderr.write(`  ${name}: ${r.cpuS.toFixed(1)} CPU-s, ${r.wallS.toFixed(1)} s, ${r.peakMb.toFixed(0)} MB, GET ${r.requests.GET} PUT ${r.requests.PUT} (at ${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  };
  while (queue.length > 0 || inflight.size > 0) {
    while (queue.length > 0 && inflight.size < parallel && !failure) {
      const { m, from } = queue[0];
      if (snapshot && !snapped && (m.kind === 'rollup' || m.kind === 'rollups')) {
        // The state before the rollups: wait for the roles still running.
        if (inflight.size > 0) break;
        snapped = true;
        rmSync(snapshot, { recursive: true, force: true });
        execFileSync('cp', ['-al', dir, snapshot]);
        process.stderr.write(`  snapshot of the state before the rollups: ${snapshot}\n`);
      }
      queue.shift();
      let what: Pick<RoleRun, 'role' | 'table' | 'unit' | 'units'>;
      if ((m.kind === 'unit' || m.kind === 'split') && skip.has(parseJobKey(m.job)?.table ?? '')) {
        sampled = true;
        continue;
      }
      if (m.kind === 'unit') {
        // A unit sent twice (two splitters finishing together) runs once here.
        if (done.has(`${m.job}#${m.unit}`)) continue;
        done.add(`${m.job}#${m.unit}`);
        if (!chosen(m.job, m.unit)) {
          sampled = true;
          continue;
        }
        what = { role: 'unit', table: parseJobKey(m.job)?.table, unit: m.unit, units: jobUnits(m.job) };
      } else if (m.kind === 'split') {
        what = { role: 'split', table: parseJobKey(m.job)?.table, unit: m.group, units: jobUnits(m.job) };
      } else if (m.kind === 'rollup') {
        // One rollup table of the hour, as one worker runs it (the last one also builds profiles_1h and clears the hour's marks).
        what = { role: 'rollup', table: m.table };
      } else {
        what = { role: 'rollups' };
      }
      const tracked: Promise<void> = work(m, from, what).then(
        () => void inflight.delete(tracked),
        (e: unknown) => {
          inflight.delete(tracked);
          failure ??= e as Error;
        },
      );
      inflight.add(tracked);
    }
    if (inflight.size === 0) {
      if (failure) throw failure;
      if (queue.length === 0) break;
      continue;
    }
    await Promise.race(inflight);
  }
  if (failure) throw failure;
  const elapsedS = (Date.now() - t0) / 1000;
  const seen = sampled ? null : await rowsSeen(dir);
  // `--source SRC` (the generator's source hour): `top` over the compacted hour, fleet-wide and per
  // service, against the simulator's truth (I/N x the source hour's top; bench/fleet-checks.ts).
  const source = arg('--source');
  const checks = seen && source ? topChecks(dir, source, p.hourUs, [...instances], [...services].sort()[0]) : null;
  const load1 = os.loadavg()[0];

  // Totals, units scaled up per table when sampled.
  const tables = [...new Set(runs.filter((r) => r.role === 'unit').map((r) => r.table!))].sort();
  const unitStats = tables.map((table) => {
    const us = runs.filter((r) => r.role === 'unit' && r.table === table);
    const n = us[0].units!;
    const scale = n / us.length;
    const sum = (f: (r: RoleRun) => number) => us.reduce((a, r) => a + f(r), 0) * scale;
    return {
      table,
      units: n,
      measured: us.length,
      cpuS: sum((r) => r.cpuS),
      wallS: sum((r) => r.wallS),
      maxPeakMb: Math.max(...us.map((r) => r.peakMb)),
      meanUnitCpuS: sum((r) => r.cpuS) / n,
      meanUnitWallS: sum((r) => r.wallS) / n,
      GET: sum((r) => r.requests.GET),
      PUT: sum((r) => r.requests.PUT),
      LIST: sum((r) => r.requests.LIST),
      // Unit durations for the schedule (sampled: each measured unit stands for `scale` units).
      walls: us.flatMap((r) => Array.from({ length: Math.round(scale) }, () => r.wallS)),
      cpus: us.flatMap((r) => Array.from({ length: Math.round(scale) }, () => r.cpuS)),
    };
  });
  const sumOf = (xs: RoleRun[], f: (r: RoleRun) => number) => xs.reduce((a, r) => a + f(r), 0);
  // The dt's rollups: one run per hour table (this build), or one per dt (a build before the fan-out).
  const rollups = runs.filter((r) => r.role === 'rollups' || r.role === 'rollup');
  const rollupStats = rollups.map((r) => ({ table: r.table ?? 'all (one message per dt)', cpuS: r.cpuS, wallS: r.wallS, peakMb: r.peakMb, GET: r.requests.GET, PUT: r.requests.PUT }));
  const splitRuns = runs.filter((r) => r.role === 'split');
  const splitStats = [...new Set(splitRuns.map((r) => r.table!))].sort().map((table) => {
    const ss = splitRuns.filter((r) => r.table === table);
    return { table, groups: ss.length, cpuS: sumOf(ss, (r) => r.cpuS), wallS: sumOf(ss, (r) => r.wallS), maxPeakMb: Math.max(...ss.map((r) => r.peakMb)), GET: sumOf(ss, (r) => r.requests.GET), PUT: sumOf(ss, (r) => r.requests.PUT) };
  });
  const n = instances.size;
  const total = {
    cpuS: plan.cpuS + unitStats.reduce((a, u) => a + u.cpuS, 0) + sumOf([...rollups, ...splitRuns], (r) => r.cpuS),
    GET: plan.requests.GET + unitStats.reduce((a, u) => a + u.GET, 0) + sumOf([...rollups, ...splitRuns], (r) => r.requests.GET),
    PUT: plan.requests.PUT + unitStats.reduce((a, u) => a + u.PUT, 0) + sumOf([...rollups, ...splitRuns], (r) => r.requests.PUT),
    LIST: plan.requests.LIST + unitStats.reduce((a, u) => a + u.LIST, 0) + sumOf([...rollups, ...splitRuns], (r) => r.requests.LIST),
  };
  const allWalls = unitStats.flatMap((u) => u.walls);
  const allCpus = unitStats.flatMap((u) => u.cpus);
  const out = {
    memoryMb: MEMORY_MB,
    instances: n,
    freshRows: p.rows,
    freshFiles: p.files,
    sampled: sampled ? sample : null,
    loadavg: [load0, load1],
    plan: { cpuS: plan.cpuS, wallS: plan.wallS, peakMb: plan.peakMb, requests: plan.requests, messages: plan.sent.length },
    splits: splitStats,
    units: unitStats.map(({ walls: _w, cpus: _c, ...u }) => u),
    rollups:
      rollups.length > 0
        ? { runs: rollups.length, cpuS: sumOf(rollups, (r) => r.cpuS), wallS: sumOf(rollups, (r) => r.wallS), peakMb: Math.max(...rollups.map((r) => r.peakMb)), GET: sumOf(rollups, (r) => r.requests.GET), PUT: sumOf(rollups, (r) => r.requests.PUT), byTable: rollupStats }
        : null,
    total,
    perInstanceHour: { cpuS: total.cpuS / n, GET: total.GET / n, PUT: total.PUT / n, LIST: total.LIST / n },
    maxUnitPeakMb: Math.max(...unitStats.map((u) => u.maxPeakMb)),
    maxRolePeakMb: Math.max(...runs.map((r) => r.peakMb)),
    // The hour's wall in the stack: the planner, the splits, then the units on `workers` workers, then the rollups on
    // as many (splits, units and rollups as three phases: an upper bound, as one table's units may start while
    // another splits; a build before the fan-out runs the dt's rollups in one message, one worker).
    hourWallS: {
      workers,
      fromUnitWall: plan.wallS + makespan(splitRuns.map((r) => r.wallS), workers) + makespan(allWalls, workers) + makespan(rollups.map((r) => r.wallS), workers),
      fromUnitCpu: plan.cpuS + makespan(splitRuns.map((r) => r.cpuS), workers) + makespan(allCpus, workers) + makespan(rollups.map((r) => r.cpuS), workers),
      rollupsFromCpu: makespan(rollups.map((r) => r.cpuS), workers),
    },
    // The same hour on `workers` workers with the stack's dependencies, from each role's measured CPU
    // (what an unloaded worker of one vCPU spends) and from its wall here (--parallel roles at a time).
    hourOnWorkers: { workers, fromCpuS: scheduleOnWorkers(runs, workers, (r) => r.cpuS), fromWallS: scheduleOnWorkers(runs, workers, (r) => r.wallS) },
    // This run as it ran: --parallel roles at a time on this machine, planner start to the last role's end.
    measured: { parallel, elapsedS, redelivered },
    rowsSeen: seen,
    rowsOk: seen ? RAW_TABLE_NAMES.every((t) => (p.rows[t] ?? 0) === (seen[t] ?? 0)) : null,
    top: checks,
    runs: runs.map(({ sent, requests, ...r }) => ({ ...r, sent: sent.length, GET: requests.GET, PUT: requests.PUT, LIST: requests.LIST })),
  };
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify(out, null, 1) + '\n');
  } else {
    const f = (x: number, d = 1) => x.toFixed(d);
    console.log(`# compact-fanout — ${new Date().toISOString()} — ${os.cpus().length} cpus, load ${f(load0)} -> ${f(load1)}; Lambda settings at ${MEMORY_MB} MB`);
    console.log(`${n} instances x 1 h; fresh files per table ${JSON.stringify(p.files)}; rows ${JSON.stringify(p.rows)}${sampled ? `; ${sample} units per job measured, the rest scaled` : ''}`);
    console.log(`plan     ${f(plan.cpuS).padStart(8)} CPU-s ${f(plan.wallS).padStart(8)} s  peak ${f(plan.peakMb, 0)} MB  GET ${plan.requests.GET} PUT ${plan.requests.PUT} LIST ${plan.requests.LIST}`);
    for (const u of out.splits) console.log(`${('split ' + u.table).padEnd(22)} ${String(u.groups).padStart(3)} groups: ${f(u.cpuS).padStart(8)} CPU-s ${f(u.wallS).padStart(8)} s, peak ${f(u.maxPeakMb, 0)} MB, GET ${u.GET} PUT ${u.PUT}`);
    for (const u of out.units)
      console.log(`${u.table.padEnd(16)} ${String(u.units).padStart(3)} units (${u.measured} run): ${f(u.cpuS).padStart(8)} CPU-s ${f(u.wallS).padStart(8)} s, per unit ${f(u.meanUnitCpuS)} CPU-s ${f(u.meanUnitWallS)} s, peak ${f(u.maxPeakMb, 0)} MB, GET ${f(u.GET, 0)} PUT ${f(u.PUT, 0)}`);
    if (out.rollups) {
      for (const r of out.rollups.byTable) console.log(`${('rollup ' + r.table).padEnd(22)} ${f(r.cpuS).padStart(8)} CPU-s ${f(r.wallS).padStart(8)} s, peak ${f(r.peakMb, 0)} MB, GET ${r.GET} PUT ${r.PUT}`);
      console.log(`rollups  ${f(out.rollups.cpuS).padStart(8)} CPU-s ${f(out.rollups.wallS).padStart(8)} s in ${out.rollups.runs} messages (longest ${f(out.hourWallS.rollupsFromCpu)} CPU-s on ${workers} workers)  peak ${f(out.rollups.peakMb, 0)} MB  GET ${out.rollups.GET} PUT ${out.rollups.PUT}`);
    }
    else console.log('rollups  not run (sampled units: the jobs are not finalized)');
    console.log(`total    ${f(total.cpuS).padStart(8)} CPU-s = ${f(out.perInstanceHour.cpuS, 3)} CPU-s per instance-hour; GET ${f(total.GET, 0)} (${f(out.perInstanceHour.GET, 2)} per instance-hour), PUT ${f(total.PUT, 0)} (${f(out.perInstanceHour.PUT, 3)}), LIST ${f(total.LIST, 0)}`);
    console.log(`hour wall with ${workers} workers: ${f(out.hourWallS.fromUnitWall)} s from the measured walls, ${f(out.hourWallS.fromUnitCpu)} s from CPU (plan + the splits', units' and rollups' makespans); largest unit peak ${f(out.maxUnitPeakMb, 0)} MB, largest role peak ${f(out.maxRolePeakMb, 0)} MB`);
    console.log(`the hour on ${workers} workers (the stack's dependencies, list-scheduled): ${f(out.hourOnWorkers.fromCpuS)} s from each role's CPU, ${f(out.hourOnWorkers.fromWallS)} s from its wall here`);
    console.log(`measured: ${f(elapsedS)} s wall for the whole hour, ${parallel} role(s) at a time on this machine${redelivered.length > 0 ? `; ${redelivered.length} role(s) failed and ran again: ${redelivered.join(' | ')}` : ''}`);
    if (checks) for (const c of checks) console.log(`top ${c.name}: ${c.ok ? 'exact' : 'WRONG'} (${c.detail})`);
    console.log(seen ? `rows seen after: ${JSON.stringify(seen)} ${out.rowsOk ? '= fresh rows' : '!= fresh rows'}` : 'rows not checked (sampled)');
  }
  if ((seen && !out.rowsOk) || checks?.some((c) => !c.ok)) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`compact-fanout: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
