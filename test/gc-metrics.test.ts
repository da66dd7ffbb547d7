// GC trends from runtime/metrics (lib/query/gc-metrics.ts) against gctrace on real programs that
// wrote both: runs of scripts/gen-scenarios.sh --mode agent (test/fixtures/scenarios-agent, each
// a Go process with GODEBUG=gctrace=1 and runtime/metrics snapshots every 250 ms). Each run is ingested twice, as service
// "<run>-trace" (its gctrace only) and "<run>-metrics" (its runtime/metrics only), and
// `fleetprof gc` over the same span (one bucket) must agree where the definitions agree.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import * as os from 'node:os';
import * as path from 'node:path';
import { gcTrends } from '../lib/detect/gc-report';
import { ingestBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { histogramQuantiles } from '../lib/query/gc-metrics';
import { openEngine } from '../lib/query/open';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { SCENARIOS_AGENT, scenarioManifest } from './helpers/scenarios';

const m = scenarioManifest(SCENARIOS_AGENT);
// A steady run, one that turns GC-heavy halfway, and one with a plain workload: different GC regimes.
const RUNS = ['noise-i1', 'search-i1', 'sessions-i1-baseline'].map((r) => m.runs.find((x) => x.run === r)!);
let data: string;

beforeAll(async () => {
  data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-gc-metrics-'));
  const store = new LocalStore(data);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  try {
    for (const r of RUNS) {
      for (const [f, service] of [['gctrace.txt', `${r.service}-trace`], ['metrics.jsonl.gz', `${r.service}-metrics`]]) {
        const file = path.join(SCENARIOS_AGENT, 'runs', r.run, f);
        const meta = parseSourceMeta({ service, instance: 'i1', version: 'v', startUs: Date.parse(r.startTime) * 1000, source: file, sourceId: `${r.run}/${f}` });
        await ingestBytes(readFileSync(file), meta, { store, writer });
      }
    }
    // Two processes reporting under one instance name at the same moments (a rolling restart on
    // one host name, two replicas sharing a pod name): the same snapshots uploaded by process p1
    // and by p2, and once more with no process identity.
    const file = path.join(SCENARIOS_AGENT, 'runs', RUNS[0].run, 'metrics.jsonl.gz');
    for (const [service, process] of [['twins', 'p1'], ['twins', 'p2'], ['single', 'p1']]) {
      const meta = parseSourceMeta({ service, instance: 'i1', version: 'v', process, startUs: Date.parse(RUNS[0].startTime) * 1000, source: file, sourceId: `${service}/${process}` });
      await ingestBytes(readFileSync(file), meta, { store, writer });
    }
  } finally {
    writer.close();
    instance.closeSync();
  }
}, 120_000);
afterAll(() => rmSync(data, { recursive: true, force: true }));

test('histogram percentiles: nearest rank over counts', () => {
  expect(histogramQuantiles([[1, 1], [2, 1], [3, 98]], [0.01, 0.02, 0.5, 1])).toEqual([1, 2, 3, 3]);
  expect(histogramQuantiles([], [0.5])).toEqual([0]);
});

test.each(RUNS.map((r) => [r.run, r]))('%s: runtime/metrics agree with gctrace', async (_svc, r) => {
  const engine = await openEngine(new LocalStore(data), {}, [data]);
  try {
    // The span the snapshots cover (the run's forced GC before its heap profile comes after the last one).
    const times = gunzipSync(readFileSync(path.join(SCENARIOS_AGENT, 'runs', r.run, 'metrics.jsonl.gz')))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => Date.parse((JSON.parse(l) as { time: string }).time) * 1000);
    const span = { fromUs: Math.floor(times[0]), toUs: Math.ceil(times[times.length - 1]) + 1 };
    const [trace] = (await gcTrends(engine, { service: `${r.service}-trace`, ...span, bucketUs: 2 ** 52 })).buckets;
    const [met] = (await gcTrends(engine, { service: `${r.service}-metrics`, ...span, bucketUs: 2 ** 52 })).buckets;
    expect(trace.source).toBe('gctrace');
    expect(met.source).toBe('runtime_metrics');
    expect(met.goroutines_avg).toBeGreaterThan(5);
    expect(met.sched_latency_p99_ns).not.toBeNull();
    // Cycles: the same runtime counter; a cycle at either edge may fall on one side only.
    expect(Math.abs(trace.cycles - met.cycles)).toBeLessThanOrEqual(2);
    expect(met.cycles).toBeGreaterThan(0);
    // Heap sizes: gctrace floors to whole MiB and averages per cycle, runtime/metrics per snapshot.
    const near = (a: number, b: number, rel: number, abs: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(Math.max(abs, rel * Math.max(a, b)));
    near(Number(met.heap_live_avg_bytes), Number(trace.heap_live_avg_bytes), 0.35, 2 * 1048576);
    near(Number(met.heap_goal_avg_bytes), Number(trace.heap_goal_avg_bytes), 0.35, 4 * 1048576);
    near(met.goal_live_ratio!, trace.goal_live_ratio!, 0.25, 0);
    // GC CPU: both the runtime's own estimates (STW phases as GOMAXPROCS x wall time); they differ
    // in what they count at the edges and under host load, within a factor of 2.
    expect(met.gc_cpu_fraction! / trace.gc_cpu_fraction!).toBeGreaterThan(0.5);
    expect(met.gc_cpu_fraction! / trace.gc_cpu_fraction!).toBeLessThan(2);
    // Longest pause: a gctrace cycle's pause is its two STW phases together, the histogram has each
    // phase alone, as its bucket's upper bound (the runtime's time histograms are coarse for long
    // pauses): within a factor of 2.5.
    expect(Number(met.pause_max_ns) / Number(trace.pause_max_ns)).toBeGreaterThan(0.4);
    expect(Number(met.pause_max_ns) / Number(trace.pause_max_ns)).toBeLessThan(2.5);
  } finally {
    engine.close();
  }
});

test('runtime_metrics keeps the process; cumulative metrics are differenced per process, never across two', async () => {
  const engine = await openEngine(new LocalStore(data), {}, [data]);
  try {
    const procs = await engine.rows("SELECT DISTINCT process FROM runtime_metrics WHERE service = 'twins' ORDER BY process");
    expect(procs.map((r) => r.process)).toEqual(['p1', 'p2']);
    const whole = { fromUs: 0, toUs: 2 ** 52, bucketUs: 2 ** 52 };
    const [one] = (await gcTrends(engine, { service: 'single', ...whole })).buckets;
    const [two] = (await gcTrends(engine, { service: 'twins', ...whole })).buckets;
    expect(one.cycles).toBeGreaterThan(2);
    // Each process ran its cycles: twice the one process's, exactly. Paired across processes (one
    // series per instance), the interleaved snapshots would give about one process's worth.
    expect(two.cycles).toBe(2 * one.cycles);
    expect(Number(two.pause_max_ns)).toBe(Number(one.pause_max_ns));
    expect(two.gc_cpu_fraction).toBeCloseTo(one.gc_cpu_fraction!, 6);
  } finally {
    engine.close();
  }
});
