// The GC detector on synthetic gctrace logs with a realistic span (24 hourly baseline buckets, a
// 1 hour window): a service whose numbers only wiggle is quiet; pause, frequency and live-heap
// regressions in the last hour are reported with the metric that moved; the rule is the baseline's
// own spread, so a noisy baseline tolerates more than a steady one.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ingestBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { openEngine } from '../lib/query/open';
import { digest, type DigestResult } from '../lib/detect/digest';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { gctraceLog, type LogSpec } from './helpers/gctrace-gen';

const START_US = Date.parse('2026-03-01T00:00:00Z') * 1000;
const HOUR_US = 3600e6;
const BASE = 24 * 60; // one cycle a minute for 24 hours
const jitter = (i: number) => ((i * 7919) % 13) / 13; // deterministic 0..1

const LOGS: Record<string, LogSpec> = {
  calm: { cycles: BASE + 60, periodS: 60, cycle: (i) => ({ markTermMs: 0.08 + 0.04 * jitter(i), liveMiB: 200 + Math.round(4 * jitter(i)) }) },
  // Noisy baseline: pauses swing between 0.1 and 3 ms every hour; a 2.5 ms p99 in the window is normal for it.
  noisy: { cycles: BASE + 60, periodS: 60, cycle: (i) => ({ markTermMs: i < BASE ? (Math.floor(i / 60) % 2 === 0 ? 0.1 : 3) * (1 + jitter(i) / 5) : 2.5 }) },
  pauses: { cycles: BASE + 60, periodS: 60, cycle: (i) => ({ markTermMs: i < BASE ? 0.08 + 0.04 * jitter(i) : 4 + jitter(i) }) },
  frequent: { cycles: BASE + 600, periodS: 60, cycle: (i) => ({ at: i < BASE ? 1 + i * 60 : 1 + BASE * 60 + (i - BASE) * 6 }) },
  heap: { cycles: BASE + 60, periodS: 60, cycle: (i) => ({ liveMiB: i < BASE ? 200 + Math.round(4 * jitter(i)) : 420, goalMiB: i < BASE ? 402 : 842 }) },
};

let tmp: string;
let d: DigestResult;
beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-detect-gc-'));
  const store = new LocalStore(tmp);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  try {
    for (const [name, log] of Object.entries(LOGS)) {
      const meta = parseSourceMeta({ service: name, instance: 'i1', version: 'v1', startUs: START_US, source: name, sourceId: `test:${name}` });
      await ingestBytes(Buffer.from(gctraceLog(log)), meta, { store, writer });
    }
  } finally {
    writer.close();
    instance.closeSync();
  }
  const engine = await openEngine(store, {}, [tmp]);
  try {
    d = await digest(engine, { nowUs: START_US + 25 * HOUR_US, windowUs: HOUR_US, baselineUs: 24 * HOUR_US, dataDir: tmp });
  } finally {
    engine.close();
  }
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const of = (svc: string) => d.anomalies.filter((a) => a.service === svc);
const metrics = (svc: string) => Object.keys((of(svc)[0]?.evidence as { metrics?: object } | undefined)?.metrics ?? {});

test('a steady service and a noisy one within its usual range: quiet', () => {
  expect(d.services).toEqual(['calm', 'frequent', 'heap', 'noisy', 'pauses']);
  expect(of('calm')).toEqual([]);
  expect(of('noisy')).toEqual([]);
});

test('pause regression: p99 pause reported, against 24 baseline buckets', () => {
  expect(of('pauses').map((a) => a.area)).toEqual(['gc']);
  expect(metrics('pauses')).toContain('pause_p99_ns');
  const e = of('pauses')[0].evidence as { baseline_buckets: number };
  expect(e.baseline_buckets).toBe(24);
  expect(of('pauses')[0].severity).toBe('high');
  expect(of('pauses')[0].summary).toMatch(/p99 GC pause/);
  // No profiles: no culprits, and the next step points at the GC trends.
  expect(of('pauses')[0].culprits).toEqual([]);
  expect(of('pauses')[0].nextStep).toMatch(/fleetprof gc/);
});

test('frequency regression: GC ten times as often', () => {
  expect(metrics('frequent')).toContain('cycles_per_min');
});

test('live heap doubled', () => {
  expect(metrics('heap')).toEqual(['heap_live_avg_bytes']);
});
