// The fleet cost model (issue #11 point 1; docs/performance.md "Cost model"): dollars per
// instance-month from measured unit costs and AWS list prices, and what it takes to reach a target.
//
//   node dist/bench/fleet-cost.js [--ingest-ms 45] [--ingest-mb 1769] [--parquet-puts 4]
//     [--compact-s-per-instance-hour S] [--compact-mb MB] [--stored-bytes-per-instance-hour B]
//     [--digest-s-per-instance-day 0.23] [--compact-gets-per-instance-hour 0.75] [--merge-s-per-instance-hour 0.74] [--period 60] [--arm]
//     [--target 0.5] [--json]
// The defaults are the figures docs/performance.md's cost model uses (each says where it was measured).
// Lambda bills wall time. The compute defaults are the CPU seconds measured on this shared 2-core
// machine (every thread of the process, DuckDB's included): what an unloaded Lambda would spend if
// it kept one vCPU busy and waited on nothing. Wall times measured here are 3-10x that (the load of
// five engineers on two cores) and bound the cost from above (docs/performance.md gives both).
//
// Every input is a measurement made elsewhere (the flag's doc says where); this file only
// multiplies. Prices: us-east-1 list prices, as docs/performance.md "Pipeline" states them (not
// re-checked from here: no internet on the build machine).

const PRICE = {
  lambdaGbSecondX86: 0.0000166667,
  lambdaGbSecondArm: 0.0000133334,
  lambdaInvocation: 0.2 / 1e6,
  s3Put: 0.005 / 1000, // PUT, COPY, POST, LIST
  s3Get: 0.0004 / 1000, // GET, HEAD
  s3GbMonth: 0.023,
  sqsRequest: 0.4 / 1e6,
};

export interface CostInputs {
  /** Agent period, seconds (agent/agent.go default 60): one bundled upload per period. */
  periodS: number;
  /** Ingest Lambda ms per bundle (bench/ingest.ts, the handler's CPU ms; its wall time bounds it from above). */
  ingestMsPerBundle: number;
  ingestMemoryMb: number;
  /** SQS batch size (lib/aws/resources.ts INGEST_FUNCTION.batchSize). */
  batch: number;
  /** Parquet files ingest PUTs per SQS batch (one per raw table the batch holds rows of; layout v2). */
  parquetPutsPerBatch: number;
  /** Compaction Lambda seconds per instance-hour (bench/compact-fanout.ts: CPU of the hour's roles; plus the day close, bench/compact.ts). */
  compactSPerInstanceHour: number;
  compactMemoryMb: number;
  /**
   * Objects the compaction GETs per instance-hour: the planner reads each fresh file once, a split
   * worker (jobs of >= 6 units) or the job's one unit once more, and each unit of a split job only
   * its own split files (lib/store/compact-jobs.ts).
   */
  compactGetsPerInstanceHour: number;
  /** Compacted bytes per instance-hour, rollups included (bench:fleet: DIR's bytes after compaction). */
  storedBytesPerInstanceHour: number;
  /** Merge tier (lib/store/merge.ts, every minute): CPU seconds per instance-hour (bench/fresh-merge.ts). */
  mergeSPerInstanceHour: number;
  mergeMemoryMb: number;
  /** The merge's GETs per instance-hour (each batch file once, the manifests) and PUT-priced requests (PUT + LIST). */
  mergeGetsPerInstanceHour: number;
  mergePutsPerInstanceHour: number;
  /** Digest seconds per instance per day (the digest's CPU over a compacted window / instances). */
  digestSPerInstanceDay: number;
  digestMemoryMb: number;
  arm: boolean;
}

export const DEFAULTS: CostInputs = {
  periodS: 60,
  // The ingest lane's "ingest CPU per bundle for the cost model" (docs/performance.md "Ingest, layout
  // v2 batches"): 42.6 ms, the handler over SQS batches of 10 agent bundles against moto, CPU of the
  // whole process, 60 bundles alternating batch by batch with OLD ef680e9 in one process
  // (bench/ingest-ab.ts, 2026-12-03 10:39, load 21; OLD 48.2 in the same run). Was 45 (08:05: 44.1-44.8
  // at load 19-31, rounded up).
  ingestMsPerBundle: 42.6,
  // lib/aws/resources.ts INGEST_FUNCTION: one vCPU since 4bd20b8 (the handler's threads take turns).
  ingestMemoryMb: 1769,
  batch: 10,
  // A batch of agent bundles (6 profiles + metrics.jsonl) writes profiles, functions, stacks and
  // runtime_metrics: 4 files (counted: fleetprof ingest of 10 bundles); gc_cycles only with a gctrace log.
  parquetPutsPerBatch: 4,
  // Compaction at 1,769 MB (COMPACT_FUNCTION since 2026-12-03 17:50), stacks hour files in
  // 256K-row groups: the hour of 1,000 instances through the fan-out's roles measured as a whole
  // (bench/compact-fanout.ts --parallel 2 --memory-mb 1769, 60 fresh files per table, 2026-12-03
  // 16:46-17:43, load 5-13): planner 7.2, 4 split groups 482.5, 63 units with their finalizers
  // 592.5, 5 rollup messages 302.9 CPU-s = 1,384.9 = 1.385 per instance-hour; plus the day close
  // in key-range units at 1,769 MB (day files in 512K-row groups), measured per unit at 100
  // instances x 24 h (bench/day-unit.ts; the unit's shape at 1,000: 1 instance x 24 h): stacks
  // 13.9-17.6 CPU-s per 24 instance-hours (16:35), functions 2.8-3.0 (14:40), small tables 0.02:
  // 0.72-0.88. 1.385 + 0.88 = 2.27. Was 2.49 at 3,008 MB (the hour partly scaled from 100 instances).
  compactSPerInstanceHour: 2.27,
  // lib/aws/resources.ts COMPACT_FUNCTION: one vCPU since the 2026-12-03 evening (was 3,008 MB).
  compactMemoryMb: 1769,
  // With the merge tier the hour's compaction reads the merges' files, one per table per minute
  // (bench/fresh-merge.ts: one output per table per run) instead of 6 per instance-hour. The planner
  // measured on a merged hour (bench/compact-fanout.ts --child --role plan, 1,000 instances, the
  // hour's first 12 minutes merged in all five tables, 2026-12-03 11:22): 70 GETs (the 60 merged
  // files + 10 manifests), 2.8 CPU-s; for the whole hour ~310. The rest as compact-fanout counted
  // per file (not re-run on merged files): the split of functions and stacks reads their 120 files
  // once more, the one-unit jobs of profiles, runtime_metrics and gc_cycles their 180, each of the
  // ~35 units 4: ~750 per fleet-hour, 0.75 per instance-hour at 1,000 instances. Was 48 (6,000 batch
  // files per table-hour; the old build, every unit reading every fresh file: 246).
  // Measured (2026-12-03 16:46-17:43): the whole 1,000-instance hour above, 60 fresh files per table
  // (~what the merge tier leaves per table-hour): 1,155 GETs = 1.16 per instance-hour. Was 0.75, counted.
  compactGetsPerInstanceHour: 1.16,
  // ~3.0 B per CPU sample at 1,000 instances, rollups included (hour units in the stored form,
  // 73af962; "Storage per CPU sample") x 16,080 CPU samples per instance-hour.
  storedBytesPerInstanceHour: 48_000,
  // bench/fresh-merge.ts at 1,000 instances, ALL five raw tables (+ pre-sums), the merger as the
  // handler runs it (runMergeJob, its own DuckDB per run) at 1,769 MB's settings (2026-12-03
  // 11:11-11:16, load ~10): 12 runs of one minute each (500 batch files, 2.31M rows), 147.9 CPU-s,
  // 11.3-13.5 per run, so x 60/12 / 1,000 = 0.74 CPU-s per instance-hour; peak RSS 1,530 MB (the
  // function is 1,769 MB since: lib/aws/resources.ts). 4 runs at 3,008 MB's settings on the same
  // data: 0.70 (1,564 -> 2,049 MB peak). Was 0.72 at 3,008 MB, scaled x3.4 from two tables.
  mergeSPerInstanceHour: 0.74,
  mergeMemoryMb: 1769,
  // The same runs' requests per instance-hour (bench/counting-store.ts): each batch file GET once
  // plus the manifests, 30.85; PUT 0.66 (5 outputs, the pre-sums, 5 manifests a run) + LIST 2.63
  // (per run, so per instance they fall with the fleet). Was 25 + 2.2 (four tables, estimated).
  mergeGetsPerInstanceHour: 30.85,
  mergePutsPerInstanceHour: 3.29,
  // fleetprof digest, 24 h window of compacted hours (the last fresh) + 7 d baseline from rollups, 100
  // instances: 22.6 CPU-s (user + system) for 100 instance-days, 2026-12-03 04:17 at load 16-19; wall
  // 112.7 s (docs/performance.md "Digest"). Was 27 s: the raw path's wall time over uncompacted files.
  digestSPerInstanceDay: 0.23,
  digestMemoryMb: 3008,
  arm: false,
};

const HOURS = 720; // 30 days

export function costPerInstanceMonth(i: CostInputs): { items: [string, number, string][]; total: number } {
  const gbS = i.arm ? PRICE.lambdaGbSecondArm : PRICE.lambdaGbSecondX86;
  const uploads = (HOURS * 3600) / i.periodS;
  const batches = uploads / i.batch;
  const items: [string, number, string][] = [
    ['upload PUT', uploads * PRICE.s3Put, `${uploads.toFixed(0)} PUT (1 per period)`],
    ['SQS', uploads * (1 + 2 / i.batch) * PRICE.sqsRequest, `1 notification + receive and delete per batch of ${i.batch}`],
    ['ingest GET', uploads * PRICE.s3Get, '1 GET per upload'],
    ['ingest Parquet PUTs', batches * i.parquetPutsPerBatch * PRICE.s3Put, `${i.parquetPutsPerBatch} per SQS batch of ${i.batch}`],
    ['ingest invocations', batches * PRICE.lambdaInvocation, `1 per batch`],
    ['ingest compute', uploads * (i.ingestMsPerBundle / 1000) * (i.ingestMemoryMb / 1024) * gbS, `${i.ingestMsPerBundle} ms per bundle at ${i.ingestMemoryMb} MB`],
    ['compaction compute', HOURS * i.compactSPerInstanceHour * (i.compactMemoryMb / 1024) * gbS, `${i.compactSPerInstanceHour} s per instance-hour at ${i.compactMemoryMb} MB`],
    ['compaction GETs', HOURS * i.compactGetsPerInstanceHour * PRICE.s3Get, `${i.compactGetsPerInstanceHour} per instance-hour`],
    ['merge compute', HOURS * i.mergeSPerInstanceHour * (i.mergeMemoryMb / 1024) * gbS, `${i.mergeSPerInstanceHour} s per instance-hour at ${i.mergeMemoryMb} MB`],
    ['merge requests', HOURS * (i.mergeGetsPerInstanceHour * PRICE.s3Get + i.mergePutsPerInstanceHour * PRICE.s3Put), `${i.mergeGetsPerInstanceHour} GET + ${i.mergePutsPerInstanceHour} PUT/LIST per instance-hour`],
    ['storage, 30 days', ((HOURS * i.storedBytesPerInstanceHour) / 1e9) * PRICE.s3GbMonth, `${(i.storedBytesPerInstanceHour / 1000).toFixed(0)} kB per instance-hour held 30 days`],
    ['digest', 30 * i.digestSPerInstanceDay * (i.digestMemoryMb / 1024) * gbS, `${i.digestSPerInstanceDay} s per instance-day at ${i.digestMemoryMb} MB`],
  ];
  return { items, total: items.reduce((a, x) => a + x[1], 0) };
}

/** Smallest agent period (whole seconds) whose total is <= target, all else equal. */
export function periodFor(i: CostInputs, target: number): number | null {
  for (let p = i.periodS; p <= 3600; p++) if (costPerInstanceMonth({ ...i, periodS: p }).total <= target) return p;
  return null;
}

function main(): void {
  const argv = process.argv.slice(2);
  const num = (name: string, d: number) => {
    const k = argv.indexOf(name);
    return k >= 0 ? Number(argv[k + 1]) : d;
  };
  const i: CostInputs = {
    ...DEFAULTS,
    periodS: num('--period', DEFAULTS.periodS),
    ingestMsPerBundle: num('--ingest-ms', DEFAULTS.ingestMsPerBundle),
    ingestMemoryMb: num('--ingest-mb', DEFAULTS.ingestMemoryMb),
    parquetPutsPerBatch: num('--parquet-puts', DEFAULTS.parquetPutsPerBatch),
    compactSPerInstanceHour: num('--compact-s-per-instance-hour', DEFAULTS.compactSPerInstanceHour),
    compactMemoryMb: num('--compact-mb', DEFAULTS.compactMemoryMb),
    compactGetsPerInstanceHour: num('--compact-gets-per-instance-hour', DEFAULTS.compactGetsPerInstanceHour),
    storedBytesPerInstanceHour: num('--stored-bytes-per-instance-hour', DEFAULTS.storedBytesPerInstanceHour),
    digestSPerInstanceDay: num('--digest-s-per-instance-day', DEFAULTS.digestSPerInstanceDay),
    mergeSPerInstanceHour: num('--merge-s-per-instance-hour', DEFAULTS.mergeSPerInstanceHour),
    arm: argv.includes('--arm'),
  };
  const target = num('--target', 0.5);
  const c = costPerInstanceMonth(i);
  const arm = costPerInstanceMonth({ ...i, arm: true });
  const period = periodFor(i, target);
  const periodArm = periodFor({ ...i, arm: true }, target);
  if (argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ inputs: i, items: c.items, total: c.total, totalArm: arm.total, periodForTarget: period, periodForTargetArm: periodArm }, null, 2) + '\n');
    return;
  }
  for (const [name, usd, how] of c.items) process.stdout.write(`${name.padEnd(20)} $${usd.toFixed(3).padStart(7)}  ${how}\n`);
  process.stdout.write(`${'total'.padEnd(20)} $${c.total.toFixed(3).padStart(7)}  (ARM pricing: $${arm.total.toFixed(3)})\n`);
  process.stdout.write(`target $${target}: ${c.total <= target ? 'met' : 'not met'}; agent period reaching it: ${period ?? '> 3600'} s (${periodArm ?? '> 3600'} s with ARM pricing)\n`);
}

if (require.main === module) main();
