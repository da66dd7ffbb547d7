// `top` over the last hour from a WARM process (issue #11 point 5's ">= 100x go tool pprof"): the
// request path of `fleetprof serve` and the query Lambda (lib/api/router.ts with lib/query/warm-top.ts,
// in this process), answering repeated requests while the hour changes under it, as in production:
// the last minute's batch files arrive between requests, then the merger replaces them.
//
//   node dist/bench/fresh-warm.js --source SRC --data MERGED --work DIR --instances I [--requests 40] [--slides 20]
//                                 [--cold 3] [--pprof-subset 32] [--pprof-repeat 3] [--prev PREV [--cross-slides 20]] [--json]
//
// - MERGED is a merged fresh hour (bench/fresh-batches.ts then bench/fresh-merge.ts: every minute
//   merged with pre-sums but the last, whose ~100 batch files per table are raw); it is only read.
// - DIR (deleted and rebuilt) gets MERGED's profiles, functions and functions_merge as hard links
//   (manifests copied: the merger rewrites them by rename), minus the last minute's batch files,
//   which then ARRIVE between the timed requests (functions before profiles, as ingest publishes),
//   evenly over the first half of the requests; then the merger (lib/store/merge.ts, the profiles
//   and functions tables, with pre-sums) merges them, untimed; the second half of the requests
//   sees the merged hour. Requests alternate fleet-wide and one service over [H, H+1h).
// - Then `--slides` requests over the last hour as it slides, [S, S + 1h) with S inside minute k's
//   merge (k = 1, 2, ...; SRC's instances profile at seconds 0-3 of each minute): that merge is cut
//   by the window and read raw, every later one summed.
// - Every 5th request and every slide is checked against the engine path (lib/query/top.ts over an
//   engine on the same files, as a cold request answers), the final [H, H+1h) answers against the
//   truth (I/N x SRC's `top`). Latency: wall time of handleApiRequest (listing, summaries of new
//   files, the sums, JSON), p50/p90.
// - The cold CLI (`fleetprof top`, a child process, median of --cold) on the final DIR, and `go
//   tool pprof -top` over 32 and 512 of SRC's CPU profiles in this run (bench/pprof-peer.ts, the
//   fastest of 3 each), extrapolated to the hour's I x 60 CPU profiles.
// - With --prev PREV (a layout holding the compacted hour before SRC's, e.g. the fleet simulator's
//   over the same SRC): the last hour reaching into that compacted previous hour (prevHourPhase).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { handleApiRequest, type ApiDeps } from '../lib/api/router';
import { lambdaDuckDbSettings } from '../lib/aws/runtime';
import { MERGE_FUNCTION } from '../lib/aws/resources';
import { openEngine } from '../lib/query/open';
import { top, topPartitionFilter, type TopQuery } from '../lib/query/top';
import { exactJson } from '../lib/query/json';
import { WarmTop } from '../lib/query/warm-top';
import { isMergeBatch, mergeOpen } from '../lib/store/merge';
import { readManifest, writeManifest } from '../lib/store/manifest';
import { hourJobTag } from '../lib/store/hour-job-names';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { pprofRate } from './pprof-peer';

const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const HOUR_MS = 3_600_000;
const TABLES = ['profiles', 'functions', 'functions_merge'] as const;

const arg = (argv: string[], n: string) => {
  const i = argv.indexOf(n);
  return i >= 0 ? argv[i + 1] : undefined;
};
const iso = (ms: number) => new Date(ms).toISOString();
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

/** Hard links of a tree, manifests (and anything not Parquet) copied. */
function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const [a, b] = [path.join(from, e.name), path.join(to, e.name)];
    if (e.isDirectory()) linkTree(a, b);
    else if (e.name.endsWith('.parquet')) linkSync(a, b);
    else copyFileSync(a, b);
  }
}

interface TopJson {
  total: number | string;
  functions: { name: string; flat: number | string; cum: number | string }[];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const source = arg(argv, '--source');
  const merged = arg(argv, '--data');
  const work = arg(argv, '--work');
  const instances = Number(arg(argv, '--instances'));
  if (!source || !merged || !work || !(instances > 0)) throw new Error('usage: node dist/bench/fresh-warm.js --source SRC --data MERGED --work DIR --instances I [--requests 40] [--slides 20] [--cold 3] [--json]');
  const requests = Number(arg(argv, '--requests') ?? 40);
  const slides = Number(arg(argv, '--slides') ?? 20);
  const coldRuns = Number(arg(argv, '--cold') ?? 3);
  const subset = Number(arg(argv, '--pprof-subset') ?? 32);
  const pprofRepeat = Number(arg(argv, '--pprof-repeat') ?? 3);
  const json = argv.includes('--json');
  const say = (s: string) => (json ? process.stderr : process.stdout).write(s + '\n');
  const load0 = os.loadavg();

  // SRC: its hour, instances and a service (as bench/fresh-hour.ts).
  const src = JSON.parse(execFileSync(process.execPath, [CLI, 'sql', '--data', source, '--json', `SELECT min(epoch_us(time)) AS t, count(DISTINCT instance) AS n, min(service) AS svc FROM profiles`], { encoding: 'utf8' })) as {
    rows: unknown[][];
  };
  const [t0, nSrc, svc] = [Number(src.rows[0][0]) / 1000, Number(src.rows[0][1]), String(src.rows[0][2])];
  const hourMs = Math.floor(t0 / HOUR_MS) * HOUR_MS;
  const factor = instances / nSrc;

  // DIR: MERGED's tables top reads, without the last minute's batch files (they arrive below).
  rmSync(work, { recursive: true, force: true });
  for (const t of TABLES) {
    if (existsSync(path.join(merged, t))) linkTree(path.join(merged, t), path.join(work, t));
    linkTree(path.join(merged, 'fresh', t), path.join(work, 'fresh', t));
  }
  const store = new LocalStore(work);
  const dt = iso(hourMs).slice(0, 10);
  const hourDir = (t: string) => path.join('fresh', t, `dt=${dt}`, `hour=${iso(hourMs).slice(11, 13)}`);
  const mergedKeys = new Set((await readManifest(store, 'profiles', dt)).manifest.merged);
  const rawBatches = readdirSync(path.join(work, hourDir('profiles')))
    .filter((n) => n.endsWith('.parquet') && !isMergeBatch(n.split('.')[0]) && !mergedKeys.has(`${hourDir('profiles')}/${n}`.split(path.sep).join('/')))
    .sort();
  for (const n of rawBatches) for (const t of ['profiles', 'functions']) rmSync(path.join(work, hourDir(t), n));
  say(`DIR ${work}: ${instances} instances (${factor} x SRC), hour ${iso(hourMs)}; ${rawBatches.length} last-minute batches arrive during the first ${requests / 2} requests; load ${load0.map((x) => x.toFixed(1)).join(' ')}`);

  const warm = new WarmTop(store, work, { settings: { memoryLimit: '1024MB' } });
  const deps: ApiDeps = { openEngine: (filter) => openEngine(store, filter, [work]), warmTop: warm };
  const queryOf = (fromMs: number, toMs: number, service?: string) => `type=cpu&from=${iso(fromMs)}&to=${iso(toMs)}${service ? `&service=${service}` : ''}`;
  const ask = async (fromMs: number, toMs: number, service?: string) => {
    const t = process.hrtime.bigint();
    const r = await handleApiRequest({ method: 'GET', path: '/top', query: queryOf(fromMs, toMs, service) }, deps);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 200) throw new Error(`GET /top ${queryOf(fromMs, toMs, service)}: ${r.status} ${String(r.body).slice(0, 300)}`);
    return { ms, body: String(r.body), stats: warm.last };
  };
  /** The engine path's answer for the same request (a cold request's: a new engine over the listing). */
  const engineAnswer = async (fromMs: number, toMs: number, service?: string) => {
    const q: TopQuery = { kind: 'cpu', fromUs: fromMs * 1000, toUs: toMs * 1000, service, by: 'flat' };
    const e = await openEngine(store, topPartitionFilter(q), [work]);
    try {
      return exactJson(await top(e, q));
    } finally {
      e.close();
    }
  };
  let checked = 0;
  const check = async (got: string, fromMs: number, toMs: number, service?: string) => {
    const want = await engineAnswer(fromMs, toMs, service);
    if (got !== want) throw new Error(`warm answer differs from the engine path for ${queryOf(fromMs, toMs, service)}`);
    checked++;
  };

  const H0 = hourMs;
  const H1 = hourMs + HOUR_MS;
  const first = await ask(H0, H1);
  say(`first request (every file summarized): ${first.ms.toFixed(0)} ms, ${JSON.stringify(first.stats)}`);
  await check(first.body, H0, H1);

  const lat = { fleet: [] as number[], service: [] as number[] };
  const phase = { arriving: [] as number[], merged: [] as number[] };
  const perStep = Math.ceil(rawBatches.length / Math.max(1, Math.floor(requests / 2)));
  let next = 0;
  let mergeS = NaN;
  for (let i = 0; i < requests; i++) {
    // Arrivals: functions then profiles (ingest publishes profiles last).
    for (const n of rawBatches.slice(next, next + perStep)) for (const t of ['functions', 'profiles']) linkSync(path.join(merged, hourDir(t), n), path.join(work, hourDir(t), n));
    next += perStep;
    if (i === Math.floor(requests / 2)) {
      const db = await openDuckDb({ ...lambdaDuckDbSettings({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(MERGE_FUNCTION.memoryMb), HOME: os.homedir() }), tempDirectory: path.join(work, '.duckdb') });
      const w = await ParquetWriter.create(db);
      const m0 = process.hrtime.bigint();
      try {
        const r = await mergeOpen(store, w, { now: H1 + 90_000, tables: ['profiles', 'functions'] });
        mergeS = Number(process.hrtime.bigint() - m0) / 1e9;
        say(`merger (untimed, between requests ${i} and ${i + 1}): ${r.merges} merges of ${r.filesMerged} files, ${r.sumsFiles} pre-sums, ${mergeS.toFixed(1)} s`);
      } finally {
        w.close();
        db.closeSync();
      }
    }
    const service = i % 2 === 1 ? svc : undefined;
    const r = await ask(H0, H1, service);
    (service ? lat.service : lat.fleet).push(r.ms);
    (i < Math.floor(requests / 2) ? phase.arriving : phase.merged).push(r.ms);
    say(`request ${String(i + 1).padStart(3)} ${service ? 'service' : 'fleet  '} ${r.ms.toFixed(1).padStart(7)} ms  ${JSON.stringify(r.stats)}`);
    if (i % 5 === 4) await check(r.body, H0, H1, service);
  }
  // The final answers against the truth: I/N x SRC's top over the same hour.
  const truth = (service?: string) => JSON.parse(execFileSync(process.execPath, [CLI, 'top', '--type', 'cpu', '--from', iso(H0), '--to', iso(H1), ...(service ? ['--service', service] : []), '--json', '--data', source], { encoding: 'utf8' })) as TopJson;
  const truths = new Map<string, TopJson>();
  const matchesTruth = (body: string, want: TopJson) => {
    const got = JSON.parse(body) as TopJson;
    return !(Number(got.total) !== Number(want.total) * factor || got.functions.length !== want.functions.length || got.functions.some((f) => {
      const w = want.functions.find((x) => x.name === f.name);
      return !w || Number(f.flat) !== Number(w.flat) * factor || Number(f.cum) !== Number(w.cum) * factor;
    }));
  };
  for (const service of [undefined, svc]) {
    truths.set(service ?? '', truth(service));
    if (!matchesTruth((await ask(H0, H1, service)).body, truths.get(service ?? '')!)) throw new Error(`final ${service ?? 'fleet'} answer is not ${factor} x SRC's`);
  }

  const slid: number[] = [];
  for (let k = 1; k <= slides; k++) {
    // The window's start inside minute k's merge (SRC's instances profile at seconds 0-3 of each minute).
    const from = H0 + k * 60_000 + ((k % 3) + 0.5) * 1000;
    const r = await ask(from, from + HOUR_MS, k % 2 === 0 ? svc : undefined);
    slid.push(r.ms);
    if (k <= 3) say(`slide ${k}: ${r.ms.toFixed(1)} ms ${JSON.stringify(r.stats)}`);
    await check(r.body, from, from + HOUR_MS, k % 2 === 0 ? svc : undefined);
  }
  const finalFleet = exactJson(JSON.parse((await ask(H0, H1)).body));
  const prev = arg(argv, '--prev');
  const cross = prev ? await prevHourPhase({ work, prev, store, hourMs, svc, slides: Number(arg(argv, '--cross-slides') ?? 20), warm, ask, engineAnswer, say, truthOk: (body, service) => matchesTruth(body, truths.get(service ?? '')!) }) : null;
  warm.close();

  const cold: number[] = [];
  for (let i = 0; i < coldRuns; i++) {
    const t = process.hrtime.bigint();
    const c = spawnSync(process.execPath, [CLI, 'top', '--type', 'cpu', '--from', iso(H0), '--to', iso(H1), '--json', '--data', work], { encoding: 'utf8', maxBuffer: 1 << 28 });
    cold.push(Number(process.hrtime.bigint() - t) / 1e9);
    if (c.status !== 0 || exactJson(JSON.parse(c.stdout)) !== finalFleet) throw new Error(`cold CLI: exit ${c.status} or a different answer: ${c.stderr.slice(0, 300)}`);
  }

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fresh-warm-'));
  const pp = pprofRate(CLI, source, subset, path.join(tmp, 'pprof'), pprofRepeat);
  rmSync(tmp, { recursive: true, force: true });
  const profiles = instances * 60;
  const pprofS = 'perProfileMs' in pp ? pp.fixedSeconds + (pp.perProfileMs / 1000) * profiles : NaN;
  const warmAll = [...lat.fleet, ...lat.service];
  const report = {
    loadavg: load0,
    loadavgEnd: os.loadavg(),
    instances,
    hour: iso(hourMs),
    arrivals: rawBatches.length,
    mergeS,
    firstMs: first.ms,
    warmMs: {
      fleet: { p50: pct(lat.fleet, 0.5), p90: pct(lat.fleet, 0.9) },
      service: { p50: pct(lat.service, 0.5), p90: pct(lat.service, 0.9) },
      all: { p50: pct(warmAll, 0.5), p90: pct(warmAll, 0.9) },
      sliding: { p50: pct(slid, 0.5), p90: pct(slid, 0.9) },
      arriving: { p50: pct(phase.arriving, 0.5), p90: pct(phase.arriving, 0.9) },
      merged: { p50: pct(phase.merged, 0.5), p90: pct(phase.merged, 0.9) },
    },
    checked,
    coldCliS: pct(cold, 0.5),
    coldRuns: cold,
    pprof: pp,
    pprofS,
    ratio: { warm: pprofS / (pct(warmAll, 0.5) / 1000), sliding: pprofS / (pct(slid, 0.5) / 1000), cold: pprofS / pct(cold, 0.5) },
    diskMb: Math.round(dirBytes(work) / 1e6),
    ...(cross ? { cross: { ...cross, ratio: pprofS / (cross.warmMs.p50 / 1000) } } : {}),
  };
  say(
    `warm [H, H+1h) while the hour changes: fleet p50 ${report.warmMs.fleet.p50.toFixed(1)} / p90 ${report.warmMs.fleet.p90.toFixed(1)} ms, service p50 ${report.warmMs.service.p50.toFixed(1)} / p90 ${report.warmMs.service.p90.toFixed(1)} ms; ` +
      `sliding last hour p50 ${report.warmMs.sliding.p50.toFixed(1)} / p90 ${report.warmMs.sliding.p90.toFixed(1)} ms; ${checked} answers checked against the engine path, the final two against ${factor} x SRC`,
  );
  say(
    `  while batch files arrive (${perStep} batches = ${2 * perStep} files per request): p50 ${report.warmMs.arriving.p50.toFixed(1)} / p90 ${report.warmMs.arriving.p90.toFixed(1)} ms; ` +
      `after the merge: p50 ${report.warmMs.merged.p50.toFixed(1)} / p90 ${report.warmMs.merged.p90.toFixed(1)} ms; first request of the process ${first.ms.toFixed(0)} ms`,
  );
  say(`cold CLI ${report.coldCliS.toFixed(2)} s (runs ${cold.map((x) => x.toFixed(2)).join(', ')})`);
  say(
    'perProfileMs' in pp
      ? `go tool pprof -top (${Object.entries(pp.measured).map(([n, t]) => `${n} profiles ${t.toFixed(2)} s`).join(', ')}): ${pp.perProfileMs.toFixed(3)} ms/profile + ${pp.fixedSeconds.toFixed(2)} s, ${profiles} profiles ~${pprofS.toFixed(1)} s: warm ${report.ratio.warm.toFixed(0)}x, sliding ${report.ratio.sliding.toFixed(0)}x, cold CLI ${report.ratio.cold.toFixed(1)}x`
      : `pprof: ${pp.error}`,
  );
  if (cross)
    say(
      `last hour reaching into the compacted previous hour (${cross.slides} windows, minutes 7-59 of the hour, from its kept inputs): warm p50 ${cross.warmMs.p50.toFixed(1)} / p90 ${cross.warmMs.p90.toFixed(1)} ms (${report.cross!.ratio.toFixed(0)}x pprof), ` +
        `engine path on the same windows p50 ${cross.engineMs.p50.toFixed(0)} / p90 ${cross.engineMs.p90.toFixed(0)} ms; first request after the compaction read ${cross.readAfterSwitch} files; every answer equal to the engine's and to ${factor} x SRC`,
    );
  say(`load ${load0.map((x) => x.toFixed(1)).join(' ')} at the start, ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at the end`);
  if (json) process.stdout.write(JSON.stringify(report) + '\n');
}

/**
 * The production case of the last hour (`--prev PREV`): for minutes 7-59 of every hour it reaches
 * into the previous hour, which the compaction has rewritten (lib/store/compact-jobs.ts) and whose
 * fresh inputs it keeps until the hour leaves the last hour (manifest.ts RETAIN_INPUTS_MS). Here:
 *   1. DIR's hour H's live fresh files (profiles, functions, their pre-sums) copied into hour H-1
 *      with every timestamp an hour earlier (untimed): the previous hour as the process saw it
 *      while it was fresh; a few requests over windows reaching it warm the summaries;
 *   2. hour H-1 "compacted": PREV's compacted files of H-1 (the fleet simulator's compaction of the
 *      same SRC hour shifted by an hour: the same rows) linked in under the name the compaction of
 *      step 1's files gives them (hour-job-names.ts hourJobTag), and the manifests swapped as
 *      finalizeJob does (outputs live, inputs merged and retired with their `until`); PREV's hour
 *      rollups of top's tables linked in. A 1,000-instance hour's real compaction takes ~28 min on
 *      this machine under load (its profiles and functions are the same rows PREV holds);
 *      test/warm-top.test.ts runs the real one;
 *   3. `slides` requests over [H - 1h + x, H + x) for x from 7 to 59 minutes (fleet and one service
 *      alternating), each checked against the engine path (timed: the path such a request took
 *      before) and against the truth: the window holds every minute of SRC's hour once (H-1 from x,
 *      H up to x), so every answer is I/N x SRC's `top` of the hour.
 */
async function prevHourPhase(o: {
  work: string;
  prev: string;
  store: LocalStore;
  hourMs: number;
  svc: string;
  slides: number;
  warm: WarmTop;
  ask: (fromMs: number, toMs: number, service?: string) => Promise<{ ms: number; body: string; stats?: unknown }>;
  engineAnswer: (fromMs: number, toMs: number, service?: string) => Promise<string>;
  say: (s: string) => void;
  truthOk: (body: string, service?: string) => boolean;
}): Promise<{ slides: number; inputs: number; shiftS: number; warmMs: { p50: number; p90: number }; engineMs: { p50: number; p90: number }; readAfterSwitch: number; samples: number[] }> {
  const { work, prev, store, hourMs, svc, warm, say } = o;
  const H = hourMs;
  const P = H - HOUR_MS;
  const [dt, pdt] = [iso(H).slice(0, 10), iso(P).slice(0, 10)];
  const hh = (ms: number) => `hour=${iso(ms).slice(11, 13)}`;
  const rel = (t: string, day: string, ms: number) => ['fresh', t, `dt=${day}`, hh(ms)].join('/');
  // 1. H's live files, an hour earlier.
  const inputs = new Map<string, string[]>();
  const t0 = process.hrtime.bigint();
  const db = await openDuckDb({ memoryLimit: '1024MB', tempDirectory: path.join(work, '.duckdb') });
  const conn = await db.connect();
  try {
    const live = async (t: string) => {
      const merged = new Set((await readManifest(store, t, dt)).manifest.merged);
      return readdirSync(path.join(work, rel(t, dt, H))).filter((n) => n.endsWith('.parquet') && !merged.has(`${rel(t, dt, H)}/${n}`));
    };
    const fn = new Set(await live('functions'));
    const names: Record<string, string[]> = { profiles: await live('profiles'), functions: [...fn], functions_merge: readdirSync(path.join(work, rel('functions_merge', dt, H))).filter((n) => fn.has(n)) };
    for (const [t, ns] of Object.entries(names)) {
      mkdirSync(path.join(work, rel(t, pdt, P)), { recursive: true });
      for (const n of ns) {
        const [from, to] = [path.join(work, rel(t, dt, H), n), path.join(work, rel(t, pdt, P), n)];
        const cols = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${from}')`)).getRowObjectsJS();
        const ts = cols.filter((c) => String(c.column_type).startsWith('TIMESTAMP')).map((c) => `"${String(c.column_name)}" - INTERVAL 1 HOUR AS "${String(c.column_name)}"`);
        await conn.run(`COPY (SELECT * ${ts.length > 0 ? `REPLACE (${ts.join(', ')})` : ''} FROM read_parquet('${from}')) TO '${to}' (FORMAT parquet, COMPRESSION zstd)`);
      }
      if (t !== 'functions_merge') inputs.set(t, ns.map((n) => `${rel(t, pdt, P)}/${n}`).sort((a, b) => (a < b ? -1 : 1)));
    }
  } finally {
    conn.closeSync();
    db.closeSync();
  }
  const shiftS = Number(process.hrtime.bigint() - t0) / 1e9;
  say(`previous hour ${iso(P)}: ${inputs.get('profiles')!.length} + ${inputs.get('functions')!.length} fresh files (and pre-sums) copied an hour earlier in ${shiftS.toFixed(1)} s (untimed)`);
  const windowAt = (k: number) => {
    // x from 7 to 59 minutes, inside a minute's profiles (SRC's instances profile at seconds 0-3).
    const x = Math.min(59, 7 + Math.floor((k * 52) / Math.max(1, o.slides))) * 60_000 + ((k % 3) + 0.5) * 1000;
    return [P + x, H + x] as const;
  };
  const askChecked = async (k: number, engineMs?: number[]) => {
    const [from, to] = windowAt(k);
    const service = k % 2 === 1 ? svc : undefined;
    warm.last = undefined;
    const r = await o.ask(from, to, service);
    if (!warm.last) throw new Error(`[${iso(from)}, ${iso(to)}) took the engine path`);
    const e0 = process.hrtime.bigint();
    const want = await o.engineAnswer(from, to, service);
    engineMs?.push(Number(process.hrtime.bigint() - e0) / 1e6);
    if (exactJson(JSON.parse(r.body)) !== want) throw new Error(`warm answer differs from the engine path for [${iso(from)}, ${iso(to)})`);
    if (!o.truthOk(r.body, service)) throw new Error(`[${iso(from)}, ${iso(to)}) is not I/N x SRC's hour`);
    return r;
  };
  for (let k = 0; k < 3; k++) await askChecked(k); // the previous hour while fresh: its summaries read

  // 2. The compaction of H-1, as finalizeJob publishes it.
  for (const t of ['profiles', 'functions']) {
    const keys = inputs.get(t)!;
    const tag = hourJobTag(keys, []);
    const { manifest: pm } = await readManifest(new LocalStore(prev), t, pdt);
    const outs = pm.live.filter((f) => f.hours.length === 1 && f.hours[0] === new Date(P).getUTCHours());
    if (outs.length === 0) throw new Error(`${prev}: no compacted ${t} file of ${iso(P)}`);
    const dir = path.join(work, t, `dt=${pdt}`);
    mkdirSync(dir, { recursive: true });
    const live = outs.map((f) => {
      const name = f.name.replace(/^(h\d{2})-[0-9a-f]{24}/, `$1-${tag}`);
      linkSync(path.join(prev, t, `dt=${pdt}`, f.name), path.join(dir, name));
      return { ...f, name };
    });
    const at = H + 7 * 60_000;
    const { manifest: m, etag } = await readManifest(store, t, pdt);
    const next = { ...m, live: [...m.live, ...live], merged: [...new Set([...m.merged, ...keys])].sort(), retired: [...m.retired, ...keys.map((key) => ({ key, at, until: H + HOUR_MS }))] };
    if (!(await writeManifest(store, t, pdt, next, etag))) throw new Error(`${t} dt=${pdt}: manifest changed`);
  }
  for (const t of ['profiles_1h', 'functions_1h', 'function_shares_1h']) if (existsSync(path.join(prev, t))) linkTree(path.join(prev, t), path.join(work, t));

  // 3. The last hour sliding across the compacted previous hour.
  const first = await askChecked(0);
  const readAfterSwitch = (first.stats as { read: number }).read;
  say(`first request after the compaction: ${first.ms.toFixed(1)} ms ${JSON.stringify(first.stats)}`);
  const samples: number[] = [];
  const engineMs: number[] = [];
  for (let k = 1; k <= o.slides; k++) {
    const r = await askChecked(k, engineMs);
    samples.push(r.ms);
    if (k <= 3) say(`cross slide ${k}: ${r.ms.toFixed(1)} ms ${JSON.stringify(r.stats)}`);
  }
  return {
    slides: o.slides,
    inputs: inputs.get('profiles')!.length + inputs.get('functions')!.length,
    shiftS,
    warmMs: { p50: pct(samples, 0.5), p90: pct(samples, 0.9) },
    engineMs: { p50: pct(engineMs, 0.5), p90: pct(engineMs, 0.9) },
    readAfterSwitch,
    samples,
  };
}

function dirBytes(d: string): number {
  let n = 0;
  for (const e of readdirSync(d, { withFileTypes: true })) n += e.isDirectory() ? dirBytes(path.join(d, e.name)) : statSync(path.join(d, e.name)).size;
  return n;
}

main().catch((e) => {
  process.stderr.write(`fresh-warm: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
