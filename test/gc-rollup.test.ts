// `fleetprof gc` over gc_1h / gc_1d (#11 point 5, lib/query/gc-rollup.ts): every figure of every
// bucket (and the diagnostics computed from them) equals the raw-rows answer (lib/query/gc.ts,
// itself checked number by number in gc-trends.test.ts), for 1 h, 2 h and 1 d buckets, windows of
// whole days (the day form), whole hours, hours not rolled up yet, per service and fleet-wide,
// over real gctrace lines placed so that streams cross hour ends, continue across hours from a
// local piece (the retract entries), restart, and run for hours.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ingestGctraceBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { rollupStore } from '../lib/store/rollup';
import { gcTrends } from '../lib/detect/gc-report';
import { gcBucketStatsFromRollups } from '../lib/query/gc-rollup';
import { openLocalEngine } from '../bin/commands/engine';
import type { QueryEngine } from '../lib/query/engine';

const H = 3_600_000_000;
const D = 24 * H;
const at = (iso: string) => Date.parse(iso) * 1000;

// The fixture's gc lines (the rest of each line after `gc N @Ts `) to place at chosen offsets.
const TAILS = ['svc-a-v1-i1', 'svc-a-v2-i1'].map((run) =>
  readFileSync(path.join(__dirname, 'fixtures/go', run, 'gctrace.log'), 'utf8')
    .split('\n')
    .filter((l) => /^gc \d+ @[\d.]+s /.test(l))
    .map((l) => l.replace(/^gc \d+ @[\d.]+s /, '')),
);

/** A gctrace log with cycles at the given offsets (seconds from the log's start); a null offset restarts the process (gc numbers from 1). */
function log(offsets: (number | null)[], tails: string[]): string {
  const out: string[] = [];
  let n = 0;
  let i = 0;
  for (const o of offsets) {
    if (o === null) {
      n = 0;
      continue;
    }
    n++;
    out.push(`gc ${n} @${o.toFixed(3)}s ${tails[i++ % tails.length]}`);
  }
  return out.join('\n') + '\n';
}

const every = (from: number, to: number, step: number) => Array.from({ length: Math.floor((to - from) / step) }, (_, k) => from + k * step);

interface Upload {
  service: string;
  instance: string;
  version: string;
  start: string;
  offsets: (number | null)[];
  tails: number;
}

const UPLOADS: Upload[] = [
  // One long stream from 21:50 over midnight to ~03:00, with a restart at ~01:00.
  { service: 'api', instance: 'a1', version: 'v1', start: '2026-11-30T21:50:00Z', offsets: [...every(0, 11_000, 97), null, ...every(11_100, 18_000, 131)], tails: 0 },
  // A minute-long upload per 20 min per instance from 21:59 (+17 s for a3): local pieces, and pieces across hour ends.
  ...['a2', 'a3'].flatMap((instance, j) =>
    every(0, 7 * 3600, 1200).map((s) => ({
      service: 'api',
      instance,
      version: j === 0 ? 'v1' : 'v2',
      start: new Date(Date.parse('2026-11-30T21:00:00Z') + (s + 3540 + j * 17) * 1000).toISOString(),
      offsets: every(0, 60, 7),
      tails: j,
    })),
  ),
  // Local in 22:00, continuing into 23:00 and 00:00 (retract entries), then ending.
  { service: 'worker', instance: 'w1', version: 'v1', start: '2026-11-30T22:40:00Z', offsets: [...every(0, 1000, 60), 1500, 1700, 2300, 4000, 5000], tails: 1 },
  // Local in 23:00, continuing into 00:00 only (one retract across the day boundary).
  { service: 'worker', instance: 'w2', version: 'v1', start: '2026-11-30T23:30:00Z', offsets: [...every(0, 1700, 45), 1830, 2000], tails: 0 },
  // A cycle starting 23:59:59.999 that ends after midnight (an open piece by its end alone).
  { service: 'worker', instance: 'w3', version: 'v1', start: '2026-11-30T23:59:00Z', offsets: [10, 30, 59.999], tails: 1 },
];

let dir: string;
let instance: DuckDBInstance;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-gc-rollup-'));
  instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  const store = new LocalStore(dir);
  for (const [i, u] of UPLOADS.entries()) {
    const meta = parseSourceMeta({ service: u.service, instance: u.instance, version: u.version, source: `gctrace-${i}`, sourceId: `gctrace-${i}`, startUs: at(u.start) });
    await ingestGctraceBytes(Buffer.from(log(u.offsets, TAILS[u.tails])), meta, { store, writer });
  }
  writer.close();
  const conn = await instance.connect();
  try {
    // Nov 30 whole (and its day form), Dec 1 00:00-02:00; 02:00 onwards stays raw.
    await rollupStore(store, conn, { fromUs: at('2026-11-30T00:00:00Z'), toUs: at('2026-12-01T02:00:00Z') });
  } finally {
    conn.closeSync();
  }
}, 300_000);

afterAll(() => {
  instance?.closeSync();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function withEngine<T>(f: (e: QueryEngine) => Promise<T>): Promise<T> {
  const e = await openLocalEngine(dir, { fromUs: at('2026-11-29T00:00:00Z'), toUs: at('2026-12-03T00:00:00Z') });
  try {
    return await f(e);
  } finally {
    e.close();
  }
}

const WINDOWS: [string, string, string, number][] = [
  ['two days, 1 d buckets (day form + hours + raw)', '2026-11-30T00:00:00Z', '2026-12-02T00:00:00Z', D],
  ['two days, 1 h buckets', '2026-11-30T00:00:00Z', '2026-12-02T00:00:00Z', H],
  ['hours around midnight, 2 h buckets', '2026-11-30T21:00:00Z', '2026-12-01T03:00:00Z', 2 * H],
  ['a window starting inside streams', '2026-11-30T23:00:00Z', '2026-12-01T01:00:00Z', H],
  ['one hour', '2026-12-01T00:00:00Z', '2026-12-01T01:00:00Z', H],
];

test.each(WINDOWS)('%s: gc over rollups = gc over raw rows, every figure', async (_name, from, to, bucketUs) => {
  await withEngine(async (e) => {
    for (const filter of [{}, { service: 'api' }, { service: 'worker' }, { service: 'api', version: 'v2' }]) {
      const q = { ...filter, fromUs: at(from), toUs: at(to), bucketUs };
      expect(await gcBucketStatsFromRollups(e, q)).not.toBeNull();
      const viaRollups = await gcTrends(e, q);
      const raw = await gcTrends(e, { ...q, rollups: false });
      expect({ q, r: viaRollups }).toEqual({ q, r: raw });
      expect(raw.buckets.length).toBeGreaterThan(0);
    }
  });
}, 300_000);

test('the data exercises what the rollup must get right', async () => {
  await withEngine(async (e) => {
    const streams = await e.rows(`SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE list_contains(list_transform(streams, s -> s.retract), true)) AS with_retract FROM gc_1h`);
    expect(Number(streams[0].with_retract)).toBeGreaterThan(0);
    const day = await e.rows(`SELECT COUNT(*) AS n FROM gc_1d`);
    expect(Number(day[0].n)).toBeGreaterThan(0);
    // Unaligned windows and instance filters read raw rows.
    expect(await gcBucketStatsFromRollups(e, { fromUs: at('2026-11-30T21:30:00Z'), toUs: at('2026-12-01T01:00:00Z') })).toBeNull();
    expect(await gcBucketStatsFromRollups(e, { instance: 'a1', fromUs: at('2026-11-30T21:00:00Z'), toUs: at('2026-12-01T01:00:00Z') })).toBeNull();
  });
}, 300_000);
