// The layout-v2 batch writer takes gctrace and runtime/metrics rows a chunk at a time (#13, memory
// bounded by design): FreshBatch keeps a chunked entry without reading it, and publish reads its
// chunks once, one at a time, into the batch's file per table and UTC hour, next to the held rows
// of the same table and hour; the files hold exactly the rows, with the batch id.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { FreshBatch, prepareBytes } from '../lib/ingest';
import type { GcIngestResult } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import type { GcCyclesRow } from '../lib/model/schema';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { isChunked, type ChunkedEntry } from '../lib/store/publish';
import { gctraceLog } from './helpers/gctrace-gen';

let instance: DuckDBInstance;
let writer: ParquetWriter;
let dir: string;

beforeAll(async () => {
  instance = await openDuckDb({ threads: 1 });
  writer = await ParquetWriter.create(instance);
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-chunks-'));
});

afterAll(async () => {
  writer.close();
  instance.closeSync();
  await fs.rm(dir, { recursive: true, force: true });
});

// 700 cycles every 20 s from 23:10 UTC: the rows span 23:10 .. 03:03, five hours over two days.
const START_US = Date.parse('2026-11-20T23:10:00Z') * 1000;
const meta = (id: string) => parseSourceMeta({ service: 'svc', instance: id, version: 'v1', startUs: START_US, source: id, sourceId: `test:${id}` });

/** A chunked entry that records how it is read: chunks() calls, and the largest chunk. */
function watched(e: ChunkedEntry): { entry: ChunkedEntry; reads: () => number; maxChunk: () => number } {
  let reads = 0;
  let maxChunk = 0;
  return {
    entry: {
      table: e.table,
      count: e.count,
      *chunks() {
        reads++;
        for (const c of e.chunks()) {
          maxChunk = Math.max(maxChunk, c.length);
          yield c;
        }
      },
    },
    reads: () => reads,
    maxChunk: () => maxChunk,
  };
}

async function fileRows(store: LocalStore, keys: string[], table: string): Promise<{ key: string; rows: { gc: number; instance: string; batch: string }[] }[]> {
  const conn = await instance.connect();
  try {
    const out = [];
    for (const key of keys.filter((k) => k.startsWith(`fresh/${table}/`))) {
      const r = await conn.runAndReadAll(`SELECT gc, instance, _batch FROM read_parquet('${path.join(store.root, key)}') ORDER BY instance, gc`);
      out.push({ key, rows: r.getRowObjects().map((o) => ({ gc: Number(o.gc), instance: String(o.instance), batch: String(o._batch) })) });
    }
    return out;
  } finally {
    conn.closeSync();
  }
}

test('a chunked entry is read at publish, once, a chunk at a time, into one file per hour shared with held rows', async () => {
  const store = new LocalStore(path.join(dir, 'a'));
  const log = Buffer.from(gctraceLog({ cycles: 700, periodS: 20 }));
  const a = prepareBytes(log, meta('a'));
  const [entry] = a.entries;
  expect(isChunked(entry)).toBe(true);
  const w = watched(entry as ChunkedEntry);
  // The same log's rows held whole (as a profile's rows are): they join the chunked rows' files.
  const held = [...(entry as ChunkedEntry<'gc_cycles'>).chunks()].flat().map((r): GcCyclesRow => ({ ...r, instance: 'held' }));

  const b = new FreshBatch({ store, writer }, { maxRows: 1000 });
  b.add([w.entry]);
  expect(w.reads()).toBe(0);
  expect(b.rows).toBe(700);
  expect(b.full).toBe(false);
  b.add([{ table: 'gc_cycles', rows: held }]);
  expect(b.full).toBe(true);

  const keys = await b.publish('b1');
  expect(w.reads()).toBe(1);
  expect(w.maxChunk()).toBeLessThanOrEqual(16_384);
  expect(keys.map((k) => k.split('/').slice(2, 4).join('/'))).toEqual([
    'dt=2026-11-20/hour=23',
    'dt=2026-11-21/hour=00',
    'dt=2026-11-21/hour=01',
    'dt=2026-11-21/hour=02',
    'dt=2026-11-21/hour=03',
  ]);
  const files = await fileRows(store, keys, 'gc_cycles');
  const all = files.flatMap((f) => f.rows);
  expect(all).toHaveLength(1400);
  expect(new Set(all.map((r) => r.batch))).toEqual(new Set(['b1']));
  for (const inst of ['a', 'held']) {
    expect(all.filter((r) => r.instance === inst).map((r) => r.gc).sort((x, y) => x - y)).toEqual(Array.from({ length: 700 }, (_, i) => i + 1));
  }
  // Each hour's file holds the chunked and the held rows of that hour, nothing else.
  for (const f of files) expect(new Set(f.rows.map((r) => r.instance))).toEqual(new Set(['a', 'held']));
  expect((a.result as GcIngestResult).dts).toEqual(['2026-11-20', '2026-11-21']);
  expect(b.empty).toBe(true);
});

test('chunks smaller than an hour of rows (several appends per hour file) still write every row once', async () => {
  const store = new LocalStore(path.join(dir, 'b'));
  const log = Buffer.from(gctraceLog({ cycles: 700, periodS: 20 }));
  const [entry] = prepareBytes(log, meta('c')).entries as ChunkedEntry<'gc_cycles'>[];
  const rows = [...entry.chunks()].flat();
  const small: ChunkedEntry<'gc_cycles'> = {
    table: 'gc_cycles',
    count: rows.length,
    *chunks() {
      for (let i = 0; i < rows.length; i += 37) yield rows.slice(i, i + 37);
    },
  };
  const b = new FreshBatch({ store, writer });
  b.add([small]);
  const files = await fileRows(store, await b.publish('b2'), 'gc_cycles');
  expect(files.flatMap((f) => f.rows.map((r) => r.gc)).sort((x, y) => x - y)).toEqual(rows.map((r) => r.gc));
});

test('a chunk that throws publishes nothing and leaves no scratch file', async () => {
  const store = new LocalStore(path.join(dir, 'c'));
  const log = Buffer.from(gctraceLog({ cycles: 700, periodS: 20 }));
  const [entry] = prepareBytes(log, meta('d')).entries as ChunkedEntry<'gc_cycles'>[];
  const failing: ChunkedEntry<'gc_cycles'> = {
    table: 'gc_cycles',
    count: entry.count,
    *chunks() {
      let n = 0;
      for (const c of entry.chunks()) {
        if (n++ === 0) {
          // First chunk split so that several hour files are open when the failure comes.
          yield c.slice(0, 400);
          throw new Error('input changed under us');
        }
        yield c;
      }
    },
  };
  const b = new FreshBatch({ store, writer });
  b.add([failing]);
  await expect(b.publish('b3')).rejects.toThrow(/input changed/);
  const left = await fs.readdir(store.root, { recursive: true }).catch(() => []);
  expect(left.map(String).filter((f) => f.endsWith('.parquet') || f.endsWith('.ndjson'))).toEqual([]);
});

test('a small runtime/metrics input is held as rows: written with other inputs in one file, each row exactly as built (shared labels once per input)', async () => {
  const doc = (t: string, v: number) => ({ time: t, metrics: { '/gc/heap/goal:bytes': v, '/sched/latencies:seconds': { buckets: ['-Inf', 0, 1e-6, '+Inf'], counts: [0, v, 1] }, '/gc/pause:seconds': null } });
  const text = (v: number) => `${JSON.stringify(doc('2026-11-21T10:00:00Z', v))}\n${JSON.stringify(doc('2026-11-21T10:00:10Z', v + 1))}\n`;
  const m = (id: string, labels: Record<string, string>) => parseSourceMeta({ service: 'svc', instance: id, version: 'v1', labels, process: `p-${id}`, source: id, sourceId: `test:${id}` });
  const a = prepareBytes(Buffer.from(text(7)), m('a', { region: 'eu', tier: 'x' }));
  const b = prepareBytes(Buffer.from(text(9)), m('b', {}));
  for (const p of [a, b]) expect(p.entries.map(isChunked)).toEqual([false]);
  const store = new LocalStore(path.join(dir, 'held'));
  const batch = new FreshBatch({ store, writer });
  batch.add(a.entries);
  batch.add(b.entries);
  const keys = await batch.publish();
  expect(keys.filter((k) => k.startsWith('fresh/runtime_metrics/'))).toHaveLength(1);
  const conn = await instance.connect();
  try {
    const r = await conn.runAndReadAll(
      `SELECT profile_id, instance, labels::JSON::VARCHAR AS labels, process, epoch_ms(time) AS ms, name, value, buckets::VARCHAR AS buckets, counts::VARCHAR AS counts FROM read_parquet('${path.join(store.root, keys.find((k) => k.startsWith('fresh/runtime_metrics/'))!)}') ORDER BY instance, ms, name`,
    );
    const got = r.getRowObjectsJS();
    expect(got).toHaveLength(12);
    const want = [a, b].flatMap((p) => (p.entries[0] as unknown as { rows: Record<string, unknown>[] }).rows);
    for (const w of want) {
      const row = got.find((g) => g.instance === w.instance && Number(g.ms) * 1000 === w.time && g.name === w.name)!;
      expect(row.profile_id).toBe(w.profile_id);
      expect(JSON.parse(String(row.labels))).toEqual(w.labels);
      expect(row.process).toBe(w.process);
      expect(row.value).toEqual(w.value);
      expect(row.counts).toBe(w.counts === null ? null : `[${(w.counts as number[]).join(', ')}]`);
    }
  } finally {
    conn.closeSync();
  }
});

test('rows alternating between hours, more than the open files may buffer at once, are each written once into their hour', async () => {
  // 60,000 cycles every 0.3 s from 23:10: six hours. Fed round-robin, 2,000 rows of each hour in turn, so
  // every hour's file is open and buffering at once and the batch's bound on buffered rows
  // (publish.ts BUFFERED_ROWS) makes the others write shorter runs again and again.
  const store = new LocalStore(path.join(dir, 'd'));
  const log = Buffer.from(gctraceLog({ cycles: 60_000, periodS: 0.3 }, false));
  const [entry] = prepareBytes(log, meta('e')).entries as ChunkedEntry<'gc_cycles'>[];
  const rows = [...entry.chunks()].flat();
  const byHour = new Map<number, GcCyclesRow[]>();
  for (const r of rows) {
    const h = Math.floor(r.time / 3_600_000_000);
    const list = byHour.get(h);
    if (list) list.push(r);
    else byHour.set(h, [r]);
  }
  expect(byHour.size).toBe(6);
  const alternating: ChunkedEntry<'gc_cycles'> = {
    table: 'gc_cycles',
    count: rows.length,
    *chunks() {
      for (let i = 0; ; i += 2000) {
        const round = [...byHour.values()].map((h) => h.slice(i, i + 2000)).filter((c) => c.length > 0);
        if (round.length === 0) return;
        yield* round;
      }
    },
  };
  const b = new FreshBatch({ store, writer });
  b.add([alternating]);
  const keys = await b.publish('b4');
  expect(keys).toHaveLength(6);
  const conn = await instance.connect();
  try {
    for (const key of keys) {
      const r = await conn.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT gc) AS d, count(DISTINCT date_trunc('hour', time)) AS h FROM read_parquet('${path.join(store.root, key)}')`);
      const [o] = r.getRowObjectsJS() as { n: bigint; d: bigint; h: bigint }[];
      expect(o.n).toBe(o.d);
      expect(o.h).toBe(1n);
    }
    const all = await conn.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT gc) AS d FROM read_parquet([${keys.map((k) => `'${path.join(store.root, k)}'`).join(', ')}])`);
    expect(all.getRowObjectsJS()).toEqual([{ n: 60_000n, d: 60_000n }]);
  } finally {
    conn.closeSync();
  }
});
