// Layout v2 (docs/architecture.md "Storage layout"): fresh batch files -> hour files -> day file,
// with manifests, Athena symlinks and deferred deletes. Every row is seen exactly once by the
// reader at every step, also when a compaction is interrupted after any of its effects, runs beside
// ingest, or beside another compaction; redelivered sources count once.
import { copyFileSync, existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { FreshBatch, ingestBytes, prepareBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { compact, dayFitsOneUnit } from '../lib/store/compact';
import { EMPTY_MANIFEST, manifestKey, readManifest } from '../lib/store/manifest';
import { parseKey, symlinkKey } from '../lib/store/layout';
import { finalizeJob, jobKey, planDayJob, planHourJob, putJob, runUnit } from '../lib/store/compact-jobs';
import { UNIT_ROWS } from '../lib/store/compact-hour';
import type { Store } from '../lib/store/store';
import { openEngine } from '../lib/query/open';
import { top } from '../lib/query/top';
import { gctraceLog } from './helpers/gctrace-gen';

const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'];
const KINDS = ['cpu', 'heap', 'mutex'] as const;
const ALL = { closedBefore: Infinity } as const;
// A gctrace log over three UTC hours: its rows land in three hour partitions of one batch.
const GC_START_US = Date.parse('2026-11-20T21:30:00Z') * 1000;
const GC_LOG = Buffer.from(gctraceLog({ cycles: 300, periodS: 30 }));

let instance: DuckDBInstance;
let writer: ParquetWriter;
const dirs: string[] = [];

async function tempStore(): Promise<{ dir: string; store: LocalStore }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-compact-'));
  dirs.push(dir);
  return { dir, store: new LocalStore(dir) };
}

function profileInput(run: string, kind: string) {
  const file = path.join(FIXTURES, run, `${kind}.pb.gz`);
  const meta = parseSourceMeta({ service: run.includes('i2') ? 'svc-b' : 'svc-a', instance: run, version: run.includes('v2') ? 'v2' : 'v1', source: file, sourceId: file });
  return { bytes: readFileSync(file), meta };
}

function gcInput() {
  return { bytes: GC_LOG, meta: parseSourceMeta({ service: 'svc-a', instance: 'gc1', version: 'v1', startUs: GC_START_US, source: 'gc', sourceId: 'test:gc' }) };
}

/** Inputs as ONE batch (what the ingest Lambda writes per SQS batch). */
async function ingestBatch(store: Store, inputs: { bytes: Buffer; meta: ReturnType<typeof parseSourceMeta> }[], w: ParquetWriter = writer): Promise<string[]> {
  const b = new FreshBatch({ store, writer: w });
  for (const i of inputs) b.add(prepareBytes(i.bytes, i.meta).entries);
  return b.publish();
}

/** What a reader sees: counts per table, distinct sources, and top per kind (`quick`: cpu only). */
async function snapshot(store: LocalStore, quick = false): Promise<unknown> {
  const engine = await openEngine(store, {}, [store.root]);
  try {
    const tops = [];
    for (const kind of quick ? (['cpu'] as const) : KINDS) tops.push(await top(engine, { kind, aggregate: 'sum' }));
    const counts = await engine.rows(
      `SELECT (SELECT count(*) FROM profiles) p, (SELECT count(*) FROM functions) f, (SELECT count(*) FROM stacks) s,
              (SELECT count(*) FROM gc_cycles) g, (SELECT count(DISTINCT profile_id) FROM profiles) dp,
              (SELECT sum(pause_ns) FROM gc_cycles) gp`,
    );
    return { tops, counts };
  } finally {
    engine.close();
  }
}

/** Every .parquet file under a directory of the store, as store keys. */
async function parquetKeys(store: LocalStore, prefix: string): Promise<string[]> {
  return (await store.list(prefix)).map((o) => o.key).filter((k) => k.endsWith('.parquet'));
}

/** Athena's view of one table: the rows of the files its symlink manifests list, counted per source and hour. */
async function athenaRows(store: LocalStore, table: string): Promise<{ rows: number; dupes: number }> {
  const links = (await store.list(`athena/${table}/`)).filter((o) => o.key.endsWith('symlink.txt'));
  const files: string[] = [];
  for (const l of links) files.push(...Buffer.from((await store.read(l.key))!).toString('utf8').split('\n').filter(Boolean).map((u) => new URL(u).pathname));
  if (files.length === 0) return { rows: 0, dupes: 0 };
  const conn = await instance.connect();
  try {
    const list = files.map((f) => `'${f}'`).join(', ');
    const r = (await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n, (SELECT count(*)::INTEGER FROM (SELECT profile_id, date_trunc('hour', time) h, count(DISTINCT filename) c FROM read_parquet([${list}], filename = true) GROUP BY ALL HAVING c > 1)) AS d FROM read_parquet([${list}])`)).getRowObjectsJS()[0] as { n: number; d: number };
    return { rows: r.n, dupes: r.d };
  } finally {
    conn.closeSync();
  }
}

beforeAll(async () => {
  instance = await openDuckDb();
  writer = await ParquetWriter.create(instance);
});

afterAll(async () => {
  writer.close();
  instance.closeSync();
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

test('a batch writes one file per table per UTC hour; a gctrace log over three hours gives three gc_cycles files', async () => {
  const { store } = await tempStore();
  const keys = await ingestBatch(store, [...RUNS.map((r) => profileInput(r, 'cpu')), gcInput()]);
  const batchIds = new Set(keys.map((k) => path.basename(k)));
  expect(batchIds.size).toBe(1);
  expect(keys.filter((k) => k.startsWith('fresh/profiles/'))).toHaveLength(1);
  expect(keys.filter((k) => k.startsWith('fresh/gc_cycles/')).map((k) => k.split('/').slice(2, 4).join('/'))).toEqual([
    'dt=2026-11-20/hour=21',
    'dt=2026-11-20/hour=22',
    'dt=2026-11-20/hour=23',
  ]);
  // profiles last: a profile row is visible only once its functions and stacks are
  expect(keys[keys.length - 1]).toMatch(/^fresh\/profiles\//);
});

test('the same sources in two batches (redelivery) count once, in every table and hour', async () => {
  const { store } = await tempStore();
  const inputs = [...RUNS.flatMap((r) => KINDS.map((k) => profileInput(r, k))), gcInput()];
  await ingestBatch(store, inputs);
  const once = await snapshot(store);
  // A second delivery of a subset (another batch), and of all of them one by one.
  await ingestBatch(store, [inputs[1], inputs[inputs.length - 1]]);
  for (const i of inputs) await ingestBytes(i.bytes, i.meta, { store, writer });
  expect(await snapshot(store)).toEqual(once);
  expect((once as { counts: { dp: bigint }[] }).counts[0].dp).toBe(BigInt(RUNS.length * KINDS.length));
});

test('an hour split in several groups (one per batch file) with redelivered sources: the same answers as one unit, each row once, no split file left', async () => {
  const { dir, store } = await tempStore();
  // One batch per instance, then a redelivery of two sources in a fourth: dropped keys span the groups.
  for (const r of RUNS) await ingestBatch(store, KINDS.map((k) => profileInput(r, k)));
  await ingestBatch(store, [profileInput(RUNS[0], 'cpu'), profileInput(RUNS[2], 'heap')]);
  const before = await snapshot(store);
  // A split file left by a job that is gone (a redelivered split that ran while its job was finalized): deleted by the planner.
  const orphan = path.join(store.scratchDir, 'orphan.parquet');
  await fs.mkdir(store.scratchDir, { recursive: true });
  await fs.writeFile(orphan, 'x');
  await store.putFile('_compaction-split/functions/dt=2026-11-20/h21-0123456789abcdef01234567/g0-u0-0.parquet', orphan);
  const units: { unit: number; units: number }[] = [];
  // After each split group, a copy of its files under another attempt's name, as a crashed or a
  // concurrent duplicate delivery of the split leaves them: units read only the files their
  // group's marker names, so the copies change nothing.
  const staleCopies = () => {
    const root = path.join(dir, '_compaction-split');
    if (!existsSync(root)) return;
    for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
      const m = /^g(\d+)-[0-9a-f]{8}-u(\d+)-(\d+)\.parquet$/.exec(e.name);
      const copy = m && path.join(e.parentPath, `g${m[1]}-5a1e5a1e-u${m[2]}-${m[3]}.parquet`);
      if (copy && !existsSync(copy)) copyFileSync(path.join(e.parentPath, e.name), copy);
    }
  };
  await compact(store, writer, {
    ...ALL,
    unitRows: 1,
    splitGroupBytes: 1,
    splitMinUnits: 2,
    tables: ['profiles', 'functions', 'stacks'],
    onUnit: (u) => {
      units.push(u);
      if (u.unit < 0) staleCopies();
    },
  });
  // Split groups ran (unit -1) and every table-hour had several units.
  expect(units.filter((u) => u.unit < 0).length).toBeGreaterThan(RUNS.length);
  expect(Math.max(...units.map((u) => u.units))).toBe(RUNS.length);
  expect(await snapshot(store)).toEqual(before);
  for (const t of ['profiles', 'functions', 'stacks']) expect((await athenaRows(store, t)).dupes).toBe(0);
  expect(await store.list('_compaction-split/')).toEqual([]);
  expect(await store.list('_compaction/')).toEqual([]);
});

test('hour files, then a day file: same answers; manifest, symlink and deferred deletes', async () => {
  const { store } = await tempStore();
  await ingestBatch(store, RUNS.slice(0, 2).flatMap((r) => KINDS.map((k) => profileInput(r, k))));
  await ingestBatch(store, [gcInput()]);
  const before = await snapshot(store);
  const freshBefore = await parquetKeys(store, 'fresh/');

  const t = Date.now();
  const r1 = await compact(store, writer, { ...ALL, now: t });
  expect(r1.hours).toBeGreaterThan(0);
  expect(await snapshot(store)).toEqual(before);
  // Merged fresh files wait out the grace period (a reader may still be reading them).
  expect(await parquetKeys(store, 'fresh/')).toEqual(freshBefore);
  // The log's day is closed: its three hour files were consolidated into a day file at once.
  const { manifest } = await readManifest(store, 'gc_cycles', '2026-11-20');
  expect(manifest.live.map((f) => [f.name.slice(0, 4), f.hours])).toEqual([['day-', [21, 22, 23]]]);
  const profilesDt = (await parquetKeys(store, 'profiles/'))[0].split('/')[1].slice(3);
  expect((await readManifest(store, 'profiles', profilesDt)).manifest.live.map((f) => f.name.slice(0, 1))).toEqual(['h']);
  const link = Buffer.from((await store.read(symlinkKey('gc_cycles', '2026-11-20')))!).toString('utf8');
  expect(link.trim().split('\n')).toEqual(manifest.live.map((f) => store.uri(`gc_cycles/dt=2026-11-20/${f.name}`)));

  // A new source for an hour already compacted: readers see it at once; the next run adds one more hour file.
  await ingestBatch(store, KINDS.map((k) => profileInput(RUNS[2], k)));
  const grown = await snapshot(store);
  expect(grown).not.toEqual(before);
  const r2 = await compact(store, writer, { ...ALL, now: t + 1000 });
  expect(r2.hours).toBe(KINDS.length > 0 ? 3 : 0); // profiles, functions, stacks gain one file each
  expect(r2.days).toBeGreaterThan(0); // the closed day had two live files per table: consolidated
  expect(await snapshot(store)).toEqual(grown);

  // After the grace period everything replaced is gone: one day file per table and dt, no fresh files.
  await compact(store, writer, { ...ALL, now: t + 3_600_000 });
  expect(await snapshot(store)).toEqual(grown);
  expect(await parquetKeys(store, 'fresh/')).toEqual([]);
  for (const table of ['profiles', 'functions', 'stacks']) {
    expect((await parquetKeys(store, `${table}/`)).map((k) => path.basename(k))).toEqual([expect.stringMatching(/^day-[0-9a-f]{24}\.parquet$/)]);
    expect(await store.read(manifestKey(table, (await parquetKeys(store, `${table}/`))[0].split('/')[1].slice(3)))).not.toBeNull();
    expect((await athenaRows(store, table)).dupes).toBe(0);
  }
  // Idempotent: another run changes nothing.
  const r3 = await compact(store, writer, { ...ALL, now: t + 7_200_000 });
  expect([r3.hours, r3.days, r3.deleted]).toEqual([0, 0, 0]);
});

test('a redelivered source arriving after its hour was compacted counts once, and the compactor adds nothing for it', async () => {
  const { store } = await tempStore();
  const inputs = KINDS.map((k) => profileInput(RUNS[0], k));
  await ingestBatch(store, [...inputs, gcInput()]);
  await compact(store, writer, { ...ALL, now: Date.now() });
  const settled = await snapshot(store);
  await ingestBatch(store, [inputs[0], gcInput()]); // late copies
  expect(await snapshot(store)).toEqual(settled);
  const r = await compact(store, writer, { ...ALL, now: Date.now() });
  expect(r.hours).toBe(0); // no rows were missing: nothing new is live
  expect(await snapshot(store)).toEqual(settled);
});

/** A store whose mutating calls fail after `budget` of them: a crash after each effect. */
function crashingStore(store: LocalStore, budget: number): Store & { used: number } {
  let used = 0;
  const mutating = new Set(['putFile', 'putIfMatch', 'delete']);
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'used') return used;
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (mutating.has(prop as string)) {
          if (used >= budget) throw new Error(`crash before effect ${used + 1}`);
          used++;
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as unknown as Store & { used: number };
}

test('interrupted after every single effect, compaction never shows a row twice or loses one, and a re-run completes it', async () => {
  const { dir: seedDir, store: seed } = await tempStore();
  await ingestBatch(seed, [...RUNS.slice(0, 2).flatMap((r) => KINDS.map((k) => profileInput(r, k))), gcInput()]);
  await compact(seed, writer, { ...ALL, now: 1_000 });
  await ingestBatch(seed, [...KINDS.map((k) => profileInput(RUNS[2], k)), gcInput()]); // late: a new source and a redelivery
  const truth = await snapshot(seed, true);
  // How many effects a full run has (hour files, day files, deletes of the first run's files).
  const { dir: probeDir } = await tempStore();
  await fs.cp(seedDir, probeDir, { recursive: true });
  const full = crashingStore(new LocalStore(probeDir), Infinity);
  await compact(full, writer, { ...ALL, now: 10_000_000, graceMs: 0 });
  const effects = full.used;
  expect(effects).toBeGreaterThan(10);
  for (let k = 0; k < effects; k++) {
    const { dir, store } = await tempStore();
    await fs.cp(seedDir, dir, { recursive: true });
    await expect(compact(crashingStore(store, k), writer, { ...ALL, now: 10_000_000, graceMs: 0 })).rejects.toThrow(/crash before effect/);
    expect(await snapshot(store, true)).toEqual(truth);
    await compact(store, writer, { ...ALL, now: 10_000_000, graceMs: 0 });
    expect(await snapshot(store, true)).toEqual(truth);
    for (const table of ['profiles', 'stacks', 'gc_cycles']) expect((await athenaRows(store, table)).dupes).toBe(0);
    await fs.rm(dir, { recursive: true, force: true });
  }
}, 600_000);

test('compaction beside ingest, and beside another compaction: every row exactly once', async () => {
  const { store } = await tempStore();
  const inputs = RUNS.flatMap((r) => KINDS.map((k) => profileInput(r, k)));
  const writer2 = await ParquetWriter.create(instance);
  const ingestWriter = await ParquetWriter.create(instance);
  try {
    // Batches arrive while two compactors run, again and again.
    for (const [i, input] of inputs.entries()) {
      await Promise.all([
        ingestBatch(store, [input, inputs[(i + 1) % inputs.length]], ingestWriter),
        compact(store, writer, { ...ALL, now: 1_000 * i, graceMs: 2_000 }),
        compact(store, writer2, { ...ALL, now: 1_000 * i + 500, graceMs: 2_000 }),
      ]);
    }
    const { store: ref } = await tempStore();
    await ingestBatch(ref, inputs);
    const truth = await snapshot(ref);
    expect(await snapshot(store)).toEqual(truth);
    await compact(store, writer, { ...ALL, now: 1e9, graceMs: 0 });
    // A compacted hour's fresh inputs are kept until an hour after the hour (manifest.ts RETAIN_INPUTS_MS): a clock past it deletes them.
    await compact(store, writer, { ...ALL, now: Date.UTC(2030, 0, 1), graceMs: 0 });
    expect(await snapshot(store)).toEqual(truth);
    expect(await parquetKeys(store, 'fresh/')).toEqual([]);
    for (const table of ['profiles', 'functions', 'stacks']) expect((await athenaRows(store, table)).dupes).toBe(0);
  } finally {
    writer2.close();
    ingestWriter.close();
  }
}, 300_000);

test('a compactor that loses the manifest swap finds the job done by the winner: nothing written twice, nothing orphaned', async () => {
  const { store } = await tempStore();
  const other = await ParquetWriter.create(instance);
  try {
    await ingestBatch(store, [profileInput(RUNS[0], 'cpu')]);
    // Just before compactor A's first manifest swap, a batch of the same hour arrives and compactor
    // B runs: it finds A's job complete and publishes it, then merges the new batch.
    let raced = false;
    const racing = new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        if (prop !== 'putIfMatch') return (v as (...a: unknown[]) => unknown).bind(target);
        return async (key: string, bytes: Uint8Array, etag: string | null) => {
          if (!raced && key.startsWith('profiles/')) {
            raced = true;
            await ingestBatch(store, [profileInput(RUNS[1], 'cpu')], other);
            await compact(store, other, { ...ALL, now: 1_000, tables: ['profiles'] });
          }
          return store.putIfMatch(key, bytes, etag);
        };
      },
    }) as Store;
    const r = await compact(racing, writer, { ...ALL, now: 1_000, tables: ['profiles'] });
    expect(raced).toBe(true);
    expect(r.conflicts).toBe(1);
    expect(r.hours).toBe(0);
    const dt = (await store.list('profiles/')).map((o) => /dt=([\d-]+)\//.exec(o.key)?.[1]).find(Boolean)!;
    const dir = `profiles/dt=${dt}/`;
    const { manifest } = await readManifest(store, 'profiles', dt);
    // Every file that is not live is retired (the hour files the day file replaced): none is orphaned.
    const notLive = (await parquetKeys(store, dir)).filter((k) => !manifest.live.some((f) => dir + f.name === k));
    expect(notLive.length).toBeGreaterThan(0);
    for (const k of notLive) expect(manifest.retired.map((x) => x.key)).toContain(k);
    expect(await store.list('_compaction/')).toEqual([]);
    const { store: ref } = await tempStore();
    await ingestBatch(ref, [profileInput(RUNS[0], 'cpu'), profileInput(RUNS[1], 'cpu')]);
    expect(await snapshot(store, true)).toEqual(await snapshot(ref, true));
    await compact(store, writer, { ...ALL, now: 1_000 + 15 * 60_000, tables: ['profiles'] });
    const after = (await readManifest(store, 'profiles', dt)).manifest;
    expect((await parquetKeys(store, dir)).sort()).toEqual(after.live.map((f) => dir + f.name).sort());
    expect(await snapshot(store, true)).toEqual(await snapshot(ref, true));
  } finally {
    other.close();
  }
}, 300_000);

test('a job planned from a manifest that moved on is stale: its output is retired, never live; a run after the grace deletes it', async () => {
  const { store } = await tempStore();
  const [first] = (await ingestBatch(store, [profileInput(RUNS[0], 'cpu')])).filter((k) => k.startsWith('fresh/profiles/'));
  const k = parseKey(first)!;
  if (k.tier !== 'fresh') throw new Error('not fresh');
  // Two planners race: A saw one batch, B (later) two. B's job goes live first.
  const jobA = await planHourJob(store, writer, 'profiles', k.dt, k.hour, (await store.list(first)), EMPTY_MANIFEST, { unitRows: UNIT_ROWS, rollupSource: false, now: 1_000 });
  await putJob(store, jobA);
  await ingestBatch(store, [profileInput(RUNS[1], 'cpu')]);
  const both = await store.list(`fresh/profiles/dt=${k.dt}/hour=${String(k.hour).padStart(2, '0')}/`);
  const jobB = await planHourJob(store, writer, 'profiles', k.dt, k.hour, both, EMPTY_MANIFEST, { unitRows: UNIT_ROWS, rollupSource: false, now: 1_000 });
  await putJob(store, jobB);
  const settings = () => ({ zstdLevel: 3, rowGroupRows: 122_880 });
  const res = { hours: 0, days: 0, filesMerged: 0, bytesBefore: 0, bytesAfter: 0, conflicts: 0 };
  await runUnit(store, writer, jobKey(jobB), 0, settings);
  expect(await finalizeJob(store, jobB, 1_000, res)).toBe('published');
  // A's worker ran before it learned: its output exists, then its finalize finds the job stale.
  const dir = `profiles/dt=${k.dt}/`;
  await fs.mkdir(store.scratchDir, { recursive: true });
  const tmp = path.join(store.scratchDir, 'a.parquet');
  await fs.copyFile(store.pathOf(dir + jobB.names[0]), tmp);
  await store.putFile(dir + jobA.names[0], tmp);
  expect(await finalizeJob(store, jobA, 2_000, res)).toBe('stale');
  const { manifest } = await readManifest(store, 'profiles', k.dt);
  expect(manifest.live.map((f) => f.name)).toEqual([jobB.names[0]]);
  expect(manifest.retired.map((r) => r.key)).toContain(dir + jobA.names[0]);
  expect(Buffer.from((await store.read(symlinkKey('profiles', k.dt)))!).toString('utf8')).not.toContain(jobA.names[0]);
  expect(await store.list('_compaction/')).toEqual([]);
  // A redelivered unit message of the stale job writes nothing.
  expect((await runUnit(store, writer, jobKey(jobA), 0, settings)).ms).toBe(0);
  const { store: ref } = await tempStore();
  await ingestBatch(ref, [profileInput(RUNS[0], 'cpu'), profileInput(RUNS[1], 'cpu')]);
  expect(await snapshot(store, true)).toEqual(await snapshot(ref, true));
  await compact(store, writer, { now: 2_000 + 15 * 60_000, closedBefore: 0, tables: ['profiles'] });
  expect(await parquetKeys(store, dir)).toEqual([dir + jobB.names[0]]);
}, 120_000);

function gcInputOf(inst: string) {
  return { bytes: GC_LOG, meta: parseSourceMeta({ service: 'svc-a', instance: inst, version: 'v1', startUs: GC_START_US, source: `gc-${inst}`, sourceId: `test:gc:${inst}` }) };
}

test('a day larger than one unit is closed in units of (service, instance) runs, each planned to read only the files of its pairs (same answers)', async () => {
  const { store } = await tempStore();
  await ingestBatch(store, [gcInputOf('gc1'), gcInputOf('gc2')]); // three UTC hours of gc_cycles, two instances
  const truth = await snapshot(store, true);
  const dt = '2026-11-20';
  // unitRows 1: one (service, instance) pair per unit. Hours 21 and 22 only (23 ends with the day).
  await compact(store, writer, { now: 1_000, closedBefore: Date.parse(`${dt}T23:00:00Z`), tables: ['gc_cycles'], unitRows: 1 });
  const { manifest } = await readManifest(store, 'gc_cycles', dt);
  expect(manifest.live.map((f) => [f.name.slice(0, 3), f.hours])).toEqual([
    ['h21', [21]],
    ['h21', [21]],
    ['h22', [22]],
    ['h22', [22]],
  ]);
  // Each live file records its rows, and its job's key counts say which pair it holds.
  expect(manifest.live.every((f) => (f.rows ?? 0) > 0)).toBe(true);
  expect(dayFitsOneUnit(manifest, manifest.live.reduce((a, f) => a + f.rows!, 0))).toBe(true);
  expect(dayFitsOneUnit({ ...manifest, live: [...manifest.live, { name: 'old.parquet', hours: [20] }] }, Number.MAX_SAFE_INTEGER)).toBe(false);
  const job = (await planDayJob(store, writer, 'gc_cycles', dt, manifest, { unitRows: 1, rollupSource: false, now: 1_000 }))!;
  expect(job.units.map((u) => u.pairs)).toEqual([[['svc-a', 'gc1']], [['svc-a', 'gc2']]]);
  // Unit k reads the two hour files of its instance, not the other's.
  const conn = await instance.connect();
  try {
    for (const [k, inputs] of job.unitInputs!.entries()) {
      expect(inputs).toHaveLength(2);
      for (const n of inputs.map((x) => job.inputs[x])) {
        const [r] = (await conn.runAndReadAll(`SELECT DISTINCT instance FROM read_parquet('${path.join(store.root, 'gc_cycles', `dt=${dt}`, n)}')`)).getRows();
        expect(r[0]).toBe(job.units[k].pairs[0][1]);
      }
    }
  } finally {
    conn.closeSync();
  }
  expect(job.units.reduce((a, u) => a + u.rows, 0)).toBe(manifest.live.reduce((a, f) => a + f.rows!, 0));
  // The rest of the day in one process without dayUnits (fleetprof compact, the benchmarks): the day is several units, so it stays.
  await compact(store, writer, { ...ALL, now: 1_500, tables: ['gc_cycles'], unitRows: 1 });
  expect((await readManifest(store, 'gc_cycles', dt)).manifest.live.map((f) => f.name.slice(0, 3))).toEqual(['h21', 'h21', 'h22', 'h22', 'h23', 'h23']);
  // With dayUnits (the stack's planner), its close: one day file per pair, the same answers, Athena sees each row once.
  await compact(store, writer, { ...ALL, now: 2_000, tables: ['gc_cycles'], unitRows: 1, dayUnits: true });
  const after = (await readManifest(store, 'gc_cycles', dt)).manifest;
  expect(after.live.map((f) => f.name.replace(/^(day)-[0-9a-f]+(-u\dof\d)\.parquet$/, '$1$2'))).toEqual(['day-u0of2', 'day-u1of2']);
  expect(await snapshot(store, true)).toEqual(truth);
  expect(await athenaRows(store, 'gc_cycles')).toEqual({ rows: Number(((truth as { counts: { g: unknown }[] }).counts[0]).g), dupes: 0 });
  // The hour files' key counts are retired with them; the day files have their own.
  const counts = (await store.list('_compaction-keys/')).map((o) => o.key);
  expect(counts.filter((k) => /\/day-/.test(k))).toHaveLength(1);
  expect(after.retired.map((r) => r.key)).toEqual(expect.arrayContaining(counts.filter((k) => /\/h\d\d-/.test(k))));
  await compact(store, writer, { ...ALL, now: 2_000 + 15 * 60_000, tables: ['gc_cycles'], unitRows: 1, dayUnits: true });
  expect((await store.list('_compaction-keys/')).map((o) => o.key).filter((k) => /\/h\d\d-/.test(k))).toEqual([]);
  expect(await snapshot(store, true)).toEqual(truth);
}, 120_000);

test('hour files without key counts (an earlier build) are merged only when the day fits one unit', async () => {
  const { store } = await tempStore();
  await ingestBatch(store, [gcInput()]);
  const truth = await snapshot(store, true);
  const dt = '2026-11-20';
  await compact(store, writer, { now: 1_000, closedBefore: Date.parse(`${dt}T23:00:00Z`), tables: ['gc_cycles'], unitRows: 1 });
  for (const o of await store.list('_compaction-keys/')) await store.delete(o.key);
  await compact(store, writer, { ...ALL, now: 2_000, tables: ['gc_cycles'], unitRows: 1 });
  expect((await readManifest(store, 'gc_cycles', dt)).manifest.live.map((f) => f.name.slice(0, 3))).toEqual(['h21', 'h22', 'h23']);
  expect(await snapshot(store, true)).toEqual(truth);
  // Under the bound, the same day is merged (read to plan: no key counts to plan from).
  await compact(store, writer, { ...ALL, now: 3_000, tables: ['gc_cycles'] });
  expect((await readManifest(store, 'gc_cycles', dt)).manifest.live.map((f) => f.name.slice(0, 4))).toEqual(['day-']);
  expect(await snapshot(store, true)).toEqual(truth);
}, 120_000);
