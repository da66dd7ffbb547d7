// The warm `top` path (lib/query/warm-top.ts): one process answering repeated requests over a
// fresh hour that changes between them (new batch files, a merge replacing its inputs, a
// redelivered batch, a file quarantined or deleted), each answer equal to the engine's raw path
// (rollups: false: the views over every file, no pre-sums) for windows that cut through files,
// fleet-wide, per service and per version; the summary cache keeps only listed files and stays
// within its byte bound.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { compact } from '../lib/store/compact';
import { mergeOpen } from '../lib/store/merge';
import { parseKey } from '../lib/store/layout';
import { openEngine } from '../lib/query/open';
import { top, type TopQuery } from '../lib/query/top';
import { exactJson } from '../lib/query/json';
import { HourIds, WarmTop } from '../lib/query/warm-top';
import { FileSummaryCache } from '../lib/query/file-sums';
import { cpuBatch, CPU_INSTANCES, MIN_US } from './helpers/cpu-batch';

const H = 3_600_000_000;
const MIN = MIN_US;
const A = Date.UTC(2026, 10, 20, 10) * 1000; // the fresh hour
let instance: DuckDBInstance;
let writer: ParquetWriter;
let tmp: string;

beforeAll(async () => {
  instance = await openDuckDb();
  writer = await ParquetWriter.create(instance);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-warm-'));
});

afterAll(async () => {
  writer?.close();
  instance?.closeSync();
  await fs.rm(tmp, { recursive: true, force: true });
});

const INSTANCES = CPU_INSTANCES;
const batch = (store: LocalStore, times: number[], tag: string, batchId?: string, only?: number) => cpuBatch(store, writer, times, tag, { batchId, only });

async function rawTop(store: LocalStore, q: TopQuery): Promise<string> {
  const engine = await openEngine(store, { fromUs: q.fromUs, toUs: q.toUs }, [store.root]);
  try {
    return exactJson(await top(engine, { ...q, rollups: false }));
  } finally {
    engine.close();
  }
}

/** Windows that hold files whole and cut through them (profiles at +2, +4, ... minutes, two times a batch), fleet, one service, one version. */
function queries(): TopQuery[] {
  const spans: [number, number][] = [
    [A, A + H],
    [A + 3 * MIN, A + 47 * MIN], // cuts batches holding +2/+4 and +46/+48
    [A + 5 * MIN, A + 5 * MIN + 1], // nothing
    [A + 10 * MIN, A + 10 * MIN + 1], // one instant
  ];
  const out: TopQuery[] = [];
  for (const [fromUs, toUs] of spans) {
    out.push({ kind: 'cpu', fromUs, toUs, by: 'flat' });
    out.push({ kind: 'cpu', fromUs, toUs, service: 'svc-a', by: 'cum', limit: 2 });
    out.push({ kind: 'cpu', fromUs, toUs, version: 'v1', sampleType: 'samples' });
  }
  return out;
}

async function expectSame(store: LocalStore, warm: WarmTop): Promise<void> {
  for (const q of queries()) {
    const got = await warm.top(q);
    expect(got).not.toBeNull();
    expect(exactJson(got)).toEqual(await rawTop(store, q));
  }
}

/** The listed fresh files of a table (paths as the warm path keys them). */
async function freshPaths(store: LocalStore, table: string): Promise<string[]> {
  return (await store.list(`fresh/${table}/`)).filter((o) => o.key.endsWith('.parquet')).map((o) => path.join(store.root, o.key));
}

test('batches, a merge replacing its inputs between requests, the last minute raw: equal to the raw path for windows cutting files; merged inputs evicted', async () => {
  const store = new LocalStore(path.join(tmp, 'merge'));
  const warm = new WarmTop(store, store.root);
  try {
    for (let m = 2; m < 40; m += 4) await batch(store, [A + m * MIN, A + (m + 2) * MIN], `m${m}`);
    await expectSame(store, warm);
    await warm.top({ kind: 'cpu', fromUs: A, toUs: A + H });
    expect(warm.last).toEqual({ read: 0, whole: 2 * 10, raw: 0, skipped: 0, dropped: 0 });
    const inputs = await freshPaths(store, 'profiles');
    expect(inputs.every((p) => warm.cache.has(p))).toBe(true);
    // The merger every minute: settled batches -> one file per table, with pre-sums.
    const r = await mergeOpen(store, writer, { now: A / 1000 + 45 * 60_000, minAgeMs: -Infinity });
    expect(r.sumsFiles).toBe(1);
    await batch(store, [A + 44 * MIN, A + 46 * MIN], 'last'); // the last minute's batch, raw
    await batch(store, [A + 48 * MIN], 'last2');
    const q = { kind: 'cpu' as const, fromUs: A, toUs: A + H };
    expect(exactJson(await warm.top(q))).toEqual(await rawTop(store, q));
    // Only the new files were read (the merge's pre-sums and profiles, the two batches' files), and the merged inputs were forgotten.
    expect(warm.last!.read).toBe(2 + 2 * 2);
    expect(inputs.some((p) => warm.cache.has(p))).toBe(false);
    await expectSame(store, warm);
    // The window cutting through the merge reads it raw; the whole hour sums it.
    await warm.top({ kind: 'cpu', fromUs: A + 3 * MIN, toUs: A + H });
    expect(warm.last!.raw).toBeGreaterThan(0);
    await warm.top(q);
    expect(warm.last!.raw).toBe(0);
  } finally {
    warm.close();
  }
}, 120_000);

test('a redelivered batch (same profiles, larger batch id), a copy in a SMALLER batch than a merge, and a deleted batch: equal to the raw path each time', async () => {
  const store = new LocalStore(path.join(tmp, 'redeliver'));
  const warm = new WarmTop(store, store.root);
  try {
    for (let m = 2; m < 20; m += 4) await batch(store, [A + m * MIN, A + (m + 2) * MIN], `m${m}`);
    await expectSame(store, warm);
    await batch(store, [A + 6 * MIN, A + 8 * MIN], 'm6'); // redelivered: dropped whole
    await expectSame(store, warm);
    await warm.top({ kind: 'cpu', fromUs: A, toUs: A + H });
    expect(warm.last!.dropped).toBe(2 * INSTANCES.length);
    expect(warm.last!.raw).toBe(0); // a batch all of whose profiles are dropped is skipped, not read
    // Half a batch again (one of its two times): some of that file's profiles dropped -> read raw with the drops.
    await batch(store, [A + 10 * MIN, A + 30 * MIN], 'm10');
    await expectSame(store, warm);
    await warm.top({ kind: 'cpu', fromUs: A, toUs: A + H });
    expect(warm.last!.raw).toBeGreaterThan(0);
    // A merge, then a copy of a merged profile in a batch whose id is SMALLER than the merge's: the merge loses those profiles.
    await mergeOpen(store, writer, { now: A / 1000 + 50 * 60_000, minAgeMs: -Infinity });
    await batch(store, [A + 2 * MIN], 'm2', 'b000000001000000000000', 0);
    await expectSame(store, warm);
    // A batch deleted (quarantined: moved aside): its files no longer listed, its summaries forgotten.
    const victim = (await freshPaths(store, 'profiles')).find((f) => parseKey(path.relative(store.root, f))!.name.startsWith('b000000001'))!;
    for (const t of ['profiles', 'functions', 'stacks']) await fs.rm(victim.replace('/fresh/profiles/', `/fresh/${t}/`), { force: true });
    await expectSame(store, warm);
    expect(warm.cache.has(victim)).toBe(false);
  } finally {
    warm.close();
  }
}, 120_000);

test('not the warm case: a batch being published (profiles file not yet there), another kind, an instance, a compacted hour -> null (the engine answers)', async () => {
  const store = new LocalStore(path.join(tmp, 'null'));
  const warm = new WarmTop(store, store.root);
  try {
    await batch(store, [A - 50 * MIN], 'prev');
    await batch(store, [A + 2 * MIN], 'a');
    const q = { kind: 'cpu' as const, fromUs: A, toUs: A + H };
    expect(await warm.top(q)).not.toBeNull();
    expect(await warm.top({ ...q, kind: 'heap' })).toBeNull();
    expect(await warm.top({ ...q, instance: 'i1' })).toBeNull();
    expect(await warm.top({ ...q, rollups: false })).toBeNull();
    // A batch whose functions file is published and its profiles file not yet (ingest PUTs profiles last).
    await batch(store, [A + 4 * MIN], 'b');
    const pr = (await freshPaths(store, 'profiles')).sort().at(-1)!;
    const aside = `${pr}.aside`;
    await fs.rename(pr, aside);
    expect(await warm.top(q)).toBeNull();
    await fs.rename(aside, pr);
    expect(exactJson(await warm.top(q))).toEqual(await rawTop(store, q));
    // The hour before compacted: a window reaching into it is read from its kept inputs (below).
    await compact(store, writer, { now: A / 1000 + 20 * 60_000, closedBefore: A / 1000 });
    expect(exactJson(await warm.top({ ...q, fromUs: A - H }))).toEqual(await rawTop(store, { ...q, fromUs: A - H }));
    expect(exactJson(await warm.top(q))).toEqual(await rawTop(store, q));
  } finally {
    warm.close();
  }
}, 120_000);

/** The fresh files of one hour of a table (keys). */
async function hourKeys(store: LocalStore, table: string, hourUs: number): Promise<string[]> {
  const d = new Date(hourUs / 1000).toISOString();
  return (await store.list(`fresh/${table}/dt=${d.slice(0, 10)}/hour=${d.slice(11, 13)}/`)).filter((o) => o.key.endsWith('.parquet')).map((o) => o.key);
}

test('a window reaching into a compacted hour: read from the fresh inputs the compaction keeps, equal to the raw path before and after; the compaction between two requests reads nothing new; inputs deleted an hour after the hour -> engine', async () => {
  const store = new LocalStore(path.join(tmp, 'compacted'));
  const warm = new WarmTop(store, store.root);
  const P = A - H; // the previous hour, compacted below
  const spans: [number, number][] = [
    [P + 30 * MIN, A + 30 * MIN], // the last hour at A+30: cuts the previous hour's merge
    [P + 41 * MIN, A + 3 * MIN],
    [P + 55 * MIN, A + 55 * MIN], // the previous hour's raw batches only
  ];
  const qs = spans.flatMap(([fromUs, toUs]): TopQuery[] => [
    { kind: 'cpu', fromUs, toUs, by: 'flat' },
    { kind: 'cpu', fromUs, toUs, service: 'svc-a', by: 'cum', limit: 2 },
    { kind: 'cpu', fromUs, toUs, version: 'v1', sampleType: 'samples' },
  ]);
  const answers = async () => Promise.all(qs.map((q) => rawTop(store, q)));
  const same = async (want: string[]) => {
    for (const [i, q] of qs.entries()) {
      const got = await warm.top(q);
      expect(got).not.toBeNull();
      expect(exactJson(got)).toEqual(want[i]);
    }
  };
  try {
    // The previous hour as production leaves it: merged minute files (with pre-sums), then raw batches, a redelivery.
    for (let m = 2; m < 42; m += 4) await batch(store, [P + m * MIN, P + (m + 2) * MIN], `p${m}`);
    // Merged at P+55: its inputs (retired, still there) wait for the merger's grace until A+10, past the compaction.
    await mergeOpen(store, writer, { now: P / 1000 + 55 * 60_000, minAgeMs: -Infinity });
    for (let m = 46; m < 58; m += 4) await batch(store, [P + m * MIN, P + (m + 2) * MIN], `p${m}`);
    await batch(store, [P + 50 * MIN, P + 52 * MIN], 'p50');
    for (let m = 2; m < 58; m += 4) await batch(store, [A + m * MIN, A + (m + 2) * MIN], `a${m}`);
    const before = await answers();
    await same(before);

    // The hour's compaction at A+7 min: the same answers from the engine (the kept inputs are merged: skipped) and from the same summaries.
    const r = await compact(store, writer, { now: A / 1000 + 7 * 60_000, closedBefore: A / 1000 });
    expect(r.hours).toBeGreaterThan(0);
    expect((await store.list('profiles/dt=')).some((o) => /\/h09-[0-9a-f]{24}\.parquet$/.test(o.key))).toBe(true);
    expect(await answers()).toEqual(before);
    await warm.top(qs[0]);
    expect(warm.last!.read).toBe(0);
    expect(warm.last!.dropped).toBe(2 * INSTANCES.length);
    await same(before);

    // The merger's own deferred deletes (its inputs, 15 min after its merge) leave the compaction's inputs alone.
    await mergeOpen(store, writer, { now: A / 1000 + 30 * 60_000 });
    const kept = await hourKeys(store, 'profiles', P);
    expect(kept.length).toBe(1 + 4); // the merge, the 4 raw batches
    expect(kept.filter((k) => /m[0-9a-f]{11}\.parquet$/.test(k)).length).toBe(1);
    // The planner's deletes wait until the hour left the last hour + the grace; a compaction again changes nothing.
    const again = await compact(store, writer, { now: A / 1000 + 74 * 60_000, closedBefore: A / 1000 });
    expect([again.hours, again.deleted]).toEqual([0, 0]);
    expect(await hourKeys(store, 'profiles', P)).toEqual(kept);
    expect(await answers()).toEqual(before);
    await same(before);

    // An hour after the hour + the grace: the inputs are deleted; the last hour no longer reaches the hour, a longer window takes the engine.
    const gone = await compact(store, writer, { now: A / 1000 + 76 * 60_000, closedBefore: A / 1000 });
    expect(gone.deleted).toBeGreaterThan(0);
    expect(await hourKeys(store, 'profiles', P)).toEqual([]);
    expect(await warm.top(qs[0])).toBeNull();
    expect(await answers()).toEqual(before);
    const q = { kind: 'cpu' as const, fromUs: A + 16 * MIN, toUs: A + 76 * MIN };
    expect(exactJson(await warm.top(q))).toEqual(await rawTop(store, q));
    expect(kept.some((k) => warm.cache.has(path.join(store.root, k)))).toBe(false);
  } finally {
    warm.close();
  }
}, 180_000);

test('a compacted hour with a late file, then a second job over it, or an input missing -> engine', async () => {
  const store = new LocalStore(path.join(tmp, 'late'));
  const warm = new WarmTop(store, store.root);
  const P = A - H;
  const q = { kind: 'cpu' as const, fromUs: P + 30 * MIN, toUs: A + 30 * MIN };
  try {
    for (let m = 2; m < 58; m += 8) await batch(store, [P + m * MIN], `p${m}`);
    await batch(store, [A + 2 * MIN], 'a2');
    await compact(store, writer, { now: A / 1000 + 7 * 60_000, closedBefore: A / 1000 });
    expect(exactJson(await warm.top(q))).toEqual(await rawTop(store, q));
    // An input missing (deleted by hand): the job's inputs are not all there.
    const kept = await hourKeys(store, 'functions', P);
    const aside = path.join(store.root, `${kept[0]}.aside`);
    await fs.rename(path.join(store.root, kept[0]), aside);
    expect(await warm.top(q)).toBeNull();
    await fs.rename(aside, path.join(store.root, kept[0]));
    expect(exactJson(await warm.top(q))).toEqual(await rawTop(store, q));
    // A late batch of the compacted hour: the engine's late-file rule, not the warm path.
    await batch(store, [P + 40 * MIN], 'late');
    expect(await warm.top(q)).toBeNull();
    // Compacted by a second job (over the first one's files): not one job's inputs any more.
    const r = await compact(store, writer, { now: A / 1000 + 20 * 60_000, closedBefore: A / 1000 });
    expect(r.hours).toBeGreaterThan(0);
    expect(await warm.top(q)).toBeNull();
    expect(exactJson(await warm.top({ ...q, fromUs: A }))).toEqual(await rawTop(store, { ...q, fromUs: A }));
  } finally {
    warm.close();
  }
}, 120_000);

test('the summary cache stays within its byte bound (least recently used out), and answers stay exact', async () => {
  const store = new LocalStore(path.join(tmp, 'bound'));
  for (let m = 2; m < 30; m += 4) await batch(store, [A + m * MIN, A + (m + 2) * MIN], `m${m}`);
  const probe = new WarmTop(store, store.root);
  let full: number;
  try {
    await probe.top({ kind: 'cpu', fromUs: A, toUs: A + H });
    full = probe.cache.bytes;
    expect(probe.cache.size).toBe(2 * 7);
  } finally {
    probe.close();
  }
  const warm = new WarmTop(store, store.root, { maxBytes: Math.floor(full / 2) });
  try {
    for (let i = 0; i < 2; i++) {
      await expectSame(store, warm);
      expect(warm.cache.bytes).toBeLessThanOrEqual(warm.cache.maxBytes);
      expect(warm.cache.size).toBeLessThan(2 * 7);
    }
  } finally {
    warm.close();
  }
  // The cache alone: entries beyond the bound are dropped oldest first.
  const c = new FileSummaryCache(250);
  const one = (f: string) => new Map([[f, { table: 'profiles' as const, lo: 0, hi: 0, ids: [], totals: [], bytes: 100 }]]);
  for (const f of ['a', 'b', 'c']) await c.get([f], async () => one(f));
  expect(c.size).toBe(2);
  expect(c.bytes).toBe(200);
  expect(c.has('a')).toBe(false);
  await c.get(['b'], async () => one('b'));
  await c.get(['d'], async () => one('d'));
  expect([c.has('b'), c.has('c'), c.has('d')]).toEqual([true, false, true]);
  c.forget((f) => f === 'b');
  expect([c.size, c.bytes]).toEqual([1, 100]);
  // A request keeps what it asked for while another request forgets it (a listing taken later).
  let release!: () => void;
  const slow = c.get(['e', 'g'], async (missing) => {
    await new Promise<void>((r) => (release = r));
    return new Map(missing.map((f) => [f, one(f).get(f)!]));
  });
  c.forget((f) => f === 'g');
  release();
  expect([...(await slow).keys()]).toEqual(['e', 'g']);
  // The per-hour id counts: at most maxHours hours, least recently asked out; a repeat found.
  const ids = new HourIds(2);
  const f = (hour: number, batch: string, list: string[]) => ({ path: `${hour}/${batch}`, hour, batch, key: `${hour}/${batch}`, ids: list });
  expect(ids.drops([f(1, 'b1', ['x', 'y']), f(1, 'b2', ['y'])]).dropped.get('1/b2')).toEqual(new Set(['y']));
  ids.drops([f(2, 'b1', ['x'])]);
  ids.drops([f(3, 'b1', ['x', 'z'])]);
  expect(ids.size).toEqual({ hours: 2, ids: 3 });
  expect(ids.drops([f(1, 'b1', ['x', 'y'])]).repeats).toBe(0); // hour 1 rebuilt from its files alone
}, 120_000);
