// `top` of CPU over a window of rolled-up hours and the fresh, merged hour (the last 24 hours): the
// planner's raw span over the fresh hour goes through the merge tier's pre-sums (lib/query/top.ts
// rawSpansFromSums), fleet-wide, per service and per version, with a redelivered copy in the fresh
// hour: equal to the raw path (rollups: false) each time.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { compact } from '../lib/store/compact';
import { mergeOpen } from '../lib/store/merge';
import { rollupStore } from '../lib/store/rollup';
import { openEngine } from '../lib/query/open';
import { planWindow } from '../lib/query/plan';
import { topFromMergeSums } from '../lib/query/merge-sums';
import { profileWeightsSql } from '../lib/query/window';
import { top, type TopQuery } from '../lib/query/top';
import { exactJson } from '../lib/query/json';
import { cpuBatch, MIN_US as MIN } from './helpers/cpu-batch';

const H = 3_600_000_000;
const A = Date.UTC(2026, 10, 20, 10) * 1000; // the fresh hour; A - 2H .. A compacted and rolled up
let instance: DuckDBInstance;
let writer: ParquetWriter;
let tmp: string;

beforeAll(async () => {
  instance = await openDuckDb();
  writer = await ParquetWriter.create(instance);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-plan-sums-'));
});

afterAll(async () => {
  writer?.close();
  instance?.closeSync();
  await fs.rm(tmp, { recursive: true, force: true });
});

test('rolled-up hours + the fresh hour: the fresh span from the pre-sums equals the raw path', async () => {
  const store = new LocalStore(path.join(tmp, 'day'));
  await cpuBatch(store, writer, [A - 2 * H + 10 * MIN, A - 2 * H + 40 * MIN], 'h0');
  await cpuBatch(store, writer, [A - H + 5 * MIN, A - H + 50 * MIN], 'h1');
  await compact(store, writer, { now: A / 1000 + 10 * 60_000, closedBefore: A / 1000 });
  const conn = await instance.connect();
  try {
    await rollupStore(store, conn, { fromUs: A - 2 * H, toUs: A });
  } finally {
    conn.closeSync();
  }
  for (let m = 2; m < 30; m += 6) await cpuBatch(store, writer, [A + m * MIN, A + (m + 3) * MIN], `m${m}`);
  await mergeOpen(store, writer, { now: A / 1000 + 35 * 60_000, minAgeMs: -Infinity });
  await cpuBatch(store, writer, [A + 40 * MIN], 'last'); // raw
  const windows: [number, number][] = [
    [A - 2 * H, A + H], // two rolled hours, the fresh one
    [A - 2 * H + 30 * MIN, A + 20 * MIN], // a compacted edge, a rolled hour, part of the fresh one
  ];
  const check = async () => {
    for (const [fromUs, toUs] of windows)
      for (const extra of [{}, { service: 'svc-a' }, { version: 'v1', sampleType: 'samples' }]) {
        const q: TopQuery = { kind: 'cpu', fromUs, toUs, by: 'flat', ...extra };
        const e = await openEngine(store, { fromUs, toUs }, [store.root]);
        try {
          const plan = await planWindow(e, q, q.sampleType ?? 'cpu', 'functions', { totals: true });
          expect(plan).not.toBeNull(); // the planner's case
          // The fresh span takes the pre-sums' direct path (what top now asks of each raw span).
          const last = plan!.raw.at(-1)!;
          const sq = { ...q, fromUs: last[0], toUs: last[1] };
          const p = { st: q.sampleType ?? 'cpu' };
          expect((await topFromMergeSums(e, sq, p.st, profileWeightsSql(sq, p.st, p), p))?.totals).toBeDefined();
          const got = exactJson(await top(e, q));
          expect(got).toEqual(exactJson(await top(e, { ...q, rollups: false })));
          expect(JSON.parse(got).total).not.toBe(0);
        } finally {
          e.close();
        }
      }
  };
  await check();
  await cpuBatch(store, writer, [A + 8 * MIN], 'm8'); // a redelivered batch in the fresh hour
  await check();
}, 120_000);
