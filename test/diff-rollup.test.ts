// `fleetprof diff` over rollups (#11 point 5, lib/query/diff-shares.ts): for CPU the answer from
// function_shares_1h/_1d + functions_1h/_1d (+ raw edges) equals the raw-only answer exactly,
// every function's flat, cum, shares, norms and p-value, for windows of whole days, whole hours,
// unaligned edges and hours not rolled up yet; the sums agree with `top` on the same window (top is
// checked against go tool pprof in rollup-plan.test.ts) and with the per-profile replicate path.
import { rmSync } from 'node:fs';
import type { DuckDBInstance } from '@duckdb/node-api';
import { LocalStore } from '../lib/store/local';
import { openDuckDb } from '../lib/store/parquet';
import { rollupStore } from '../lib/store/rollup';
import { compareProfiles, diff, loadProfiles, type DiffQuery } from '../lib/query/diff';
import { loadShareSums } from '../lib/query/diff-shares';
import { top } from '../lib/query/top';
import { windowPartitionFilter } from '../lib/query/window';
import { openLocalEngine } from '../bin/commands/engine';
import type { QueryEngine } from '../lib/query/engine';
import { buildRollupTestData } from './helpers/rollup-data';

const H = 3_600_000_000;
const at = (iso: string) => Date.parse(iso) * 1000;

let dir: string;
let instance: DuckDBInstance;

beforeAll(async () => {
  dir = await buildRollupTestData();
  instance = await openDuckDb();
  const conn = await instance.connect();
  try {
    const store = new LocalStore(dir);
    // As rollup-plan.test.ts: Nov 30 whole (and its day form), Dec 1 00-02 and 03-05 rolled up; hour 02 and after 05 raw.
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

async function withEngine<T>(f: (e: QueryEngine) => Promise<T>): Promise<T> {
  const e = await openLocalEngine(dir, windowPartitionFilter({ kind: 'cpu', fromUs: at('2026-11-30T00:00:00Z') - 6 * H, toUs: at('2026-12-02T00:00:00Z') }));
  try {
    return await f(e);
  } finally {
    e.close();
  }
}

const SIDES: [string, [string, string], [string, string]][] = [
  ['day form vs whole hours', ['2026-11-30T00:00:00Z', '2026-12-01T00:00:00Z'], ['2026-12-01T00:00:00Z', '2026-12-01T02:00:00Z']],
  ['hours vs unaligned with a raw hour', ['2026-11-30T21:00:00Z', '2026-11-30T23:00:00Z'], ['2026-11-30T23:37:00Z', '2026-12-01T04:41:00Z']],
  ['two-day windows', ['2026-11-29T00:00:00Z', '2026-12-01T00:00:00Z'], ['2026-12-01T00:00:00Z', '2026-12-03T00:00:00Z']],
];

test.each(SIDES)('%s: diff over rollups = diff over raw rows, every number and p-value', async (_name, [bf, bt], [tf, tt]) => {
  await withEngine(async (e) => {
    for (const more of [{}, { service: 'svc-a' }, { sampleType: 'samples' }, { service: 'svc-a', baseVersion: 'v1', targetVersion: 'v2' }] as const) {
      const { baseVersion, targetVersion, ...rest } = more as { baseVersion?: string; targetVersion?: string; service?: string; sampleType?: string };
      const q: DiffQuery = { kind: 'cpu', ...rest, base: { fromUs: at(bf), toUs: at(bt), version: baseVersion }, target: { fromUs: at(tf), toUs: at(tt), version: targetVersion } };
      const viaRollups = await diff(e, q);
      const raw = await diff(e, { ...q, rollups: false });
      expect({ q, r: viaRollups }).toEqual({ q, r: raw });
      expect(viaRollups.functions.length).toBeGreaterThan(10);
      expect(viaRollups.functions.some((f) => f.p_value !== null)).toBe(true);
      // The sums are top's on the same window (checked against go tool pprof in rollup-plan.test.ts).
      for (const [side, s] of [
        ['base', q.base],
        ['target', q.target],
      ] as const) {
        const t = await top(e, { kind: 'cpu', sampleType: q.sampleType ?? 'cpu', service: q.service, version: s.version, fromUs: s.fromUs, toUs: s.toUs });
        expect(viaRollups[side].total).toEqual(t.total);
        const byName = new Map(viaRollups.functions.map((f) => [f.name, f[side]]));
        for (const f of t.functions) expect({ name: f.name, flat: byName.get(f.name)?.flat, cum: byName.get(f.name)?.cum }).toEqual({ name: f.name, flat: f.flat, cum: f.cum });
      }
    }
  });
}, 300_000);

test('rollups answer the aligned windows; the replicate path agrees (p-values up to the 2^-18 share quantum)', async () => {
  await withEngine(async (e) => {
    const base = { kind: 'cpu' as const, fromUs: at('2026-11-30T00:00:00Z'), toUs: at('2026-12-01T00:00:00Z') };
    const target = { kind: 'cpu' as const, fromUs: at('2026-12-01T00:00:00Z'), toUs: at('2026-12-01T02:00:00Z') };
    expect((await loadShareSums(e, base, 'cpu')).planned).toBe(true);
    expect((await loadShareSums(e, target, 'cpu')).planned).toBe(true);
    expect((await loadShareSums(e, { ...base, rollups: false }, 'cpu')).planned).toBe(false);
    const d = await diff(e, { kind: 'cpu', base, target });
    const reps = compareProfiles((await loadProfiles(e, base, 'cpu')).profiles, (await loadProfiles(e, target, 'cpu')).profiles, { cpu: true });
    const byName = new Map(reps.map((f) => [f.name, f]));
    expect(d.functions.length).toBe(reps.length);
    for (const f of d.functions) {
      const r = byName.get(f.name)!;
      expect({ name: f.name, base: f.base, target: f.target }).toEqual({ name: r.name, base: r.base, target: r.target });
      if (r.p_value === null) expect(f.p_value).toBeNull();
      // A share of 1e-3 is ~262 quanta; below that the quantum moves p visibly (and the effect floor, 0.02, rules it out).
      // (runtime.newobject: p 0.9587 vs 0.9597, its shares differing by 3e-7, under the quantum 3.8e-6.)
      else if (Math.max(f.base.cum_share, f.target.cum_share) >= 1e-3) expect({ name: f.name, dp: Math.abs(f.p_value! - r.p_value) < 0.01 }).toEqual({ name: f.name, dp: true });
      expect({ name: f.name, significant: f.significant }).toEqual({ name: f.name, significant: r.significant });
    }
  });
}, 300_000);
