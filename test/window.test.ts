// Values over time (issue #10): windows of successive cumulative snapshots, checked against
// `go tool pprof -top -base <last before> <last in window>` to the integer.
//
// test/fixtures/cumulative holds two runs of test/fixtures/cumprog (scripts/gen-cumulative-fixtures.sh):
// one instance writing cumulative allocs/heap/block/mutex/goroutine snapshots every second, then
// restarted (run2). Windows are placed between snapshots, from the snapshots' own times.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeProfile } from '../lib/decode';
import type { ProfileKind } from '../lib/model/profile';
import { valueClass as valueClassOf, type GaugeAggregate } from '../lib/model/temporality';
import { top, type TopResult } from '../lib/query/top';
import { diff, diffPartitionFilter } from '../lib/query/diff';
import { flameGraph, flamePartitionFilter } from '../lib/query/flamegraph';
import { windowPartitionFilter } from '../lib/query/window';
import { openLocalEngine } from '../bin/commands/engine';
import { goAvailable, pprofTop, warmUpPprof, type OracleTop } from './oracle/pprof';

const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
const FIX = path.join(__dirname, 'fixtures/cumulative');
const RUNS = ['run1', 'run2'] as const;
type Run = (typeof RUNS)[number];
const describeGo = goAvailable() ? describe : describe.skip;

const file = (run: Run, seq: number, kind: string) => path.join(FIX, run, `${String(seq).padStart(2, '0')}_${kind}.pb.gz`);
const timeUs = (f: string) => Number(BigInt(decodeProfile(readFileSync(f)).timeNanos) / 1000n);
const N = readdirSync(path.join(FIX, 'run1')).filter((f) => f.endsWith('_allocs.pb.gz')).length;
/** Between snapshot k and k+1 of a run (k = N: between run1's last and run2's first). */
const mid = (run: Run, k: number): number => {
  const a = timeUs(file(run, k, 'allocs'));
  const b = k < N ? timeUs(file(run, k + 1, 'allocs')) : timeUs(file('run2', 1, 'allocs'));
  return Math.round((a + b) / 2);
};

interface Snap {
  run: Run;
  seq: number;
}
interface Window {
  name: string;
  from?: number;
  to?: number;
  /** Last snapshot before the window of each series that has one in it. */
  bases: Snap[];
  /** Last snapshot in the window of each series. */
  lasts: Snap[];
  /** Gauges: every snapshot in the window. */
  all: Snap[];
}

const range = (run: Run, a: number, b: number): Snap[] => Array.from({ length: b - a + 1 }, (_, i) => ({ run, seq: a + i }));
let W: Window[] = [];

function windows(): Window[] {
  return [
    { name: 'inside run1', from: mid('run1', 3), to: mid('run1', 6), bases: [{ run: 'run1', seq: 3 }], lasts: [{ run: 'run1', seq: 6 }], all: range('run1', 4, 6) },
    { name: 'from process start', to: mid('run1', 4), bases: [], lasts: [{ run: 'run1', seq: 4 }], all: range('run1', 1, 4) },
    {
      name: 'across the restart',
      from: mid('run1', 5),
      to: mid('run2', 3),
      bases: [{ run: 'run1', seq: 5 }],
      lasts: [
        { run: 'run1', seq: N },
        { run: 'run2', seq: 3 },
      ],
      all: [...range('run1', 6, N), ...range('run2', 1, 3)],
    },
    {
      name: 'everything',
      bases: [],
      lasts: [
        { run: 'run1', seq: N },
        { run: 'run2', seq: N },
      ],
      all: [...range('run1', 1, N), ...range('run2', 1, N)],
    },
    { name: 'after the restart', from: mid('run2', 2), to: mid('run2', 6), bases: [{ run: 'run2', seq: 2 }], lasts: [{ run: 'run2', seq: 6 }], all: range('run2', 3, 6) },
    { name: 'one snapshot', from: mid('run1', 2), to: mid('run1', 3), bases: [{ run: 'run1', seq: 2 }], lasts: [{ run: 'run1', seq: 3 }], all: [{ run: 'run1', seq: 3 }] },
  ];
}

function oracleBase(kind: ProfileKind, st: string, w: Window): OracleTop {
  const f = (s: Snap) => file(s.run, s.seq, kind);
  return pprofTop(w.lasts.map(f), { sampleIndex: st, extraArgs: w.bases.flatMap((b) => ['-base', f(b)]) });
}

/** The comparable shape: total and name -> [flat, cum] (exact integers). */
function shape(total: bigint, rows: { name: string; flat: bigint | number; cum: bigint | number }[]) {
  const fns: Record<string, [string, string]> = {};
  for (const r of rows) fns[r.name] = [String(r.flat), String(r.cum)];
  return { total: String(total), fns };
}
const ours = (r: TopResult) => shape(BigInt(r.total), r.functions);
const theirs = (o: OracleTop) => shape(o.total, o.rows);

let plain: string; // no process identity: the restart is found by counters going down
let byProcess: string; // each run declares its process identity

function ingest(data: string, run: Run, extra: string[] = []) {
  const r = spawnSync(process.execPath, [CLI, 'ingest', '--data', data, '--service', 'cum', '--instance', 'i1', ...extra, path.join(FIX, run)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}

async function libTop(data: string, kind: ProfileKind, sampleType: string, w: { from?: number; to?: number }, more: { aggregate?: GaugeAggregate; lookbackUs?: number } = {}) {
  const q = { kind, sampleType, fromUs: w.from, toUs: w.to, ...more };
  const e = await openLocalEngine(data, windowPartitionFilter(q));
  try {
    return await top(e, q);
  } finally {
    e.close();
  }
}

beforeAll(() => {
  W = windows();
  plain = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-window-'));
  byProcess = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-window-p-'));
  for (const run of RUNS) {
    ingest(plain, run);
    ingest(byProcess, run, ['--process', run]);
  }
  if (goAvailable()) warmUpPprof();
}, 600_000);

afterAll(() => {
  for (const d of [plain, byProcess]) if (d) rmSync(d, { recursive: true, force: true });
});

const COUNTERS: [ProfileKind, string][] = [
  ['allocs', 'alloc_space'],
  ['allocs', 'alloc_objects'],
  ['heap', 'alloc_space'],
  ['block', 'delay'],
  ['mutex', 'contentions'],
];

describeGo('counters uploaded cumulative = go tool pprof -top -base, per process', () => {
  test.each(COUNTERS)('%s %s over every window', async (kind, st) => {
    for (const w of W) {
      const want = theirs(oracleBase(kind, st, w));
      expect({ w: w.name, ...ours(await libTop(plain, kind, st, w)) }).toEqual({ w: w.name, ...want });
    }
  }, 300_000);

  test('a declared process identity gives the same answers', async () => {
    for (const w of W) {
      expect(ours(await libTop(byProcess, 'allocs', 'alloc_space', w))).toEqual(ours(await libTop(plain, 'allocs', 'alloc_space', w)));
    }
  }, 120_000);

  test('adding up the snapshots (what fleetprof did before) is far from the increase', async () => {
    const w = W[0];
    const inc = await libTop(plain, 'allocs', 'alloc_space', w);
    const naive = pprofTop(w.all.map((s) => file(s.run, s.seq, 'allocs')), { sampleIndex: 'alloc_space' });
    expect(naive.total).toBeGreaterThan(2n * BigInt(inc.total));
  }, 120_000);

  test('a look-back shorter than the period counts the window from process start (documented)', async () => {
    const w = W[0];
    const r = await libTop(plain, 'allocs', 'alloc_space', w, { lookbackUs: 100_000 });
    expect(ours(r)).toEqual(theirs(pprofTop([file('run1', 6, 'allocs')], { sampleIndex: 'alloc_space' })));
  }, 120_000);

  test('fleetprof top --json (CLI) across the restart', () => {
    const w = W[2];
    const r = spawnSync(
      process.execPath,
      [CLI, 'top', '--data', plain, '--type', 'block', '--sample-type', 'delay', '--from', new Date(w.from! / 1000).toISOString(), '--to', new Date(w.to! / 1000).toISOString(), '--json'],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    // The CLI takes milliseconds: the window's bounds are mid-points a second apart from any snapshot.
    expect(ours(JSON.parse(r.stdout) as TopResult)).toEqual(theirs(oracleBase('block', 'delay', w)));
  }, 120_000);
});

/** Per instance (one here): each function's mean over the snapshots, rounded half away from zero. */
function averaged(files: string[], st: string) {
  const tops = files.map((f) => pprofTop([f], { sampleIndex: st }));
  const n = BigInt(tops.length);
  const div = (v: bigint) => (v >= 0n ? (2n * v + n) / (2n * n) : -((-2n * v + n) / (2n * n)));
  const acc = new Map<string, [bigint, bigint]>();
  for (const t of tops) for (const r of t.rows) {
    const a = acc.get(r.name) ?? [0n, 0n];
    acc.set(r.name, [a[0] + r.flat, a[1] + r.cum]);
  }
  const rows = [...acc].map(([name, [f, c]]) => ({ name, flat: div(f), cum: div(c) })).filter((r) => r.flat !== 0n || r.cum !== 0n);
  return { total: div(tops.reduce((a, t) => a + t.total, 0n)), rows, tops };
}

const GAUGES: [ProfileKind, string][] = [
  ['goroutine', 'goroutine'],
  ['heap', 'inuse_space'],
];

describeGo('gauges: per-instance time average (and max, last, sum)', () => {
  test.each(GAUGES)('%s %s', async (kind, st) => {
    for (const w of [W[0], W[2], W[5]]) {
      const files = w.all.map((s) => file(s.run, s.seq, kind));
      const avg = averaged(files, st);
      expect({ w: w.name, ...ours(await libTop(plain, kind, st, w)) }).toEqual({ w: w.name, ...shape(avg.total, avg.rows) });
      expect(ours(await libTop(plain, kind, st, w, { aggregate: 'last' }))).toEqual(theirs(avg.tops[avg.tops.length - 1]));
      expect(ours(await libTop(plain, kind, st, w, { aggregate: 'sum' }))).toEqual(theirs(pprofTop(files, { sampleIndex: st })));
      let maxI = 0;
      avg.tops.forEach((t, i) => {
        if (t.total >= avg.tops[maxI].total) maxI = i;
      });
      expect(ours(await libTop(plain, kind, st, w, { aggregate: 'max' }))).toEqual(theirs(avg.tops[maxI]));
    }
  }, 300_000);
});

describe('every consumer uses the window', () => {
  test('flame graph root and diff cohort sums equal top on the same windows (counter and gauge)', async () => {
    for (const [kind, st] of [
      ['allocs', 'alloc_space'],
      ['heap', 'inuse_space'],
    ] as [ProfileKind, string][]) {
      const [a, c] = [W[0], W[2]];
      const ta = await libTop(plain, kind, st, a);
      const tc = await libTop(plain, kind, st, c);
      // Gauge averages round per stack in a flame graph (per function in top): compare with the exact 'last'.
      const agg = valueClassOf(kind, st) === 'gauge' ? ({ aggregate: 'last' } as const) : {};
      const [fa, fc] = agg.aggregate ? [await libTop(plain, kind, st, a, agg), await libTop(plain, kind, st, c, agg)] : [ta, tc];
      const fq = { kind, sampleType: st, fromUs: c.from, toUs: c.to, ...agg, base: { kind, fromUs: a.from, toUs: a.to, ...agg } };
      let e = await openLocalEngine(plain, flamePartitionFilter(fq));
      try {
        const g = await flameGraph(e, fq);
        expect([BigInt(g.total), BigInt(g.baseTotal)]).toEqual([BigInt(fc.total), BigInt(fa.total)]);
      } finally {
        e.close();
      }
      const dq = { kind, sampleType: st, base: { fromUs: a.from, toUs: a.to }, target: { fromUs: c.from, toUs: c.to } };
      e = await openLocalEngine(plain, diffPartitionFilter(dq));
      try {
        const d = await diff(e, dq);
        expect([BigInt(d.base.total), BigInt(d.target.total)]).toEqual([BigInt(ta.total), BigInt(tc.total)]);
        const byName = new Map(d.functions.map((f) => [f.name, f]));
        for (const f of tc.functions) expect([f.name, String(byName.get(f.name)?.target.cum)]).toEqual([f.name, String(f.cum)]);
        // Replicates: one per process series for counters (2 across the restart), one per instance for gauges.
        expect(d.target.profiles).toBe(valueClassOf(kind, st) === 'counter' ? 2 : 1);
      } finally {
        e.close();
      }
    }
  }, 120_000);
});

describeGo('SQL', () => {
  test('the increase_terms view gives ad-hoc SQL the numbers of top (fleetprof sql, across the restart)', () => {
    const w = W[2];
    const ts = (us: number) => `make_timestamp(${us})`;
    const sql = `SELECT f.function AS name, SUM(f.flat * t.weight) AS flat, SUM(f.cum * t.weight) AS cum
      FROM increase_terms t JOIN functions f ON f.profile_id = t.profile_id
      WHERE t.kind = 'mutex' AND f.sample_type = 'delay' AND t.snapshot_time >= ${ts(w.from!)} AND t.snapshot_time < ${ts(w.to!)}
      GROUP BY 1 HAVING SUM(f.flat * t.weight) <> 0 OR SUM(f.cum * t.weight) <> 0`;
    const r = spawnSync(process.execPath, [CLI, 'sql', '--data', plain, '--json', sql], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const res = JSON.parse(r.stdout) as { rows: [string, number, number][] };
    const want = theirs(oracleBase('mutex', 'delay', w));
    expect(shape(BigInt(want.total), res.rows.map(([name, flat, cum]) => ({ name, flat, cum }))).fns).toEqual(want.fns);
  }, 120_000);
});

describeGo('export', () => {
  test('an exported allocs window is the -base result in go tool pprof (every sample type: increases and gauge averages)', () => {
    const w = W[2];
    const out = path.join(plain, 'window.pb.gz');
    const r = spawnSync(
      process.execPath,
      [CLI, 'export', '--data', plain, '--type', 'allocs', '--from', new Date(w.from! / 1000).toISOString(), '--to', new Date(w.to! / 1000).toISOString(), '--out', out],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    for (const st of ['alloc_space', 'alloc_objects']) expect(theirs(pprofTop([out], { sampleIndex: st }))).toEqual(theirs(oracleBase('allocs', st, w)));
    // Gauges in an export are averaged per stack (rounded per stack, so within a unit per stack of
    // top's per-function rounding); with --aggregate last they are the last snapshot exactly.
    const last = path.join(plain, 'window-last.pb.gz');
    const r2 = spawnSync(
      process.execPath,
      [CLI, 'export', '--data', plain, '--type', 'allocs', '--aggregate', 'last', '--from', new Date(w.from! / 1000).toISOString(), '--to', new Date(w.to! / 1000).toISOString(), '--out', last],
      { encoding: 'utf8' },
    );
    expect(r2.status).toBe(0);
    expect(theirs(pprofTop([last], { sampleIndex: 'inuse_space' }))).toEqual(theirs(pprofTop([file('run2', 3, 'allocs')], { sampleIndex: 'inuse_space' })));
    expect(theirs(pprofTop([last], { sampleIndex: 'alloc_space' }))).toEqual(theirs(oracleBase('allocs', 'alloc_space', w)));
  }, 180_000);
});

describeGo('HTTP API', () => {
  test('GET /top answers the window like the CLI (counter across the restart, gauge with aggregate=)', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [CLI, 'serve', '--data', plain, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const base = await new Promise<string>((resolve, reject) => {
        let err = '';
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
          if (m) resolve(`http://127.0.0.1:${m[1]}`);
        });
        child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
      });
      const w = W[2];
      const iso = (us: number) => encodeURIComponent(new Date(us / 1000).toISOString());
      const res = await fetch(`${base}/top?type=allocs&sampleType=alloc_space&from=${iso(w.from!)}&to=${iso(w.to!)}`);
      expect(res.status).toBe(200);
      expect(ours((await res.json()) as TopResult)).toEqual(theirs(oracleBase('allocs', 'alloc_space', w)));
      const g = await fetch(`${base}/top?type=goroutine&from=${iso(w.from!)}&to=${iso(w.to!)}&aggregate=last`);
      expect(ours((await g.json()) as TopResult)).toEqual(theirs(pprofTop([file('run2', 3, 'goroutine')])));
      expect((await fetch(`${base}/top?type=goroutine&aggregate=median`)).status).toBe(400);
    } finally {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    }
  }, 120_000);
});
