// `fleetprof gc --json` against an independent computation: every number of every bucket is
// recomputed here in TypeScript from the parsed gctrace rows (no SQL), following the definitions in
// docs/cli.md, for several bucket widths and filters over the three real fixture logs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseGctrace } from '../lib/decode/formats/gctrace';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const FIXTURES = path.join(__dirname, 'fixtures/go');

interface Run {
  run: string;
  service: string;
  instance: string;
  version: string;
  startTime: string;
}
const RUNS = (JSON.parse(readFileSync(path.join(FIXTURES, 'MANIFEST.json'), 'utf8')) as { runs: Run[] }).runs;

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface Cycle {
  service: string;
  version: string;
  instance: string;
  stream: string;
  tNs: bigint;
  endNs: bigint;
  pause: bigint;
  forced: boolean;
  gcCpu: bigint;
  assist: bigint;
  background: bigint;
  idle: bigint;
  live: bigint;
  goal: bigint;
  procs: number;
}

// The parsed rows of every fixture log, with the identity the ingest gives them.
const CYCLES: Cycle[] = RUNS.flatMap((run) =>
  parseGctrace(readFileSync(path.join(FIXTURES, run.run, 'gctrace.log'), 'utf8'), { startUs: Date.parse(run.startTime) * 1000 }).cycles.map((c) => {
    const tNs = BigInt(c.timeUs) * 1000n;
    return {
      service: run.service,
      version: run.version,
      instance: run.instance,
      stream: `${run.run}#${c.segment}`,
      tNs,
      endNs: tNs + BigInt(c.sweepTermNs + c.markNs + c.markTermNs),
      pause: BigInt(c.pauseNs),
      forced: c.forced,
      gcCpu: BigInt(c.sweepTermCpuNs + c.assistCpuNs + c.backgroundCpuNs + c.idleCpuNs + c.markTermCpuNs),
      assist: BigInt(c.assistCpuNs),
      background: BigInt(c.backgroundCpuNs),
      idle: BigInt(c.idleCpuNs),
      live: BigInt(c.heapLiveBytes),
      goal: BigInt(c.heapGoalBytes),
      procs: c.procs,
    };
  }),
);

const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
const max = (xs: bigint[]) => xs.reduce((a, b) => (b > a ? b : a));
const big = (a: bigint, b: bigint) => (a > b ? a : b);
const small = (a: bigint, b: bigint) => (a < b ? a : b);
/** Nearest rank: the value at 1-based rank max(1, ceil(n * pct / 100)) of the sorted values. */
const nearestRank = (sorted: bigint[], pct: number) => sorted[Math.max(1, Math.ceil((sorted.length * pct) / 100)) - 1];
const exact = (v: bigint) => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());

interface Filter {
  bucketNs: bigint;
  fromNs?: bigint;
  toNs?: bigint;
  version?: string;
  instance?: string;
}

function expected(f: Filter): Record<string, unknown>[] {
  const sel = CYCLES.filter(
    (c) =>
      (f.fromNs === undefined || c.tNs >= f.fromNs) &&
      (f.toNs === undefined || c.tNs < f.toNs) &&
      (f.version === undefined || c.version === f.version) &&
      (f.instance === undefined || c.instance === f.instance),
  );
  // Streams: observed window [first start, last end] and the largest P.
  const streams = new Map<string, { sv: string; s: bigint; e: bigint; procs: number }>();
  for (const c of sel) {
    const st = streams.get(c.stream);
    const sv = `${c.service}|${c.version}`;
    if (!st) streams.set(c.stream, { sv, s: c.tNs, e: c.endNs, procs: c.procs });
    else streams.set(c.stream, { sv, s: small(st.s, c.tNs), e: big(st.e, c.endNs), procs: Math.max(st.procs, c.procs) });
  }
  const groups = new Map<string, Cycle[]>();
  for (const c of sel) {
    const b = (c.tNs / f.bucketNs) * f.bucketNs;
    const key = `${c.service}|${c.version}|${b.toString().padStart(24, '0')}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.keys()].sort().map((key) => {
    const cs = groups.get(key)!;
    const [service, version, bs] = key.split('|');
    const b = BigInt(bs);
    let covered = 0n;
    let capacity = 0n;
    for (const st of streams.values()) {
      if (st.sv !== `${service}|${version}`) continue;
      let lo = big(st.s, b);
      let hi = small(st.e, b + f.bucketNs);
      if (f.fromNs !== undefined) lo = big(lo, f.fromNs);
      if (f.toNs !== undefined) hi = small(hi, f.toNs);
      const overlap = big(0n, hi - lo);
      covered += overlap;
      capacity += overlap * BigInt(st.procs);
    }
    const n = cs.length;
    const pauses = cs.map((c) => c.pause).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    const assist = sum(cs.map((c) => c.assist));
    const mark = assist + sum(cs.map((c) => c.background)) + sum(cs.map((c) => c.idle));
    const liveSum = sum(cs.map((c) => c.live));
    const goalSum = sum(cs.map((c) => c.goal));
    const avg = (s: bigint) => (2n * s + BigInt(n)) / (2n * BigInt(n)); // half up
    return {
      service,
      version,
      start: new Date(Number(b / 1000000n)).toISOString(),
      cycles: n,
      cycles_per_min: n / (Number(covered) / 60e9),
      pause_p50_ns: exact(nearestRank(pauses, 50)),
      pause_p95_ns: exact(nearestRank(pauses, 95)),
      pause_p99_ns: exact(nearestRank(pauses, 99)),
      pause_max_ns: exact(max(pauses)),
      gc_cpu_fraction: Number(sum(cs.map((c) => c.gcCpu))) / Number(capacity),
      assist_share: mark === 0n ? null : Number(assist) / Number(mark),
      heap_live_avg_bytes: exact(avg(liveSum)),
      heap_live_max_bytes: exact(max(cs.map((c) => c.live))),
      heap_goal_avg_bytes: exact(avg(goalSum)),
      heap_goal_max_bytes: exact(max(cs.map((c) => c.goal))),
      goal_live_ratio: Number(goalSum) / Number(liveSum),
      instances: new Set(cs.map((c) => c.instance)).size,
      forced_cycles: cs.filter((c) => c.forced).length,
      covered_ns: exact(covered),
      source: 'gctrace',
      goroutines_avg: null,
      sched_latency_p99_ns: null,
    };
  });
}

const FLOATS = ['cycles_per_min', 'gc_cpu_fraction', 'assist_share', 'goal_live_ratio'];
const KEYS = [
  'service', 'version', 'start', 'cycles', 'cycles_per_min', 'pause_p50_ns', 'pause_p95_ns', 'pause_p99_ns', 'pause_max_ns',
  'gc_cpu_fraction', 'assist_share', 'heap_live_avg_bytes', 'heap_live_max_bytes', 'heap_goal_avg_bytes', 'heap_goal_max_bytes',
  'goal_live_ratio', 'instances', 'forced_cycles', 'covered_ns', 'source', 'goroutines_avg', 'sched_latency_p99_ns', 'diagnostics',
];

let data: string;
beforeAll(() => {
  data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-gc-trends-'));
  for (const run of RUNS) {
    const r = cli([
      'ingest', '--data', data, '--service', run.service, '--instance', run.instance, '--version', run.version,
      '--start', run.startTime, path.join(FIXTURES, run.run, 'gctrace.log'),
    ]);
    expect(r.code).toBe(0);
  }
});
afterAll(() => rmSync(data, { recursive: true, force: true }));

function gcJson(args: string[]): Record<string, unknown>[] {
  const r = cli(['gc', '--data', data, '--json', ...args]);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { buckets: Record<string, unknown>[] }).buckets;
}

function compare(got: Record<string, unknown>[], want: Record<string, unknown>[]): void {
  expect(got.map((b) => `${b.service} ${b.version} ${b.start}`)).toEqual(want.map((b) => `${b.service} ${b.version} ${b.start}`));
  got.forEach((g, i) => {
    expect(Object.keys(g)).toEqual(KEYS);
    const w = want[i];
    for (const k of KEYS) {
      if (k === 'diagnostics') continue;
      if (FLOATS.includes(k) && w[k] !== null) expect([k, g[k] as number]).toEqual([k, expect.closeTo(w[k] as number, 12)]);
      else expect([k, g[k]]).toEqual([k, w[k]]);
    }
  });
}

// The first fixture run starts at its startTime; a window cutting through it and the next run.
const t0 = BigInt(Date.parse(RUNS[0].startTime)) * 1000000n;

test.each<[string, string[], Filter]>([
  ['default 1h buckets', [], { bucketNs: 3600n * 1000000000n }],
  ['1s buckets (cycles and stream windows cut by bucket edges)', ['--bucket', '1s'], { bucketNs: 1000000000n }],
  ['7s buckets', ['--bucket', '7s'], { bucketNs: 7000000000n }],
  [
    '2s buckets inside --from/--to (windows clipped to the range)',
    ['--bucket', '2s', '--from', new Date(Number(t0 / 1000000n) + 1500).toISOString(), '--to', new Date(Number(t0 / 1000000n) + 13700).toISOString()],
    { bucketNs: 2000000000n, fromNs: t0 + 1500000000n, toNs: t0 + 13700000000n },
  ],
  ['--version v1 --bucket 1m', ['--version', 'v1', '--bucket', '1m'], { bucketNs: 60000000000n, version: 'v1' }],
  ['--instance i2', ['--instance', 'i2'], { bucketNs: 3600n * 1000000000n, instance: 'i2' }],
])('fleetprof gc --json equals the independent computation: %s', (_name, args, filter) => {
  const want = expected(filter);
  expect(want.length).toBeGreaterThan(0);
  compare(gcJson(args), want);
});

test('the real fixture logs trigger no diagnostic at any bucket width', () => {
  for (const bucket of ['1h', '1s', '3s']) {
    const buckets = gcJson(['--bucket', bucket]);
    expect(buckets.flatMap((b) => b.diagnostics as unknown[])).toEqual([]);
  }
});

test('the readable table: one line per bucket with the headline numbers', () => {
  const r = cli(['gc', '--data', data]);
  expect(r.code).toBe(0);
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^service\s+version\s+start\s+cycles\s+\/min\s+p50\s+p95\s+p99\s+max\s+gc cpu\s+assist\s+live avg\s+live max\s+goal avg\s+goal\/live$/);
  expect(lines.slice(1, 3).map((l) => l.split(/\s+/).slice(0, 4))).toEqual([
    ['svc-a', 'v1', '2026-11-21T20:00:00Z', String(expected({ bucketNs: 3600n * 1000000000n, version: 'v1' })[0].cycles)],
    ['svc-a', 'v2', '2026-11-21T20:00:00Z', String(expected({ bucketNs: 3600n * 1000000000n, version: 'v2' })[0].cycles)],
  ]);
  expect(lines[3]).toBe('no GC diagnostics');
});

test('a bad --bucket is refused with the reason', () => {
  const r = cli(['gc', '--data', data, '--bucket', '1w']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/--bucket: not a positive duration: a number with a unit ms, s, m, h or d/);
});
