// Pacer and tuning diagnostics: synthetic gctrace logs built to trigger exactly one diagnostic each
// (and a calm one that triggers none), ingested and queried through the core the CLI uses.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ingestBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { openEngine } from '../lib/query/open';
import { gcTrends, type GcBucket } from '../lib/detect/gc-report';
import {
  ASSIST_SHARE_HIGH,
  FORCED_MIN_CYCLES,
  GC_CPU_HIGH,
  GOAL_LIVE_HIGH,
  GOAL_LIVE_LOW,
  HEAP_GROWTH_MIN_BUCKETS,
  MIN_CYCLES,
} from '../lib/detect/gc-diagnostics';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { gctraceLog, type LogSpec } from './helpers/gctrace-gen';

const START_US = Date.parse('2026-03-01T10:00:00Z') * 1000;
const HOUR_US = 3600 * 1e6;

// Each scenario is one service: 2 hours of cycles (so two 1h buckets) unless it says otherwise.
const SCENARIOS: Record<string, { log: LogSpec; expect: string[] }> = {
  // 200 MiB live, goal 2x (GOGC=100), GC every 10 s, assists 2% of mark CPU, GC CPU ~0.06%.
  calm: { log: { cycles: 720, periodS: 10 }, expect: [] },
  // Assists do 60% of the marking.
  assist: { log: { cycles: 720, periodS: 10, cycle: () => ({ assistMs: 60, backgroundMs: 40, idleMs: 0 }) }, expect: ['assist-share-high'] },
  // GC every second on 2 Ps with 250 ms of background marking: ~13% of the CPU.
  cpu: {
    log: { cycles: 7200, periodS: 1, cycle: () => ({ procs: 2, markMs: 500, backgroundMs: 250, assistMs: 20, idleMs: 0 }) },
    expect: ['gc-cpu-high'],
  },
  // Idle mark workers alone do not make GC "expensive": they only use Ps nobody wanted.
  idle: { log: { cycles: 7200, periodS: 1, cycle: () => ({ procs: 2, markMs: 500, backgroundMs: 40, assistMs: 1, idleMs: 400 }) }, expect: [] },
  // Goal 5x live: GOGC=400.
  far: { log: { cycles: 720, periodS: 10, cycle: () => ({ liveMiB: 100, goalMiB: 500, stacksMiB: 0, globalsMiB: 0 }) }, expect: ['goal-far-above-live'] },
  // GC off: astronomically large goal, beyond 2^53 bytes.
  off: { log: { cycles: 720, periodS: 10, cycle: () => ({ goalMiB: '8532210231531' }) }, expect: ['goal-far-above-live'] },
  // Large stacks make the goal 3x+ live at GOGC=100: not a tuning problem, so no diagnostic.
  stacks: { log: { cycles: 720, periodS: 10, cycle: () => ({ liveMiB: 40, goalMiB: 160, stacksMiB: 78, globalsMiB: 2 }) }, expect: [] },
  // Goal 1.1x live: running into GOMEMLIMIT.
  near: { log: { cycles: 720, periodS: 10, cycle: () => ({ liveMiB: 1000, goalMiB: 1100 }) }, expect: ['goal-near-live'] },
  // Small heap where the 4 MiB minimum goal dominates: ratio 4 but below the size the ratio means something.
  tiny: { log: { cycles: 720, periodS: 10, cycle: () => ({ liveMiB: 1, goalMiB: 4, stacksMiB: 0, globalsMiB: 0 }) }, expect: [] },
  // Every 5th cycle forced: runtime.GC() in a loop.
  forced: { log: { cycles: 720, periodS: 10, cycle: (i) => ({ forced: i % 5 === 0 }) }, expect: ['forced-gc-frequent'] },
  // One forced cycle (a heap dump) is fine.
  oneForced: { log: { cycles: 720, periodS: 10, cycle: (i) => ({ forced: i === 100 }) }, expect: [] },
  // 6 hours of live heap growing from 100 to ~220 MiB: flagged from the 5th hourly bucket on.
  leak: {
    log: {
      cycles: 6 * 360,
      periodS: 10,
      cycle: (i) => {
        const live = 100 + Math.floor(i / 18);
        return { liveMiB: live, goalMiB: 2 * live + 2 };
      },
    },
    expect: ['heap-growing'],
  },
  // Warm-up: grows for two hours, then flat for four: never 5 rising buckets.
  warmup: {
    log: {
      cycles: 6 * 360,
      periodS: 10,
      cycle: (i) => {
        const live = 100 + Math.min(Math.floor(i / 18), 40);
        return { liveMiB: live, goalMiB: 2 * live + 2 };
      },
    },
    expect: [],
  },
};

let tmp: string;
let result: GcBucket[];
beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-gc-diag-'));
  const store = new LocalStore(tmp);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  try {
    for (const [name, s] of Object.entries(SCENARIOS)) {
      const meta = parseSourceMeta({ service: name, instance: 'i1', version: 'v1', startUs: START_US, source: name, sourceId: `test:${name}` });
      const r = await ingestBytes(Buffer.from(gctraceLog(s.log)), meta, { store, writer });
      expect(r.input).toBe('gctrace');
    }
  } finally {
    writer.close();
    instance.closeSync();
  }
  const engine = await openEngine(store, {}, [tmp]);
  try {
    result = (await gcTrends(engine, { dataDir: '/data' })).buckets;
  } finally {
    engine.close();
  }
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const bucketsOf = (service: string) => result.filter((b) => b.service === service);

test.each(Object.entries(SCENARIOS))('%s: exactly the expected diagnostics, in every bucket with enough cycles', (name, s) => {
  const buckets = bucketsOf(name);
  expect(buckets.length).toBeGreaterThanOrEqual(2);
  for (const [i, b] of buckets.entries()) {
    const ids = b.diagnostics.map((d) => d.id);
    if (b.cycles < MIN_CYCLES) expect(ids).toEqual([]);
    else if (name === 'leak') expect(ids).toEqual(i + 1 >= HEAP_GROWTH_MIN_BUCKETS ? ['heap-growing'] : []);
    else expect(ids).toEqual(s.expect);
  }
});

test('messages name the numbers that triggered them and what to try', () => {
  const one = (service: string, id: string) => bucketsOf(service)[0].diagnostics.find((d) => d.id === id)!;

  const assist = one('assist', 'assist-share-high');
  expect(assist.evidence).toMatchObject({ assist_share: bucketsOf('assist')[0].assist_share, threshold: ASSIST_SHARE_HIGH });
  expect(assist.message).toContain('mark assists did 60.0% of the marking CPU');
  expect(assist.message).toContain(
    '`fleetprof top --data /data --type allocs --service assist --version v1 --from 2026-03-01T10:00:00.000Z --to 2026-03-01T11:00:00.000Z`',
  );
  expect(assist.message).toMatch(/GOGC/);

  const cpu = one('cpu', 'gc-cpu-high');
  expect(cpu.evidence.gc_cpu_fraction).toBe(bucketsOf('cpu')[0].gc_cpu_fraction);
  expect(cpu.evidence.gc_cpu_fraction_excluding_idle as number).toBeGreaterThanOrEqual(GC_CPU_HIGH);
  expect(cpu.message).toMatch(/GC used 13\.5% of the available CPU/);
  expect(cpu.message).toMatch(/GOMEMLIMIT/);

  const far = one('far', 'goal-far-above-live');
  expect(far.evidence).toMatchObject({ goal_live_ratio: 5, threshold: GOAL_LIVE_HIGH, implied_gogc: 400 });
  expect(far.message).toContain('The heap goal is 5.00x the live heap (avg goal 500.00MiB, avg live 100.00MiB; threshold 3x)');
  expect(far.message).toContain('GOGC of about 400');
  expect(far.message).toContain('set GOMEMLIMIT');

  const off = one('off', 'goal-far-above-live');
  expect(off.message).toContain('GC is effectively off');
  expect(bucketsOf('off')[0].heap_goal_max_bytes).toBe(8532210231531n * 1048576n);

  const near = one('near', 'goal-near-live');
  expect(near.evidence).toMatchObject({ goal_live_ratio: 1.1, threshold: GOAL_LIVE_LOW });
  expect(near.message).toContain('each cycle may allocate just 10.0% of the live heap');
  expect(near.message).toContain('GOMEMLIMIT');
  expect(near.message).toContain('--type heap --service near');

  const forced = one('forced', 'forced-gc-frequent');
  expect(forced.evidence).toMatchObject({ forced_cycles: 72, cycles: 360, forced_share: 0.2 });
  expect(forced.evidence.threshold_cycles).toBe(FORCED_MIN_CYCLES);
  expect(forced.message).toContain('72 of 360 cycles (20.0%) were forced');
  expect(forced.message).toContain('runtime.GC()');

  const leak = bucketsOf('leak')[HEAP_GROWTH_MIN_BUCKETS - 1].diagnostics[0];
  expect(leak.evidence).toMatchObject({ buckets: HEAP_GROWTH_MIN_BUCKETS });
  const series = leak.evidence.series as { start: string; heap_live_avg_bytes: bigint }[];
  expect(series.map((x) => x.start)).toEqual(bucketsOf('leak').slice(0, HEAP_GROWTH_MIN_BUCKETS).map((b) => b.start));
  expect(series.map((x) => x.heap_live_avg_bytes)).toEqual(bucketsOf('leak').slice(0, HEAP_GROWTH_MIN_BUCKETS).map((b) => b.heap_live_avg_bytes));
  expect(leak.message).toMatch(/grown in each of the last 5 buckets, from 109\.\d\dMiB to 189\.\d\dMiB/);
});

test('calm numbers are what the generator put in', () => {
  const [b] = bucketsOf('calm');
  expect(b.start).toBe(new Date(START_US / 1000).toISOString());
  expect(b.cycles).toBe(360);
  expect(b.cycles_per_min).toBeCloseTo(6, 2);
  expect(b.assist_share).toBeCloseTo(1 / 46, 12);
  expect(b.goal_live_ratio).toBeCloseTo(402 / 200, 12);
  // GC CPU per cycle: 0.4 + 1 + 40 + 5 + 0.64 ms on 8 Ps every 10 s.
  expect(b.gc_cpu_fraction).toBeCloseTo(47.04 / (10_000 * 8), 5);
  expect(b.pause_p99_ns).toBe(130_000n);
  expect(HOUR_US).toBe(3600e6);
});
