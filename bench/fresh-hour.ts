// `top` over a fresh hour laid out as production writes it (issue #11 point 5; bench/fresh-batches.ts
// makes DIR): the hour a continuously watched fleet always has, before its compaction and rollups.
//
//   node dist/bench/fresh-hour.js --source SRC --data DIR --instances I [--repeat 3] [--pprof-subset 8]
//                                 [--peer-cli OLD/dist/bin/fleetprof.js] [--windows full,half] [--no-breakdown] [--no-pprof] [--json]
// DIR may be merged first (bench/fresh-merge.ts: every minute but the last merged, with pre-sums, as the stack's merger leaves it).
//
// - SRC is the simulator's source (bench/fleet-source.ts), DIR holds I = k x N instances of its hour.
// - Each query runs as the CLI in a child process (time, peak RSS) and is checked against the truth:
//   every function's flat and cum and the total = I/N x SRC's `top` over the same window, exactly.
//   Windows: the whole hour [H, H+1h) (the moment just before its compaction) and its first half
//   [H, H+30m) (a moment inside the hour: the window ends inside the fresh data); `A:B` is
//   [H+A min, H+B min), e.g. `-30:60` the last 90 minutes at H+1h, reaching into the hour before
//   (compacted, when DIR has it: every hour of DIR is a copy of SRC's, so the truth of a window is
//   the sum of SRC's `top` over each of its hour pieces, shifted onto SRC's hour, times I/N).
// - Where the time goes: the same steps in this process, each timed (listing; engine open with its
//   allowed paths; the views of profiles and functions, whose fresh form runs the dedupe keys query
//   over every fresh row; footers only; one scan of the functions' columns; top itself).
// - `go tool pprof -top` over a measured subset of SRC's CPU profiles (8 and 16 x 8 files), its time
//   per profile extrapolated to the window's profile count, as bench/fleet.ts does.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RAW_TABLE_NAMES } from '../lib/model/schema';
import { listTableFiles } from '../lib/query/open';
import { QueryEngine } from '../lib/query/engine';
import { top } from '../lib/query/top';
import { LocalStore } from '../lib/store/local';
import { tierSource } from '../lib/store/parquet';
import { TABLES } from '../lib/model/schema';
import { pprofRate } from './pprof-peer';

const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const HWM_HOOK = path.join(__dirname, 'hwm-hook.js');
const HOUR_US = 3_600_000_000;

interface TopJson {
  total: number;
  functions: { name: string; flat: number; cum: number }[];
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

const iso = (us: number) => new Date(us / 1000).toISOString();

/** A child's wall time, peak RSS and CPU time (user + system of all its threads: at load ~20 on 2 cores the wall time mostly measures the queue). */
function measure(bin: string, args: string[]): { seconds: number; cpuSeconds: number; peakMb: number; stdout: string; status: number | null; stderr: string } {
  const tag = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const hwm = path.join(os.tmpdir(), `fresh-hwm-${tag}`);
  const cpu = path.join(os.tmpdir(), `fresh-cpu-${tag}`);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--require', HWM_HOOK, bin, ...args], { env: { ...process.env, FLEETPROF_HWM_FILE: hwm, FLEETPROF_CPU_FILE: cpu }, encoding: 'utf8', maxBuffer: 1 << 30 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let peakMb = NaN;
  let cpuSeconds = NaN;
  try {
    peakMb = Number(readFileSync(hwm, 'utf8')) / 1024;
    cpuSeconds = Number(readFileSync(cpu, 'utf8')) / 1e6;
    rmSync(hwm, { force: true });
    rmSync(cpu, { force: true });
  } catch {
    /* died before its exit hook */
  }
  return { seconds, cpuSeconds, peakMb, stdout: r.stdout ?? '', status: r.status, stderr: r.stderr ?? '' };
}

function checkTop(got: TopJson, src: TopJson, factor: number): string | null {
  if (got.total !== src.total * factor) return `total ${got.total} != ${factor} x ${src.total}`;
  if (got.functions.length !== src.functions.length) return `${got.functions.length} functions, source has ${src.functions.length}`;
  const exp = new Map(src.functions.map((f) => [f.name, f]));
  for (const f of got.functions) {
    const e = exp.get(f.name);
    if (!e) return `unexpected function ${f.name}`;
    if (f.flat !== e.flat * factor || f.cum !== e.cum * factor) return `${f.name}: ${f.flat}/${f.cum} != ${factor} x ${e.flat}/${e.cum}`;
  }
  return null;
}

/** SRC's `top` over [fromUs, toUs) cut at hour edges, each piece shifted onto SRC's hour, summed by function (every hour of DIR is a copy of SRC's). */
function truthOf(source: string, args: (from: number, to: number) => string[], hourUs: number, fromUs: number, toUs: number): TopJson {
  const sum = new Map<string, { name: string; flat: number; cum: number }>();
  let total = 0;
  for (let a = fromUs; a < toUs; ) {
    const k = Math.floor((a - hourUs) / HOUR_US);
    const b = Math.min(toUs, hourUs + (k + 1) * HOUR_US);
    let piece: TopJson;
    try {
      piece = JSON.parse(execFileSync(process.execPath, [CLI, ...args(a - k * HOUR_US, b - k * HOUR_US), '--data', source], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as TopJson;
    } catch {
      piece = { total: 0, functions: [] }; // no profile in the piece (the CLI exits non-zero)
    }
    total += piece.total;
    for (const f of piece.functions) {
      const s = sum.get(f.name) ?? { name: f.name, flat: 0, cum: 0 };
      s.flat += f.flat;
      s.cum += f.cum;
      sum.set(f.name, s);
    }
    a = b;
  }
  return { total, functions: [...sum.values()].filter((f) => f.flat !== 0 || f.cum !== 0) };
}

async function timed<T>(phases: Record<string, number>, name: string, f: () => Promise<T>): Promise<T> {
  const t0 = process.hrtime.bigint();
  const r = await f();
  phases[name] = Number(process.hrtime.bigint() - t0) / 1e9;
  return r;
}

/** The CLI's `top` steps in this process, each timed. */
async function breakdown(data: string, fromUs: number, toUs: number, service?: string): Promise<Record<string, number>> {
  const phases: Record<string, number> = {};
  const files = await timed(phases, 'list', () => listTableFiles(new LocalStore(data), { fromUs, toUs }, { lazy: true }));
  phases.freshFiles = RAW_TABLE_NAMES.reduce((n, t) => n + files[t].fresh.length, 0);
  const engine = await timed(phases, 'open (allowed_paths)', () => QueryEngine.open(files, [data], {}, { lazyViews: true }));
  try {
    const fn = files.functions.fresh;
    await timed(phases, 'functions footers (count(*))', () => engine.rows(`SELECT count(*) AS n FROM ${tierSource(TABLES.functions, 'fresh', fn)}`));
    await timed(phases, 'functions scan (sum of flat, cum)', () => engine.rows(`SELECT sum(flat), sum(cum), count(DISTINCT function) FROM ${tierSource(TABLES.functions, 'fresh', fn)}`));
    await timed(phases, 'view profiles (dedupe keys)', () => engine.ensureViews(['profiles']));
    await timed(phases, 'view functions (dedupe keys)', () => engine.ensureViews(['functions']));
    await timed(phases, 'top (statements)', () => top(engine, { kind: 'cpu', fromUs, toUs, service }));
  } finally {
    engine.close();
  }
  return phases;
}

function pprofPerProfile(source: string, subset: number, tmp: string): { perProfileMs: number; fixedSeconds: number } | { error: string } {
  return pprofRate(CLI, source, subset, path.join(tmp, 'pprof'));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const source = arg(argv, '--source');
  const data = arg(argv, '--data');
  if (!source || !data) throw new Error('usage: node dist/bench/fresh-hour.js --source SRC --data DIR --instances I [--repeat N] [--pprof-subset M] [--peer-cli PATH] [--windows full,half] [--json]');
  const repeat = Number(arg(argv, '--repeat') ?? 3);
  const subset = Number(arg(argv, '--pprof-subset') ?? 8);
  const peer = arg(argv, '--peer-cli');
  const windows = (arg(argv, '--windows') ?? 'full,half').split(',');
  const json = argv.includes('--json');
  const say = (s: string) => (json ? process.stderr : process.stdout).write(s + '\n');
  const src = JSON.parse(execFileSync(process.execPath, [CLI, 'sql', '--data', source, '--json', `SELECT min(epoch_us(time)) AS t, count(DISTINCT instance) AS n, min(service) AS svc FROM profiles`], { encoding: 'utf8' })) as
    | Record<string, unknown>[]
    | { rows: unknown[][]; columns: ({ name: string } | string)[] };
  const srcRow = Array.isArray(src) ? src[0] : Object.fromEntries(src.columns.map((c, i) => [typeof c === 'string' ? c : c.name, src.rows[0][i]]));
  const hourUs = Math.floor(Number(srcRow.t) / HOUR_US) * HOUR_US;
  const srcInstances = Number(srcRow.n);
  const svc = String(srcRow.svc);
  // Given, not counted: `fleetprof sql` over 6,000 fresh files per table passes its 60 s limit.
  const nData = Number(arg(argv, '--instances'));
  if (!Number.isInteger(nData) || nData < 1) throw new Error('--instances I (the instances DIR holds) is required');
  const factor = nData / srcInstances;
  const report: Record<string, unknown> = { loadavg: os.loadavg().map((x) => Number(x.toFixed(2))), hour: iso(hourUs), instances: nData, factor };
  say(`DIR: ${nData} instances (${factor} x SRC), hour ${iso(hourUs)}, load ${os.loadavg()[0].toFixed(1)}`);
  const results: Record<string, unknown>[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fresh-hour-'));
  try {
    for (const w of windows) {
      const span = /^(-?\d+):(-?\d+)$/.exec(w);
      const fromUs = span ? hourUs + Number(span[1]) * 60_000_000 : hourUs;
      const toUs = span ? hourUs + Number(span[2]) * 60_000_000 : w === 'half' ? hourUs + HOUR_US / 2 : hourUs + HOUR_US;
      const label = span ? `[H${Number(span[1]) < 0 ? '' : '+'}${span[1]}m, H+${span[2]}m)` : w === 'half' ? '[H, H+30m)' : '[H, H+1h)';
      for (const service of [undefined, svc]) {
        const argsOf = (a: number, b: number) => ['top', '--type', 'cpu', '--from', iso(a), '--to', iso(b), ...(service ? ['--service', service] : []), '--json'];
        const args = argsOf(fromUs, toUs);
        const truth = truthOf(source, argsOf, hourUs, fromUs, toUs);
        const name = `top ${service ? 'service' : 'fleet'} ${label}`;
        const runs = (bin: string, n: number) =>
          Array.from({ length: n }, () => {
            const m = measure(bin, [...args, '--data', data]);
            const err = m.status !== 0 ? `exit ${m.status}: ${m.stderr.slice(0, 300)}` : checkTop(JSON.parse(m.stdout) as TopJson, truth, factor);
            return { seconds: m.seconds, cpuSeconds: m.cpuSeconds, peakMb: m.peakMb, error: err };
          });
        const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
        // The peer and this build alternate, so both see the same minutes of the machine's load.
        const own: ReturnType<typeof runs> = [];
        const theirs: ReturnType<typeof runs> = [];
        for (let i = 0; i < repeat; i++) {
          if (peer && i % 2 === 1) theirs.push(...runs(peer, 1));
          own.push(...runs(CLI, 1));
          if (peer && i % 2 === 0) theirs.push(...runs(peer, 1));
        }
        const line = (label: string, xs: ReturnType<typeof runs>) => {
          const e = xs.find((x) => x.error)?.error;
          say(
            `${label.padEnd(28)} ${med(xs.map((x) => x.seconds)).toFixed(2).padStart(7)} s wall (runs ${xs.map((x) => x.seconds.toFixed(2)).join(', ')}), ` +
              `${med(xs.map((x) => x.cpuSeconds)).toFixed(2)} CPU-s  peak ${Math.max(...xs.map((x) => x.peakMb)).toFixed(0)} MB  ${e ? `WRONG ${e}` : 'exact'}`,
          );
          return { seconds: med(xs.map((x) => x.seconds)), cpuSeconds: med(xs.map((x) => x.cpuSeconds)), all: xs.map((x) => x.seconds), peakMb: Math.max(...xs.map((x) => x.peakMb)), exact: !e, error: e };
        };
        const r: Record<string, unknown> = { query: name, ...line(name, own) };
        if (peer) r.peer = line('  peer (--peer-cli)', theirs);
        if (argv.includes('--no-breakdown')) {
          r.profiles = (nData * (toUs - fromUs)) / 60_000_000;
          results.push(r);
          continue;
        }
        r.breakdown = await breakdown(data, fromUs, toUs, service);
        say(`  in-process: ${Object.entries(r.breakdown as Record<string, number>).map(([k, v]) => `${k} ${k === 'freshFiles' ? v : v.toFixed(2) + ' s'}`).join('; ')}`);
        r.profiles = (nData * (toUs - fromUs)) / 60_000_000;
        results.push(r);
      }
    }
    const pp = argv.includes('--no-pprof') ? { error: 'not run (--no-pprof)' } : pprofPerProfile(source, subset, tmp);
    report.pprof = pp;
    if ('perProfileMs' in pp) {
      for (const r of results) {
        const s = pp.fixedSeconds + (pp.perProfileMs / 1000) * (r.profiles as number);
        r.pprofSeconds = s;
        say(`pprof -top ${String(r.query).padEnd(28)} ${r.profiles} profiles: ~${s.toFixed(1)} s (${pp.perProfileMs.toFixed(2)} ms/profile) = ${(s / (r.seconds as number)).toFixed(1)}x fleetprof`);
      }
    } else say(`pprof: ${pp.error}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  report.results = results;
  report.loadavgEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
  if (json) process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((e) => {
  process.stderr.write(`fresh-hour: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
