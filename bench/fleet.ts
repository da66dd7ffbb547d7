// The fleet simulator (issue #11, "The fleet simulator"; keep this contract, other tools use it):
//
//   npm run -s bench:fleet -- --source SRC --out DIR --instances I --days D [--json]
//
// SRC: a data directory written by `fleetprof ingest` holding exactly one UTC hour [H, H+1h) of N
// instances (bench/fleet-source.ts makes one from the repository's fixtures). DIR: a local store in
// the bucket's layout. Steps, each a child process so its wall time and peak RSS (VmHWM, DuckDB's
// native memory included) are its own:
//   1. generate: I instances `<source instance>~<k>` x the D x 24 hours ending at H+1h, exact
//      copies of the source hour shifted by whole hours (bench/fleet-generate.ts says how and why
//      it equals what the stack would hold);
//   2. compact: the scheduled compaction's code (lib/aws/compact-job.ts -> lib/store/compact-due.ts)
//      at H+1h+7min, through a store that counts what would be S3 requests;
//   3. the queries of point 5 and the digest of point 6 through the CLI, timed, each checked
//      against the truth: CPU and delta counters over whole hours = hours x I/N x the source hour's
//      top; gauges = I/N x the source's; gc cycles = hours x I/N x the source's;
//   4. `go tool pprof -top` over a measured subset of the same profiles, extrapolated to each
//      window's profile count, side by side with fleetprof's time.
// Extra flags (not part of the contract): --reuse (DIR already generated and compacted: only
// step 3-4), --skip-generate (DIR already generated: steps 2-4), --rollup-days N (after step 2,
// extend the rollup tier to N days, bench/fleet-tier.ts; queries over rollups then see N days,
// queries over raw rows only the generated hours), --pprof-subset M (default 32), --skip-digest,
// --peer-cli PATH (another build's dist/bin/fleetprof.js, e.g. main before a change: every query
// is also run with it, alternating, and its time and answer check printed beside ours), --repeat N
// (each query N times, with the peer alternating first and second: the median time is reported,
// the largest peak, and an answer check that failed in any run).
// D may be fractional when D x 24 is whole.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCompactJob } from '../lib/aws/compact-job';
import { unitProcesses } from '../lib/aws/compact-units';
import type { UnitReport } from '../lib/store/compact';
import { COMPACT_FUNCTION } from '../lib/aws/resources';
import { lambdaDuckDbSettings } from '../lib/aws/runtime';
import { LocalStore } from '../lib/store/local';
import { openDuckDb } from '../lib/store/parquet';
import { generate, HOUR_US } from './fleet-generate';
import { checkDigest, checkTop, type Check, type DigestJson, type TopJson } from './fleet-checks';
import { CountingStore } from './counting-store';
import { extendRollupTier } from './fleet-tier';
import { parseSqlRows, pprofRate } from './pprof-peer';

const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const HWM_HOOK = path.join(__dirname, 'hwm-hook.js');
const DAY_US = 24 * HOUR_US;

interface Args {
  source: string;
  out: string;
  instances: number;
  days: number;
  json: boolean;
  reuse: boolean;
  pprofSubset: number;
  skipDigest: boolean;
  skipGenerate: boolean;
  skipCompact: boolean;
  rollupDays: number;
  peerCli?: string;
  repeat: number;
}

function parseArgs(argv: string[]): Args & { step?: string; now?: number } {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const need = (name: string): string => {
    const v = get(name);
    if (v === undefined) usage(`${name} is required`);
    return v!;
  };
  const a = {
    source: get('--source') ?? '',
    out: need('--out'),
    instances: Number(get('--instances') ?? 0),
    days: Number(get('--days') ?? 0),
    json: argv.includes('--json'),
    reuse: argv.includes('--reuse'),
    pprofSubset: Number(get('--pprof-subset') ?? 32),
    skipDigest: argv.includes('--skip-digest'),
    skipGenerate: argv.includes('--skip-generate'),
    skipCompact: argv.includes('--skip-compact'),
    rollupDays: Number(get('--rollup-days') ?? 0),
    peerCli: get('--peer-cli'),
    repeat: Number(get('--repeat') ?? 1),
    step: get('--step'),
    now: get('--now') !== undefined ? Number(get('--now')) : undefined,
  };
  if (a.step === undefined) {
    if (!a.source) usage('--source is required');
    if (!Number.isInteger(a.instances) || a.instances < 1) usage('--instances must be a positive integer');
    if (!(a.days > 0) || !Number.isInteger(Math.round(a.days * 24 * 1e6) / 1e6)) usage('--days must be > 0 with D x 24 whole');
  }
  return a;
}

function usage(msg: string): never {
  process.stderr.write(`bench:fleet: ${msg}\nusage: npm run -s bench:fleet -- --source SRC --out DIR --instances I --days D [--json]\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- child steps (--step)

async function childStep(a: ReturnType<typeof parseArgs>): Promise<void> {
  let out: unknown;
  if (a.step === 'generate') {
    out = await generate({ source: a.source, out: a.out, instances: a.instances, hours: Math.round(a.days * 24) });
  } else if (a.step === 'compact') {
    const store = new CountingStore(new LocalStore(a.out));
    // The schedule's runs, one per closed hour (at hour end + 7 min, COMPACT_FUNCTION's cron), in one
    // process with the Lambda's DuckDB settings (AWS_LAMBDA_FUNCTION_MEMORY_SIZE set by the parent).
    const hours = Math.round(a.days * 24);
    const runs: { now: string; ms: number; hours: number; days: number; filesMerged: number; rollupHours: number; rollupDays: number }[] = [];
    const dayUnits: UnitReport[] = [];
    // Plus the next tick (an hour later): rollups wait ROLLUP_GRACE_US after an hour closes, so
    // the last hour's rollups are built by the run after the one that compacted it, as in the cloud.
    for (let h = hours - 1; h >= -1; h--) {
      // compactDue's result carries its rollup counts (CompactJobResult's type does not name them).
      const nowUs = a.now! - h * HOUR_US;
      // Large days' units each in a process of their own, as `fleetprof compact` runs them (their
      // requests are not in `store`'s counts; their peak and CPU are in dayUnits below).
      const apart = unitProcesses({ store: { kind: 'local', root: a.out }, jobs: 1, nowUs });
      const r: Partial<{ rollups: { hours: number; days: number } }> & Awaited<ReturnType<typeof runCompactJob>> = await runCompactJob(
        { store, settings: lambdaDuckDbSettings(), apart, onUnit: (u) => u.peakMb !== undefined && dayUnits.push(u) },
        nowUs,
      );
      runs.push({ now: r.now, ms: r.ms, hours: r.hours, days: r.days, filesMerged: r.filesMerged, rollupHours: r.rollups?.hours ?? 0, rollupDays: r.rollups?.days ?? 0 });
    }
    const ms = runs.map((r) => r.ms);
    const unitCpuS = dayUnits.reduce((x, u) => x + u.cpuMs!, 0) / 1000;
    const units = { count: dayUnits.length, cpuSeconds: unitCpuS, maxPeakMb: Math.max(0, ...dayUnits.map((u) => u.peakMb!)), perUnit: dayUnits.map((u) => ({ table: u.table, dt: u.dt, unit: u.unit, units: u.units, rows: u.rows, ms: u.ms, cpuMs: u.cpuMs, peakMb: u.peakMb })) };
    out = { runs: runs.length, maxRunMs: Math.max(...ms), meanRunMs: ms.reduce((x, y) => x + y, 0) / ms.length, requests: store.counts, dayUnits: units, perRun: runs };
  } else if (a.step === 'tier') {
    const store = new LocalStore(a.out);
    const db = await openDuckDb({ memoryLimit: '1500MB', tempDirectory: path.join(store.scratchDir, 'duckdb-spill') });
    const conn = await db.connect();
    try {
      out = await extendRollupTier(store, conn, a.now!, a.days);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  } else usage(`unknown step ${a.step}`);
  process.stdout.write(JSON.stringify(out) + '\n');
}

// ---------------------------------------------------------------- the run

interface Measured {
  seconds: number;
  peakMb: number;
  stdout: string;
  status: number | null;
  stderr: string;
}

function measure(args: string[], env: NodeJS.ProcessEnv = {}): Measured {
  const hwm = path.join(os.tmpdir(), `fleet-hwm-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--require', HWM_HOOK, ...args], {
    env: { ...process.env, ...env, FLEETPROF_HWM_FILE: hwm },
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let peakMb = NaN;
  try {
    peakMb = Number(readFileSync(hwm, 'utf8')) / 1024;
    rmSync(hwm, { force: true });
  } catch {
    /* the child died before its exit hook */
  }
  return { seconds, peakMb, stdout: r.stdout ?? '', status: r.status, stderr: r.stderr ?? '' };
}

function cli(args: string[], bin = CLI): Measured {
  return measure([bin, ...args]);
}

interface GcJson {
  buckets: { service: string; version: string; cycles: number; pause_p50_ns: number; pause_p95_ns: number; pause_p99_ns: number; pause_max_ns: number; instances: number; start?: string }[];
}

/** gc of identical copies: every bucket's pause percentiles (nearest rank of k copies of a multiset = of the multiset) and max are the source's. */
function gcPausesMatch(g: GcJson, truth: GcJson): string | undefined {
  for (const b of g.buckets) {
    const t = truth.buckets.find((x) => x.service === b.service && x.version === b.version);
    if (!t) return `${b.service}/${b.version}: not in the source`;
    for (const k of ['pause_p50_ns', 'pause_p95_ns', 'pause_p99_ns', 'pause_max_ns'] as const) if (b[k] !== t[k]) return `${b.service}/${b.version} ${b.start ?? ''} ${k} ${b[k]} != ${t[k]}`;
  }
  return undefined;
}

function gcCycles(g: GcJson): Map<string, number> {
  const m = new Map<string, number>();
  for (const b of g.buckets) m.set(`${b.service}/${b.version}`, (m.get(`${b.service}/${b.version}`) ?? 0) + b.cycles);
  return m;
}

interface QueryResult {
  name: string;
  seconds: number;
  peakMb: number;
  targetSeconds?: number;
  check?: Check;
  error?: string;
  pprofSeconds?: number;
  profiles?: number;
  peer?: { seconds: number; peakMb: number; check?: Check; error?: string };
}

const iso = (us: number) => new Date(us / 1000).toISOString();

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.step) return childStep(a);
  const self = __filename;
  const hours = Math.round(a.days * 24);
  const report: Record<string, unknown> = {
    machine: { cpus: os.cpus().length, loadavg: os.loadavg().map((x) => Number(x.toFixed(2))), memGb: Number((os.totalmem() / 2 ** 30).toFixed(1)) },
    params: { source: a.source, out: a.out, instances: a.instances, days: a.days, hours, repeat: a.repeat },
  };
  const steps: Record<string, unknown>[] = [];
  report.steps = steps;
  const say = (s: string) => {
    if (!a.json) process.stdout.write(s + '\n');
    else process.stderr.write(s + '\n');
  };

  // 1. generate
  let hourUs: number;
  let srcInstances: number;
  let services: string[];
  if (!a.reuse && !a.skipGenerate) {
    rmSync(a.out, { recursive: true, force: true });
    mkdirSync(a.out, { recursive: true });
    const g = measure([self, '--step', 'generate', '--source', a.source, '--out', a.out, '--instances', String(a.instances), '--days', String(a.days)]);
    if (g.status !== 0) throw new Error(`generate failed: ${g.stderr}`);
    const r = JSON.parse(g.stdout) as {
      source: { hourUs: number; instances: string[]; services: string[]; rows: Record<string, number> };
      files: number;
      rows: number;
      bytes: number;
      rowsPerSecond: number;
      baseSeconds: number;
      shiftSeconds: number;
    };
    hourUs = r.source.hourUs;
    srcInstances = r.source.instances.length;
    services = r.source.services;
    steps.push({ step: 'generate', seconds: g.seconds, peakMb: g.peakMb, files: r.files, rows: r.rows, bytes: r.bytes, rowsPerSecond: r.rowsPerSecond, baseSeconds: r.baseSeconds, shiftSeconds: r.shiftSeconds, sourceRows: r.source.rows });
    say(
      `generate   ${g.seconds.toFixed(1).padStart(8)} s  peak ${g.peakMb.toFixed(0).padStart(6)} MB  ${r.rows} rows, ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB, ` +
        `${Math.round(r.rowsPerSecond)} rows/s (base hour ${r.baseSeconds.toFixed(1)} s, shifted hours ${r.shiftSeconds.toFixed(1)} s)`,
    );
    writeFileSync(path.join(a.out, '.fleet-source.json'), JSON.stringify(r.source));
  } else {
    const s = JSON.parse(readFileSync(path.join(a.out, '.fleet-source.json'), 'utf8')) as { hourUs: number; instances: string[]; services: string[] };
    hourUs = s.hourUs;
    srcInstances = s.instances.length;
    services = s.services;
  }
  const copies = a.instances / srcInstances;
  const endUs = hourUs + HOUR_US;
  report.source = { hour: iso(hourUs), instances: srcInstances, services, copies };

  // 2. compact, as the schedule would run it just after the last hour closed
  if (!a.reuse && !a.skipCompact) {
    const nowUs = endUs + 7 * 60e6;
    // The Lambda's settings put DuckDB's spill files in $TMPDIR/duckdb_tmp-<pid> (lib/aws/runtime.ts
    // processSpillDir, one per process); a TMPDIR per run also keeps the Lambda's other /tmp files
    // (download cache, scratch) apart from another run's or bench's on a shared machine.
    const lambdaTmp = path.join(a.out, '.tmp', 'lambda-tmp');
    mkdirSync(lambdaTmp, { recursive: true });
    const c = measure([self, '--step', 'compact', '--out', a.out, '--now', String(nowUs), '--days', String(a.days)], {
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(COMPACT_FUNCTION.memoryMb),
      TMPDIR: lambdaTmp,
    });
    if (c.status !== 0) throw new Error(`compact failed: ${c.stderr}`);
    const r = JSON.parse(c.stdout) as Record<string, unknown>;
    steps.push({ step: 'compact', seconds: c.seconds, peakMb: c.peakMb, perHourSeconds: c.seconds / hours, ...r });
    say(`compact    ${c.seconds.toFixed(1).padStart(8)} s  peak ${c.peakMb.toFixed(0).padStart(6)} MB  ${JSON.stringify(r)}`);
  }
  const tierMarker = path.join(a.out, '.fleet-tier.json');
  if (a.rollupDays > a.days && (!a.reuse || !existsSync(tierMarker))) {
    const t = measure([self, '--step', 'tier', '--out', a.out, '--now', String(endUs), '--days', String(a.rollupDays)]);
    if (t.status !== 0) throw new Error(`rollup tier failed: ${t.stderr}`);
    const r = JSON.parse(t.stdout) as Record<string, unknown>;
    steps.push({ step: 'rollup-tier', seconds: t.seconds, peakMb: t.peakMb, days: a.rollupDays, ...r });
    writeFileSync(tierMarker, JSON.stringify({ days: a.rollupDays, ...r }));
    say(`rollup tier ${t.seconds.toFixed(1).padStart(7)} s  peak ${t.peakMb.toFixed(0).padStart(6)} MB  ${a.rollupDays} days: ${JSON.stringify(r)}`);
  }
  // With --reuse the tier may have been made by an earlier run: its marker says how many days.
  const tierDays = existsSync(tierMarker) ? (JSON.parse(readFileSync(tierMarker, 'utf8')) as { days: number }).days : 0;
  const rollupHours = Math.max(hours, Math.round(Math.max(a.rollupDays, tierDays) * 24));

  // 3. queries, each checked against the source hour's answers
  const srcJson = <T>(args: string[]): T => {
    const r = cli([...args, '--data', a.source, '--from', iso(hourUs), '--to', iso(endUs), '--json']);
    if (r.status !== 0) throw new Error(`source query ${args.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const svc = services[0];
  const truth = {
    cpu: srcJson<TopJson>(['top', '--type', 'cpu']),
    cpuSvc: srcJson<TopJson>(['top', '--type', 'cpu', '--service', svc]),
    heap: srcJson<TopJson>(['top', '--type', 'heap']),
    allocs: srcJson<TopJson>(['top', '--type', 'allocs']),
    gc: srcJson<GcJson>(['gc', '--bucket', '1d']),
  };
  const hour = [iso(endUs - HOUR_US), iso(endUs)];
  const days30 = [iso(endUs - 30 * DAY_US), iso(endUs)];
  // Rollup-answered windows (top, diff, gc) see the rollup tier's hours.
  const h30 = Math.min(rollupHours, 30 * 24);
  const cpuProfilesPerHour = truthProfiles(a.source) * copies;
  const queries: QueryResult[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleet-q-'));
  const run = (name: string, args: string[], target: number | undefined, check: (stdout: string) => Check, profiles?: number) => {
    const once = (bin: string) => {
      const r = cli([...args, '--data', a.out], bin);
      const o: { seconds: number; peakMb: number; check?: Check; error?: string } = { seconds: r.seconds, peakMb: r.peakMb };
      if (r.status !== 0) o.error = r.stderr.trim().split('\n').slice(-1)[0];
      else {
        try {
          o.check = check(r.stdout);
        } catch (e) {
          o.check = { ok: false, detail: (e as Error).message };
        }
      }
      return o;
    };
    // With a peer, the peer runs first, then second (alternating per repeat): neither side gets a
    // page cache the other warmed alone, nor always the quieter minute.
    const owns: ReturnType<typeof once>[] = [];
    const peers: ReturnType<typeof once>[] = [];
    for (let i = 0; i < Math.max(1, a.repeat); i++) {
      if (a.peerCli && i % 2 === 0) peers.push(once(a.peerCli));
      owns.push(once(CLI));
      if (a.peerCli && i % 2 === 1) peers.push(once(a.peerCli));
    }
    const summary = (xs: ReturnType<typeof once>[]) => {
      const secs = xs.map((x) => x.seconds).sort((x, y) => x - y);
      const worst = xs.find((x) => x.error !== undefined || !x.check?.ok) ?? xs[0];
      return { ...worst, seconds: secs[Math.floor(secs.length / 2)], peakMb: Math.max(...xs.map((x) => x.peakMb)) };
    };
    const peer = peers.length > 0 ? summary(peers) : undefined;
    const own = summary(owns);
    const q: QueryResult = { name, seconds: own.seconds, peakMb: own.peakMb, targetSeconds: target, profiles, check: own.check, error: own.error, peer };
    queries.push(q);
    const verdict = (o: { check?: Check; error?: string }) => (o.error ? `ERROR ${o.error}` : `${o.check!.ok ? 'exact' : 'WRONG'} (${o.check!.detail})`);
    say(`${name.padEnd(22)} ${own.seconds.toFixed(2).padStart(8)} s  peak ${own.peakMb.toFixed(0).padStart(6)} MB  target ${target ?? '-'} s  ${verdict(own)}`);
    if (peer) say(`${'  peer (--peer-cli)'.padEnd(22)} ${peer.seconds.toFixed(2).padStart(8)} s  peak ${peer.peakMb.toFixed(0).padStart(6)} MB  ${verdict(peer)}  peer/own ${(peer.seconds / own.seconds).toFixed(1)}x`);
  };
  const top = (s: string) => JSON.parse(s) as TopJson;
  run('top fleet 1h', ['top', '--type', 'cpu', '--from', hour[0], '--to', hour[1], '--json'], 2, (s) => checkTop(top(s), truth.cpu, copies), cpuProfilesPerHour);
  run('top service 1h', ['top', '--type', 'cpu', '--service', svc, '--from', hour[0], '--to', hour[1], '--json'], 2, (s) => checkTop(top(s), truth.cpuSvc, copies));
  run('top fleet 30d', ['top', '--type', 'cpu', '--from', days30[0], '--to', days30[1], '--json'], 5, (s) => checkTop(top(s), truth.cpu, h30 * copies), cpuProfilesPerHour * h30);
  run('top service 30d', ['top', '--type', 'cpu', '--service', svc, '--from', days30[0], '--to', days30[1], '--json'], 5, (s) => checkTop(top(s), truth.cpuSvc, h30 * copies));
  run('heap (gauge) 30d', ['top', '--type', 'heap', '--from', days30[0], '--to', days30[1], '--json'], undefined, (s) => checkTop(top(s), truth.heap, copies));
  run('allocs (delta) 30d', ['top', '--type', 'allocs', '--from', days30[0], '--to', days30[1], '--json'], undefined, (s) => checkTop(top(s), truth.allocs, h30 * copies));
  // diff reads function_shares_1h/_1d: the rollup tier's hours count.
  if (rollupHours < 48) say(`diff two days          n/a: needs D >= 2 or --rollup-days >= 2 (the baseline day is empty)`);
  else run(
    'diff two days',
    ['diff', '--type', 'cpu', '--base-from', iso(endUs - 2 * DAY_US), '--base-to', iso(endUs - DAY_US), '--from', iso(endUs - DAY_US), '--to', iso(endUs), '--json'],
    5,
    (s) => {
      const d = JSON.parse(s) as { base: { total: number }; target: { total: number }; functions: { name: string; base: { cum: number }; p_value: number | null; significant: boolean }[] };
      const hb = 24;
      const ht = 24;
      const ok = d.base.total === truth.cpu.total * hb * copies && d.target.total === truth.cpu.total * ht * copies;
      // Identical days: every function's cum is 24 x copies x the source's, and no change (p = 1).
      const cums = new Map(truth.cpu.functions.map((f) => [f.name, f.cum]));
      const bad = d.functions.find((f) => f.base.cum !== (cums.get(f.name) ?? 0) * hb * copies || f.significant || f.p_value !== 1);
      return { ok: ok && !bad && d.functions.length === cums.size, detail: `totals ${d.base.total} / ${d.target.total} vs ${hb}h / ${ht}h x ${copies} x source; ${d.functions.length} functions, ${bad ? `WRONG ${bad.name}` : 'each cum = source x hours x copies, p = 1'}` };
    },
  );
  // gc reads gc_1h / gc_1d (the rollup tier's hours) for whole hours.
  run('gc 30d', ['gc', '--from', days30[0], '--to', days30[1], '--bucket', '1d', '--json'], 5, (s) => {
    const g = JSON.parse(s) as GcJson;
    const got = gcCycles(g);
    const exp = gcCycles(truth.gc);
    for (const [k, v] of exp) if (got.get(k) !== v * h30 * copies) return { ok: false, detail: `${k}: ${got.get(k)} cycles != ${h30 * copies} x ${v}` };
    const pauses = gcPausesMatch(g, truth.gc);
    if (pauses) return { ok: false, detail: pauses };
    return { ok: got.size === exp.size, detail: `cycles per service/version = ${h30 * copies} x source; every bucket's pause p50/p95/p99/max = source's` };
  });
  const fg = path.join(tmp, 'flame.html');
  run('flamegraph 1d', ['flamegraph', '--type', 'cpu', '--from', iso(endUs - DAY_US), '--to', iso(endUs), '--out', fg], 5, () => {
    const size = existsSync(fg) ? statSync(fg).size : 0;
    return { ok: size > 0, detail: `${size} bytes of HTML (not checked beyond existing)` };
  });
  if (!a.skipDigest) {
    run('digest 24h/7d', ['digest', '--to', iso(endUs), '--window', '24h', '--baseline', '7d', '--json'], 300, (s) => {
      // The tier's rollups are data of the baseline too (presence and the sides read them).
      return checkDigest(JSON.parse(s) as DigestJson, services, Math.max(a.days, a.rollupDays));
    });
  }
  report.queries = queries;

  // 4. go tool pprof -top over a measured subset, extrapolated to each window's CPU profiles
  report.pprof = pprofSideBySide(a, tmp, queries);
  rmSync(tmp, { recursive: true, force: true });

  if (a.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
}

/** CPU profiles in the source hour. */
function truthProfiles(source: string): number {
  const out = execFileSync(process.execPath, [CLI, 'sql', '--data', source, '--json', `SELECT count(*) AS n FROM profiles WHERE kind = 'cpu'`], { encoding: 'utf8' });
  return Number(parseSqlRows(out)[0]?.n);
}

function pprofSideBySide(a: Args, tmp: string, queries: QueryResult[]): Record<string, unknown> {
  // The source's individual CPU profiles (each copy is one of them), exported one by one.
  const rate = pprofRate(CLI, a.source, a.pprofSubset, path.join(tmp, 'pprof'));
  if ('error' in rate) return rate;
  const side = queries
    .filter((q) => q.profiles !== undefined && !q.error)
    .map((q) => {
      const pprofSeconds = rate.fixedSeconds + (rate.perProfileMs / 1000) * q.profiles!;
      q.pprofSeconds = pprofSeconds;
      return { query: q.name, profiles: q.profiles, fleetprofSeconds: q.seconds, pprofSecondsExtrapolated: pprofSeconds, ratio: pprofSeconds / q.seconds };
    });
  for (const s of side) {
    const line = `pprof -top ${s.query.padEnd(14)} ${String(s.profiles).padStart(10)} profiles: ~${s.pprofSecondsExtrapolated.toFixed(1)} s vs fleetprof ${s.fleetprofSeconds.toFixed(2)} s = ${s.ratio.toFixed(1)}x`;
    if (a.json) process.stderr.write(line + '\n');
    else process.stdout.write(line + '\n');
  }
  return { ...rate, sideBySide: side };
}


main().catch((e) => {
  process.stderr.write(`bench:fleet: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
