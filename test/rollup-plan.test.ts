// Rollups and the query planner (#11): answers over rollups + raw edges equal the raw-only path
// (itself checked against `go tool pprof -top` / `-base` in window.test.ts) for windows aligned to
// hours, unaligned, spanning a UTC day boundary, holding whole days, with hours not rolled up yet,
// for CPU, counters across restarts (with and without process identity) and gauges.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { LocalStore } from '../lib/store/local';
import { openDuckDb } from '../lib/store/parquet';
import { rollupStore } from '../lib/store/rollup';
import { top, type TopQuery } from '../lib/query/top';
import { planWindow } from '../lib/query/plan';
import { windowPartitionFilter } from '../lib/query/window';
import { openLocalEngine } from '../bin/commands/engine';
import type { ProfileKind } from '../lib/model/profile';
import type { QueryEngine } from '../lib/query/engine';
import { flameGraph } from '../lib/query/flamegraph';
import { exportMerged } from '../lib/query/export';
import { buildRollupTestData } from './helpers/rollup-data';
import { goAvailable, pprofTop, warmUpPprof } from './oracle/pprof';

const H = 3_600_000_000;
const M = 60_000_000;
const at = (iso: string) => Date.parse(iso) * 1000;

let dir: string;
let instance: DuckDBInstance;

beforeAll(async () => {
  dir = await buildRollupTestData();
  instance = await openDuckDb();
  const conn = await instance.connect();
  try {
    const store = new LocalStore(dir);
    // Nov 30 whole (its day form too) and Dec 1 until 02:00; then 03:00-05:00: hour 02 and
    // everything after 05:00 stay raw ("fresh").
    await rollupStore(store, conn, { fromUs: at('2026-11-30T00:00:00Z'), toUs: at('2026-12-01T02:00:00Z') });
    await rollupStore(store, conn, { fromUs: at('2026-12-01T03:00:00Z'), toUs: at('2026-12-01T05:00:00Z') });
  } finally {
    conn.closeSync();
  }
}, 600_000);

afterAll(() => {
  instance?.closeSync();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tally = { planned: 0, raw: 0 };

async function withEngine<T>(q: { fromUs?: number; toUs?: number; lookbackUs?: number; kind: ProfileKind }, f: (e: QueryEngine) => Promise<T>): Promise<T> {
  const e = await openLocalEngine(dir, windowPartitionFilter({ ...q, fromUs: q.fromUs === undefined ? undefined : q.fromUs - 6 * H }));
  try {
    return await f(e);
  } finally {
    e.close();
  }
}

async function both(e: QueryEngine, q: TopQuery) {
  const planned = await planWindow(e, q, q.sampleType!, 'functions');
  tally[planned ? 'planned' : 'raw']++;
  const viaPlan = await top(e, q);
  const raw = await top(e, { ...q, rollups: false });
  return { planned, viaPlan, raw };
}

const TYPES: [ProfileKind, string][] = [
  ['cpu', 'cpu'],
  ['heap', 'inuse_space'],
  ['heap', 'alloc_space'],
  ['allocs', 'alloc_objects'],
  ['goroutine', 'goroutine'],
  ['block', 'delay'],
  ['mutex', 'contentions'],
];

const WINDOWS: [string, string, string][] = [
  ['aligned, across midnight', '2026-11-30T22:00:00Z', '2026-12-01T02:00:00Z'],
  ['unaligned', '2026-11-30T21:37:00Z', '2026-12-01T03:13:00Z'],
  ['one hour', '2026-11-30T23:00:00Z', '2026-12-01T00:00:00Z'],
  ['whole days (day form, then hours and raw)', '2026-11-30T00:00:00Z', '2026-12-02T00:00:00Z'],
  ['day form + unaligned end in a fresh hour', '2026-11-30T00:00:00Z', '2026-12-01T02:41:00Z'],
  ['raw hour between rolled-up ones', '2026-12-01T00:17:00Z', '2026-12-01T05:00:00Z'],
  ['after the gap of c3', '2026-12-01T01:00:00Z', '2026-12-01T04:00:00Z'],
];

test.each(WINDOWS)('%s: rollups + raw edges = raw, every kind, sample type, service and version', async (_name, from, to) => {
  await withEngine({ kind: 'cpu', fromUs: at(from), toUs: at(to) }, async (e) => {
    for (const [kind, sampleType] of TYPES) {
      for (const service of [undefined, 'svc-a', 'cum']) {
        for (const version of service === 'svc-a' ? ['v1'] : [undefined]) {
          const q: TopQuery = { kind, sampleType, service, version, fromUs: at(from), toUs: at(to) };
          const r = await both(e, q);
          expect({ q, r: r.viaPlan }).toEqual({ q, r: r.raw });
        }
      }
    }
  });
});

test('gauge sum aggregate and look-backs other than an hour stay exact', async () => {
  const base = { fromUs: at('2026-11-30T22:00:00Z'), toUs: at('2026-12-01T02:30:00Z') };
  await withEngine({ kind: 'cpu', ...base }, async (e) => {
    for (const [kind, sampleType] of TYPES) {
      for (const more of [{ aggregate: 'sum' as const }, { lookbackUs: 30 * M }, { lookbackUs: 3 * H }, { aggregate: 'max' as const }]) {
        const q = { kind, sampleType, ...base, ...more };
        const r = await both(e, q);
        expect({ q, r: r.viaPlan }).toEqual({ q, r: r.raw });
      }
    }
  });
});

test('the planner reads rollups where they are exact, and not across a counter series silent for over an hour', async () => {
  const w = (from: string, to: string) => ({ fromUs: at(from), toUs: at(to) });
  await withEngine({ kind: 'cpu', ...w('2026-11-30T00:00:00Z', '2026-12-02T00:00:00Z') }, (e) => planned(e, w));
  // Most of the comparisons above went through rollups (the rest: the gap of c3, max, look-backs).
  expect(tally.planned).toBeGreaterThan(2 * tally.raw);
});

test('totals_1d: whole days\' totals summed over instances, equal to profiles_1h and to the raw rows; gauge means keep profiles_1h', async () => {
  const days = { fromUs: at('2026-11-30T00:00:00Z'), toUs: at('2026-12-01T02:00:00Z') };
  await withEngine({ kind: 'cpu', ...days }, async (e) => {
    // The table itself: per day, service, version, kind and sample type, the day's profiles_1h totals.
    const fromHours = await e.rows(`SELECT service, version, kind, s.type AS sample_type, MIN(s.unit) AS unit, SUM(s.total)::BIGINT AS total
      FROM (SELECT *, UNNEST(sample_types) AS s FROM profiles_1h WHERE hour >= TIMESTAMP '2026-11-30' AND hour < TIMESTAMP '2026-12-01') GROUP BY ALL ORDER BY ALL`);
    const day = await e.rows(`SELECT service, version, kind, sample_type, unit, total FROM totals_1d WHERE day = TIMESTAMP '2026-11-30' ORDER BY ALL`);
    expect(day).toEqual(fromHours);
    expect(day.length).toBeGreaterThan(10);
    for (const [kind, sampleType] of TYPES) {
      for (const more of [{}, { aggregate: 'sum' as const }, { service: 'svc-a' }, { service: 'svc-a', version: 'v1' }]) {
        const q: TopQuery = { kind, sampleType, ...days, ...more };
        const plan = await planWindow(e, q, sampleType, 'functions', { totals: true });
        const mean = kind === 'heap' ? sampleType === 'inuse_space' : kind === 'goroutine';
        const avg = mean && !('aggregate' in more);
        // Counters whose series were silent for over an hour are answered raw (no plan).
        if (plan) expect(plan.totalsDays).toEqual(avg ? [] : [[at('2026-11-30T00:00:00Z'), at('2026-12-01T00:00:00Z')]]);
        const r = await both(e, q);
        expect({ q, r: r.viaPlan }).toEqual({ q, r: r.raw });
      }
    }
    expect((await planWindow(e, { kind: 'cpu', ...days }, 'cpu', 'functions', { totals: true }))?.totalsDays.length).toBe(1);
  });
});

async function planned(e: QueryEngine, w: (from: string, to: string) => { fromUs: number; toUs: number }) {
  const cpu = await both(e, { kind: 'cpu', sampleType: 'cpu', ...w('2026-11-30T00:00:00Z', '2026-12-01T03:13:00Z') });
  expect(cpu.planned?.days.length).toBe(1);
  expect(cpu.planned?.hours.length).toBeGreaterThan(0);
  expect(cpu.planned?.raw).toEqual([[at('2026-12-01T02:00:00Z'), at('2026-12-01T03:13:00Z')]]); // hour 02 (not rolled up) and the edge
  expect(BigInt(cpu.viaPlan.total)).toBeGreaterThan(0n);
  // svc-a's counters: no silent series.
  const allocs = await both(e, { kind: 'allocs', sampleType: 'alloc_space', service: 'svc-a', ...w('2026-11-30T22:00:00Z', '2026-12-01T02:00:00Z') });
  expect(allocs.planned).not.toBeNull();
  // c3 is silent from 22:28 to 00:33: a window from 22:00 subtracts its 22:28 snapshot, an hour rollup of 00:00 cannot.
  const gap = await both(e, { kind: 'allocs', sampleType: 'alloc_space', service: 'cum', ...w('2026-11-30T22:00:00Z', '2026-12-01T02:00:00Z') });
  expect(gap.planned).toBeNull();
  const after = await both(e, { kind: 'allocs', sampleType: 'alloc_space', service: 'cum', ...w('2026-12-01T01:00:00Z', '2026-12-01T04:00:00Z') });
  expect(after.planned).not.toBeNull();
  // Gauges: per-instance means over rollups.
  const heap = await both(e, { kind: 'heap', sampleType: 'inuse_space', ...w('2026-11-30T22:00:00Z', '2026-12-01T02:00:00Z') });
  expect(heap.planned).not.toBeNull();
  expect(heap.planned?.raw).toEqual([]);
}

const describeGo = goAvailable() ? describe : describe.skip;

describeGo('flame graphs and exports over rollups', () => {
  beforeAll(() => warmUpPprof(), 300_000);
  test('flame graph trees and exported profiles (go tool pprof -top -lines) equal the raw path', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-plan-export-'));
    try {
      for (const [from, to] of [
        ['2026-11-30T21:37:00Z', '2026-12-01T03:13:00Z'],
        ['2026-11-30T00:00:00Z', '2026-12-01T02:41:00Z'],
      ]) {
        await withEngine({ kind: 'cpu', fromUs: at(from), toUs: at(to) }, async (e) => {
          for (const [kind, sampleType, service] of [
            ['cpu', 'cpu', undefined],
            ['heap', 'inuse_space', undefined],
            ['allocs', 'alloc_space', 'svc-a'],
            ['goroutine', 'goroutine', undefined],
          ] as [ProfileKind, string, string | undefined][]) {
            const q = { kind, sampleType, service, fromUs: at(from), toUs: at(to) };
            expect(await planWindow(e, q, sampleType, 'stacks')).not.toBeNull();
            expect(await flameGraph(e, q)).toEqual(await flameGraph(e, { ...q, rollups: false }));
            const files = [true, false].map((rollups, i) => {
              const f = path.join(tmp, `${kind}-${i}.pb.gz`);
              return { f, p: exportMerged(e, { ...q, rollups }) };
            });
            for (const x of files) writeFileSync(x.f, await x.p);
            const [a, b] = files.map((x) => pprofTop([x.f], { sampleIndex: sampleType, extraArgs: ['-lines'] }));
            expect(a).toEqual(b);
            expect(a.rows.length).toBeGreaterThan(0);
          }
        });
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 600_000);
});
