// The merge tier (lib/store/merge.ts) on a local store, through the real merger and compactor:
// an open hour's batch files -> one file per table, and every row of every raw table is seen
// exactly once by DuckDB after every effect (each output PUT, each manifest swap), with the merger
// interrupted before each swap and run again (an orphan), a merge run twice (redelivered), two
// mergers at once, and a merge whose swap comes after the hour's compaction. A redelivered
// profile (two batches) counts once throughout; top equals top over the unmerged files.
import { promises as fs, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { FreshBatch, prepareBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { compact } from '../lib/store/compact';
import { readManifest } from '../lib/store/manifest';
import { isMergeBatch, mergeOpen, openHours, type MergeOptions } from '../lib/store/merge';
import { parseKey } from '../lib/store/layout';
import { openEngine } from '../lib/query/open';
import { rowsSeen } from './helpers/rows-seen';
import { encodeProfile, sampleProfile } from './helpers/pprof-builder';
import { top } from '../lib/query/top';
import { topFromMergeSums } from '../lib/query/merge-sums';
import { profileWeightsSql } from '../lib/query/window';

const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'];
const KINDS = ['cpu', 'heap', 'mutex'];
const RAW = ['profiles', 'functions', 'stacks'] as const;
const H = 3_600_000_000;

let instance: DuckDBInstance;
let writer: ParquetWriter;
let tmp: string;

async function batch(store: LocalStore, runs: string[], kinds = KINDS): Promise<void> {
  const b = new FreshBatch({ store, writer });
  for (const r of runs)
    for (const k of kinds) {
      const f = path.join(FIXTURES, r, `${k}.pb.gz`);
      b.add(prepareBytes(readFileSync(f), parseSourceMeta({ service: r.includes('i2') ? 'svc-b' : 'svc-a', instance: r, version: r.includes('v2') ? 'v2' : 'v1', source: f, sourceId: `test:${r}:${k}` })).entries);
    }
  await b.publish();
}

const seen = (store: LocalStore) => rowsSeen(store, [store.root], RAW);

async function cpuTop(store: LocalStore, fromUs: number, toUs = fromUs + H, o: { service?: string; rollups?: boolean } = {}): Promise<string> {
  const engine = await openEngine(store, { fromUs, toUs }, [store.root]);
  try {
    return JSON.stringify(await top(engine, { kind: 'cpu', fromUs, toUs, ...o }));
  } finally {
    engine.close();
  }
}

/** How many merges the pre-sum path sums for a window (null: it does not apply). */
async function summed(store: LocalStore, fromUs: number, toUs: number): Promise<number | null> {
  const engine = await openEngine(store, { fromUs, toUs }, [store.root]);
  try {
    const params = { st: 'cpu' };
    const q = { kind: 'cpu' as const, fromUs, toUs };
    return (await topFromMergeSums(engine, q, 'cpu', profileWeightsSql(q, 'cpu', params), params))?.summed ?? null;
  } finally {
    engine.close();
  }
}

/** The fresh files of a table the readers use (unmerged), by kind of batch. */
async function freshFiles(store: LocalStore, table: string): Promise<{ raw: number; merged: number }> {
  const out = { raw: 0, merged: 0 };
  const mergedKeys = new Map<string, Set<string>>();
  for (const o of await store.list(`fresh/${table}/`)) {
    const k = parseKey(o.key);
    if (!k || k.tier !== 'fresh') continue;
    let m = mergedKeys.get(k.dt);
    if (!m) mergedKeys.set(k.dt, (m = new Set((await readManifest(store, table, k.dt)).manifest.merged)));
    if (m.has(o.key)) continue;
    if (isMergeBatch(k.name.split('.')[0])) out.merged++;
    else out.raw++;
  }
  return out;
}

/** A store of 4 batches in one hour (the 4th redelivers a profile of the 1st); returns it with the hour's start. */
async function fixtureStore(name: string): Promise<{ store: LocalStore; hourUs: number; truth: Record<string, string>; top: string }> {
  const store = new LocalStore(path.join(tmp, name));
  for (const r of RUNS) await batch(store, [r]);
  await batch(store, [RUNS[0]], ['cpu']);
  const keys = (await store.list('fresh/profiles/')).map((o) => parseKey(o.key)!).filter((k) => k.tier === 'fresh');
  const hours = new Set(keys.map((k) => `${k.dt}T${String((k as { hour: number }).hour).padStart(2, '0')}`));
  expect(hours.size).toBe(1);
  const hourUs = Date.parse(`${[...hours][0]}:00:00Z`) * 1000;
  return { store, hourUs, truth: await seen(store), top: await cpuTop(store, hourUs) };
}

/** Batch ids carry the test's wall clock and the data a fixture's: every batch is settled. */
const opts = (hourUs: number, extra: Partial<MergeOptions> = {}): MergeOptions => ({ now: hourUs / 1000 + 30 * 60_000, minAgeMs: -Infinity, ...extra });

beforeAll(async () => {
  instance = await openDuckDb();
  writer = await ParquetWriter.create(instance);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-merge-'));
});

afterAll(async () => {
  writer?.close();
  instance?.closeSync();
  await fs.rm(tmp, { recursive: true, force: true });
});

test('open hours: the current one, and the one before until its compaction is due', () => {
  const t = Date.parse('2026-12-03T07:01:00Z');
  expect(openHours(t, 2 * 60_000)).toEqual([
    { dt: '2026-12-03', hour: 6 },
    { dt: '2026-12-03', hour: 7 },
  ]);
  expect(openHours(Date.parse('2026-12-03T07:02:00Z'), 2 * 60_000)).toEqual([{ dt: '2026-12-03', hour: 7 }]);
  expect(openHours(Date.parse('2026-12-03T00:00:30Z'), 2 * 60_000)).toEqual([
    { dt: '2026-12-02', hour: 23 },
    { dt: '2026-12-03', hour: 0 },
  ]);
});

test('a merge: one file per table, the redelivered profile once, exactly once after every effect; run again it does nothing', async () => {
  const { store, hourUs, truth, top: top0 } = await fixtureStore('one');
  expect((await freshFiles(store, 'profiles')).raw).toBe(4);
  const steps: string[] = [];
  const r = await mergeOpen(store, writer, {
    ...opts(hourUs),
    beforeSwap: async (s) => {
      steps.push(s.table);
      expect(await seen(store)).toEqual(truth);
    },
  });
  expect(steps.at(-1)).toBe('profiles'); // profiles last, as ingest publishes
  expect(new Set(steps)).toEqual(new Set(['profiles', 'functions', 'stacks']));
  expect(r.abandoned).toBe(0);
  expect(r.filesMerged).toBeGreaterThanOrEqual(4 * 3);
  expect(r.rowsOut).toBeLessThan(r.rowsIn); // the redelivered profile's rows are in the output once
  expect(await seen(store)).toEqual(truth);
  expect(await cpuTop(store, hourUs)).toEqual(top0);
  for (const t of RAW) expect(await freshFiles(store, t)).toEqual({ raw: 0, merged: 1 });
  // Every output shares the one new batch id, larger than every input's.
  const ids = new Set<string>();
  for (const t of RAW) for (const o of await store.list(`fresh/${t}/`)) if (isMergeBatch(parseKey(o.key)!.name.split('.')[0])) ids.add(parseKey(o.key)!.name);
  expect(ids.size).toBe(1);
  // Run again (a redelivered schedule event): nothing is left to merge.
  const again = await mergeOpen(store, writer, opts(hourUs));
  expect(again.merges).toBe(0);
  expect(await seen(store)).toEqual(truth);
  // A new batch after the merge (a redelivery of a merged profile): counts once.
  await batch(store, [RUNS[1]], ['cpu']);
  expect(await seen(store)).toEqual(truth);
  // Deferred deletes: after the grace the merged inputs are gone and the manifest forgets them.
  const later = await mergeOpen(store, writer, { ...opts(hourUs), now: hourUs / 1000 + 30 * 60_000 + 16 * 60_000, minInputs: 99 });
  expect(later.deleted).toBeGreaterThanOrEqual(12);
  expect((await readManifest(store, 'profiles', parseKey((await store.list('fresh/profiles/'))[0].key)!.dt)).manifest.merged).toEqual([]);
  expect(await seen(store)).toEqual(truth);
  // The hour's compaction takes the merged file and the late batch like any fresh files.
  await compact(store, writer, { now: hourUs / 1000 + 2 * 3_600_000, closedBefore: Infinity });
  expect(await seen(store)).toEqual(truth);
  expect(await cpuTop(store, hourUs)).toEqual(top0);
}, 120_000);

test('interrupted before each swap, then merged again: the orphan never counts twice; compaction afterwards is exact', async () => {
  const { store, hourUs, truth, top: top0 } = await fixtureStore('crash');
  for (let crashAt = 0; crashAt < 3; crashAt++) {
    let n = 0;
    await expect(
      mergeOpen(store, writer, {
        ...opts(hourUs),
        beforeSwap: async () => {
          if (n++ === crashAt) throw new Error('crash');
        },
      }),
    ).rejects.toThrow('crash');
    expect(await seen(store)).toEqual(truth);
    expect(await cpuTop(store, hourUs)).toEqual(top0);
    // More batches arrive between the crashes.
    await batch(store, [RUNS[crashAt]], ['cpu']);
    expect(await seen(store)).toEqual(truth);
  }
  await mergeOpen(store, writer, opts(hourUs));
  expect(await seen(store)).toEqual(truth);
  expect(await cpuTop(store, hourUs)).toEqual(top0);
  await compact(store, writer, { now: hourUs / 1000 + 2 * 3_600_000, closedBefore: Infinity });
  expect(await seen(store)).toEqual(truth);
  expect(await cpuTop(store, hourUs)).toEqual(top0);
  for (const t of RAW) expect(await freshFiles(store, t)).toEqual({ raw: 0, merged: 0 });
}, 180_000);

test('two mergers at once: one output per table counts, the other is retired', async () => {
  const { store, hourUs, truth, top: top0 } = await fixtureStore('two');
  const db2 = await openDuckDb();
  const w2 = await ParquetWriter.create(db2);
  try {
    const [a, b] = await Promise.all([mergeOpen(store, writer, opts(hourUs)), mergeOpen(store, w2, opts(hourUs))]);
    expect(a.merges + b.merges).toBe(RAW.length);
    expect(a.abandoned + b.abandoned).toBe(RAW.length);
  } finally {
    w2.close();
    db2.closeSync();
  }
  expect(await seen(store)).toEqual(truth);
  expect(await cpuTop(store, hourUs)).toEqual(top0);
  for (const t of RAW) expect(await freshFiles(store, t)).toEqual({ raw: 0, merged: 1 });
}, 120_000);

test("a merge whose swap comes after the hour's compaction: retired, nothing counted twice", async () => {
  const { store, hourUs, truth, top: top0 } = await fixtureStore('race');
  let compacted = false;
  const r = await mergeOpen(store, writer, {
    ...opts(hourUs),
    beforeSwap: async () => {
      if (compacted) return;
      compacted = true;
      // The hour's compaction runs between the merger's output and its swap (the output is just another fresh file to it).
      await compact(store, writer, { now: hourUs / 1000 + 2 * 3_600_000, closedBefore: Infinity });
      expect(await seen(store)).toEqual(truth);
    },
  });
  expect(r.merges).toBe(0);
  expect(r.abandoned).toBe(RAW.length);
  expect(await seen(store)).toEqual(truth);
  expect(await cpuTop(store, hourUs)).toEqual(top0);
}, 120_000);

test('pre-summed functions: top over a whole merge equals top over its raw rows (fleet, one service, a window ending inside it); a copy in a smaller batch sends the merge back to raw rows', async () => {
  const { store, hourUs, top: top0 } = await fixtureStore('sums');
  const times = await (async () => {
    const engine = await openEngine(store, {}, [store.root]);
    try {
      return (await engine.rows(`SELECT DISTINCT epoch_us(time) AS t FROM profiles WHERE kind = 'cpu' ORDER BY t`)).map((r) => Number(r.t));
    } finally {
      engine.close();
    }
  })();
  const mid = times.at(-1)!; // a window ending at the last CPU profile: the merge is at its edge
  const cases: [number, number, string | undefined][] = [
    [hourUs, hourUs + H, undefined],
    [hourUs, hourUs + H, 'svc-a'],
    [hourUs, mid, undefined],
  ];
  const raw = await Promise.all(cases.map(([f, t, svc]) => cpuTop(store, f, t, { service: svc })));
  expect(raw[0]).toEqual(top0);
  const r = await mergeOpen(store, writer, opts(hourUs));
  expect(r.sumsFiles).toBe(1);
  expect((await store.list('fresh/functions_merge/')).length).toBe(1);
  expect(await summed(store, hourUs, hourUs + H)).toBe(1);
  expect(await summed(store, hourUs, mid)).toBe(0); // not covered whole: raw rows
  for (const [i, [f, t, svc]] of cases.entries()) {
    expect(await cpuTop(store, f, t, { service: svc })).toEqual(raw[i]);
    expect(await cpuTop(store, f, t, { service: svc, rollups: false })).toEqual(raw[i]);
  }
  // A redelivery whose batch id is smaller than the merge's (an ingest that started before the merge and published after it).
  const b = new FreshBatch({ store, writer });
  const f = path.join(FIXTURES, RUNS[2], 'cpu.pb.gz');
  b.add(prepareBytes(readFileSync(f), parseSourceMeta({ service: 'svc-a', instance: RUNS[2], version: 'v2', source: f, sourceId: `test:${RUNS[2]}:cpu` })).entries);
  await b.publish('b000000001000000000000');
  expect(await summed(store, hourUs, hourUs + H)).toBe(0);
  for (const [i, [f2, t, svc]] of cases.entries()) expect(await cpuTop(store, f2, t, { service: svc })).toEqual(raw[i]);
  // Merged again (the late batch with the next minute's): the new merge is summed, the first one still not.
  await mergeOpen(store, writer, { ...opts(hourUs), minInputs: 1 });
  for (const [i, [f2, t, svc]] of cases.entries()) expect(await cpuTop(store, f2, t, { service: svc })).toEqual(raw[i]);
  // After the hour's compaction (its functions files gone after the grace) the merger deletes the pre-sums.
  await compact(store, writer, { now: hourUs / 1000 + 2 * 3_600_000, closedBefore: Infinity });
  for (const [i, [f2, t, svc]] of cases.entries()) expect(await cpuTop(store, f2, t, { service: svc })).toEqual(raw[i]);
  await compact(store, writer, { now: hourUs / 1000 + 3 * 3_600_000, closedBefore: Infinity });
  const late = await mergeOpen(store, writer, { now: hourUs / 1000 + 3 * 3_600_000 });
  expect(late.deleted).toBeGreaterThanOrEqual(1);
  expect((await store.list('fresh/functions_merge/')).length).toBe(0);
  for (const [i, [f2, t, svc]] of cases.entries()) expect(await cpuTop(store, f2, t, { service: svc })).toEqual(raw[i]);
}, 180_000);

test('a window reaching into a compacted hour: pre-sums and raw rows without the weights join equal the view path (fleet, one service), a redelivered copy included', async () => {
  const store = new LocalStore(path.join(tmp, 'cross'));
  const A = Date.UTC(2026, 10, 20, 10) * 1000; // the compacted hour; A + H the fresh, merged one
  let n = 0;
  const cpuBatch = async (times: number[], seq = n++) => {
    const b = new FreshBatch({ store, writer });
    for (const t of times)
      for (const inst of ['i1', 'i2']) {
        const bytes = gzipSync(encodeProfile({ ...sampleProfile(), timeNanos: BigInt(t) * 1000n }));
        const svc = inst === 'i1' ? 'svc-a' : 'svc-b';
        b.add(prepareBytes(bytes, parseSourceMeta({ service: svc, instance: inst, version: 'v1', source: `${inst}-${t}-cpu.pb.gz`, sourceId: `test:${inst}:${t}:${seq}` })).entries);
      }
    await b.publish();
  };
  const min = 60_000_000;
  await cpuBatch([A + 10 * min, A + 35 * min]);
  await cpuBatch([A + 50 * min]);
  await compact(store, writer, { now: A / 1000 + 70 * 60_000, closedBefore: (A + H) / 1000 });
  await cpuBatch([A + H + 5 * min, A + H + 25 * min]);
  await cpuBatch([A + H + 40 * min]);
  await mergeOpen(store, writer, { now: (A + H) / 1000 + 50 * 60_000, minAgeMs: -Infinity });
  await cpuBatch([A + H + 55 * min]); // the last minute: raw
  expect((await freshFiles(store, 'functions')).merged).toBe(1);
  expect((await readManifest(store, 'functions', '2026-11-20')).manifest.live.flatMap((f) => f.hours)).toContain(10);
  const windows: [number, number][] = [
    [A + 30 * min, A + 2 * H],
    [A + 20 * min, A + H + 45 * min],
    [A + 40 * min, A + H + 20 * min],
  ];
  const direct = async (f: number, t: number, service?: string) => {
    const engine = await openEngine(store, { fromUs: f, toUs: t }, [store.root]);
    try {
      const params = { st: 'cpu' };
      const q = { kind: 'cpu' as const, fromUs: f, toUs: t, service };
      const r = await topFromMergeSums(engine, q, 'cpu', profileWeightsSql(q, 'cpu', params), params);
      return r?.totals !== undefined; // the total comes with the sums only on the direct path
    } finally {
      engine.close();
    }
  };
  const check = async () => {
    for (const [f, t] of windows)
      for (const service of [undefined, 'svc-a']) {
        expect(await direct(f, t, service)).toBe(true);
        const got = await cpuTop(store, f, t, { service });
        expect(got).toEqual(await cpuTop(store, f, t, { service, rollups: false }));
        expect(JSON.parse(got).total).not.toBe('0');
      }
  };
  await check();
  // A copy of a fresh profile in another batch (a redelivery) keeps the direct path, with the copy dropped.
  const before = await cpuTop(store, windows[0][0], windows[0][1]);
  await cpuBatch([A + H + 25 * min], 2);
  const e = await openEngine(store, {}, [store.root]);
  try {
    const r = await e.rows(`SELECT count(*) - count(DISTINCT profile_id) AS copies FROM ${await e.undedupedSource('profiles')}`);
    expect(Number(r[0].copies)).toBe(2); // both instances' profile at +25 min, twice
  } finally {
    e.close();
  }
  expect(await cpuTop(store, windows[0][0], windows[0][1])).toEqual(before);
  await check();
}, 180_000);
