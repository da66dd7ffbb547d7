import { isoFromUs } from '../model/time';
import { bucketMetrics, meanHalfUp, type GcBucketStats } from '../query/gc';
import { formatPercent, formatValue } from '../model/units';
import type { GcDiagnostic } from './finding';
import { fleetprofCommand } from './command';

// Pacer and tuning diagnostics over the GC trend buckets. Each one fires on measured numbers only,
// says in plain words which numbers triggered it (also as `evidence`, machine-readable) and what a
// Go engineer could try. Thresholds are named constants with the reason for their value.
//
// Background (the Go GC guide, runtime/mgcpacer.go): the pacer starts a cycle early enough that
// background mark workers using 25% of GOMAXPROCS finish marking when the heap reaches the goal;
// goal = live + (live + stacks + globals) x GOGC/100 (Go 1.18+; live x GOGC/100 before), never
// below 4 MiB x GOGC/100, and lowered to stay under GOMEMLIMIT. Goroutines that allocate faster than
// that plan are drafted into marking ("assists"), which is latency for the allocating request.

const MiB = 1048576;

/**
 * Fewer cycles than this in a bucket say too little: N cycles span only N-1 intervals, so rates
 * from few cycles are biased by up to 1/(N-1) (10% at 11 cycles), and one odd cycle dominates.
 */
export const MIN_CYCLES = 10;

/**
 * Assists above a quarter of mark CPU: the pacer plans for background workers to do the marking;
 * assists are its catch-up mechanism and stay at a few percent when the pacer keeps up. A quarter
 * means allocation regularly outruns the plan and allocating goroutines pay for it in latency.
 */
export const ASSIST_SHARE_HIGH = 0.25;

/**
 * More than 10% of the available CPU (GOMAXPROCS x wall time) spent in GC, not counting idle mark
 * workers (they only use Ps that had nothing else to do; Go's own gctrace `N%` leaves them out
 * too). The pacer's design point is 25% while a cycle runs and cycles usually run a small part of
 * the time, so a healthy service typically sits at a few percent; past 10% tuning pays off.
 */
export const GC_CPU_HIGH = 0.1;

/**
 * The goal/live diagnostics need a live heap of at least 16 MiB: gctrace floors sizes to whole
 * MiB and the goal never drops below 4 MiB x GOGC/100, so for smaller heaps the ratio reflects
 * rounding and that floor, not tuning.
 */
export const MIN_LIVE_FOR_GOAL_RATIO = 16 * MiB;

/**
 * Goal at 3x live or more, with an implied GOGC of 200 or more: the default GOGC=100 gives about
 * 2x (more with large stacks/globals, which the implied GOGC accounts for). The extra headroom is
 * memory filled with garbage, and without GOMEMLIMIT nothing stops it from growing with the load.
 */
export const GOAL_LIVE_HIGH = 3;
export const IMPLIED_GOGC_HIGH = 200;

/**
 * Goal at most 1.2x live: each cycle may allocate only 20% of the live heap before the next one is
 * due (GOGC=20 behaviour). That is what running into GOMEMLIMIT looks like: the runtime shrinks the
 * goal to stay under the limit and collects back to back (GC thrashing).
 */
export const GOAL_LIVE_LOW = 1.2;

/**
 * At least 3 forced cycles making at least 5% of the bucket's cycles: one runtime.GC() before a heap
 * dump is harmless, but code that calls runtime.GC()/debug.FreeOSMemory() regularly pays a full,
 * blocking cycle (and a full sweep) each time, on top of the paced ones.
 */
export const FORCED_MIN_CYCLES = 3;
export const FORCED_SHARE_HIGH = 0.05;

/**
 * Heap growing without bound: the average live heap rose in each of at least 5 consecutive buckets
 * (4 rises in a row, so warm-up noise of one or two buckets does not count) and by at least 20% in
 * total (MiB rounding and load swings move it by a few percent). A leak or an unbounded cache.
 */
export const HEAP_GROWTH_MIN_BUCKETS = 5;
export const HEAP_GROWTH_MIN_FACTOR = 1.2;

export interface DiagnoseOptions {
  /** Data directory to put into the suggested commands. */
  dataDir?: string;
}

const bytes = (b: bigint | number) => formatValue(typeof b === 'bigint' ? b : Math.round(b), 'bytes');
const num = (x: bigint) => Number(x);
/** What every diagnostic of a bucket shares (a Finding of area gc, lib/detect/finding.ts). */
const about = (s: GcBucketStats) => ({ area: 'gc' as const, service: s.service, version: s.version });

function topCommand(s: GcBucketStats, type: 'allocs' | 'heap', o: DiagnoseOptions): string {
  const version = s.version !== '' && ['--version', s.version];
  const data = o.dataDir !== undefined && ['--data', o.dataDir];
  return '`' + fleetprofCommand('top', ...(data || []), '--type', type, '--service', s.service, ...(version || []), '--from', isoFromUs(s.startUs), '--to', isoFromUs(s.endUs)) + '`';
}

/** Diagnostics for each bucket (same order as `stats`, which is ordered by service, version, start). */
export function diagnoseGc(stats: readonly GcBucketStats[], o: DiagnoseOptions = {}): GcDiagnostic[][] {
  const out = stats.map((s) => (s.cycles >= MIN_CYCLES ? bucketDiagnostics(s, o) : []));
  heapGrowth(stats, out, o);
  return out;
}

function bucketDiagnostics(s: GcBucketStats, o: DiagnoseOptions): GcDiagnostic[] {
  const d: GcDiagnostic[] = [];
  // The documented bucket metrics are computed once, in lib/query/gc.ts; only the numbers the
  // JSON does not carry are derived here.
  const m = bucketMetrics(s);
  const markCpu = s.assistCpuNs + s.backgroundCpuNs + s.idleCpuNs;
  const assistShare = m.assist_share;
  const cap = num(s.capacityNs);
  const gcCpu = m.gc_cpu_fraction;
  const gcCpuBusy = cap === 0 ? null : num(s.gcCpuNs - s.idleCpuNs) / cap;
  const perMin = m.cycles_per_min;
  const liveAvg = m.heap_live_avg_bytes;
  const goalAvg = m.heap_goal_avg_bytes;
  const goalLive = m.goal_live_ratio;
  const allocs = topCommand(s, 'allocs', o);
  const rate = perMin === null ? '' : ` (${perMin.toFixed(1)} cycles/min per instance)`;

  if (assistShare !== null && assistShare >= ASSIST_SHARE_HIGH) {
    d.push({
      ...about(s),
      id: 'assist-share-high',
      summary:
        `Allocation outpaces the GC pacer: mark assists did ${formatPercent(assistShare)} of the marking CPU ` +
        `(${formatValue(s.assistCpuNs, 'nanoseconds')} of ${formatValue(markCpu, 'nanoseconds')} over ${s.cycles} cycles; ` +
        `threshold ${formatPercent(ASSIST_SHARE_HIGH)}). Goroutines that allocate while a cycle runs are made to mark instead of ` +
        `doing their work, which shows up as request latency. Try: allocate less on the hot paths (${allocs} lists the ` +
        `allocation sites of this service and window); give the pacer more runway with a higher GOGC, with GOMEMLIMIT as the ` +
        `memory cap; check that GOMAXPROCS matches the CPU quota (background workers get 25% of it).`,
      evidence: { assist_share: assistShare, threshold: ASSIST_SHARE_HIGH, assist_cpu_ns: s.assistCpuNs, mark_cpu_ns: markCpu, cycles: s.cycles },
    });
  }

  if (gcCpuBusy !== null && gcCpu !== null && gcCpuBusy >= GC_CPU_HIGH) {
    d.push({
      ...about(s),
      id: 'gc-cpu-high',
      summary:
        `GC used ${formatPercent(gcCpuBusy)} of the available CPU (GOMAXPROCS x observed time), not counting idle-time marking ` +
        `(${formatPercent(gcCpu)} with it; threshold ${formatPercent(GC_CPU_HIGH)})${rate}, with an average live heap of ${bytes(liveAvg)} ` +
        `and goal of ${bytes(goalAvg)}. GC work per cycle grows with the live heap and the number of cycles grows with the ` +
        `allocation rate. Try: allocate less (${allocs}); raise GOGC (GOGC=200 roughly halves the number of cycles for up to ` +
        `one more live heap of memory) and set GOMEMLIMIT below the container limit so the extra headroom stays bounded.`,
      evidence: {
        gc_cpu_fraction_excluding_idle: gcCpuBusy,
        gc_cpu_fraction: gcCpu,
        threshold: GC_CPU_HIGH,
        gc_cpu_ns: s.gcCpuNs,
        idle_cpu_ns: s.idleCpuNs,
        capacity_ns: s.capacityNs,
        cycles_per_min: perMin,
      },
    });
  }

  if (goalLive !== null && liveAvg >= BigInt(MIN_LIVE_FOR_GOAL_RATIO)) {
    const impliedGogc = (100 * num(s.heapGoalSum - s.heapLiveSum)) / num(s.heapLiveSum + s.stacksGlobalsSum);
    const scan = s.stacksGlobalsSum > 0n ? ` (stacks and globals counted, avg ${bytes(meanHalfUp(s.stacksGlobalsSum, s.cycles))})` : '';
    if (goalLive >= GOAL_LIVE_HIGH && impliedGogc >= IMPLIED_GOGC_HIGH) {
      const off = impliedGogc >= 1e6;
      d.push({
        ...about(s),
        id: 'goal-far-above-live',
        summary:
          `The heap goal is ${goalLive >= 1000 ? goalLive.toExponential(1) : goalLive.toFixed(2)}x the live heap ` +
          `(avg goal ${bytes(goalAvg)}, avg live ${bytes(liveAvg)}; threshold ${GOAL_LIVE_HIGH}x): ` +
          (off
            ? `GC is effectively off (GOGC=off or debug.SetGCPercent(-1)), so the heap grows until something else stops it. `
            : `that is GOGC of about ${Math.round(impliedGogc)}${scan}, against the default 100. `) +
          `The headroom above live is memory holding garbage, and it scales with load. If GOGC was raised on purpose, ` +
          `set GOMEMLIMIT (e.g. 80-90% of the container memory) so the heap cannot outgrow the container; if memory is ` +
          `tight, lower GOGC toward 100.`,
        evidence: {
          goal_live_ratio: goalLive,
          threshold: GOAL_LIVE_HIGH,
          implied_gogc: impliedGogc,
          heap_goal_avg_bytes: goalAvg,
          heap_live_avg_bytes: liveAvg,
        },
      });
    } else if (goalLive <= GOAL_LIVE_LOW) {
      d.push({
        ...about(s),
        id: 'goal-near-live',
        summary:
          `The heap goal is only ${goalLive.toFixed(2)}x the live heap (avg goal ${bytes(goalAvg)}, avg live ` +
          `${bytes(liveAvg)}; threshold ${GOAL_LIVE_LOW}x): each cycle may allocate just ` +
          `${formatPercent(Math.max(0, goalLive - 1))} of the live heap before the next one is due, so GC frequency and GC CPU ` +
          `rise steeply with any extra allocation (here ${perMin === null ? '?' : perMin.toFixed(1)} cycles/min per instance` +
          `${gcCpu !== null ? ` and ${formatPercent(gcCpu)} of the CPU` : ''}). This is what a process running into ` +
          `GOMEMLIMIT looks like (the runtime shrinks the goal to stay under it), or a very low GOGC. Try: give the process ` +
          `more memory and raise GOMEMLIMIT with it, or shrink the live heap (${topCommand(s, 'heap', o)} shows what holds ` +
          `it); keep GOGC at 100 or more.`,
        evidence: {
          goal_live_ratio: goalLive,
          threshold: GOAL_LIVE_LOW,
          heap_goal_avg_bytes: goalAvg,
          heap_live_avg_bytes: liveAvg,
          cycles_per_min: perMin,
          gc_cpu_fraction: gcCpu,
        },
      });
    }
  }

  const forcedShare = s.forcedCycles / s.cycles;
  if (s.forcedCycles >= FORCED_MIN_CYCLES && forcedShare >= FORCED_SHARE_HIGH) {
    d.push({
      ...about(s),
      id: 'forced-gc-frequent',
      summary:
        `${s.forcedCycles} of ${s.cycles} cycles (${formatPercent(forcedShare)}) were forced (threshold ${FORCED_MIN_CYCLES} cycles and ` +
        `${formatPercent(FORCED_SHARE_HIGH)}): something calls runtime.GC() or debug.FreeOSMemory(). Each call runs a full ` +
        `collection that blocks the caller (and FreeOSMemory returns memory the heap will ask for again), on top of the ` +
        `cycles the pacer schedules. Try: remove the periodic calls; to cap memory use GOMEMLIMIT instead. (Go 1.5-1.8 also ` +
        `mark every cycle forced under GODEBUG=gcstoptheworld.)`,
      evidence: { forced_cycles: s.forcedCycles, cycles: s.cycles, forced_share: forcedShare, threshold_cycles: FORCED_MIN_CYCLES, threshold_share: FORCED_SHARE_HIGH },
    });
  }
  return d;
}

/** Runs of rising average live heap per service and version, across buckets with enough cycles. */
function heapGrowth(stats: readonly GcBucketStats[], out: GcDiagnostic[][], o: DiagnoseOptions): void {
  let run: number[] = [];
  stats.forEach((s, i) => {
    const prev = run.length > 0 ? stats[run[run.length - 1]] : undefined;
    const sameSeries = prev !== undefined && prev.service === s.service && prev.version === s.version;
    const avg = (x: GcBucketStats) => meanHalfUp(x.heapLiveSum, x.cycles);
    if (s.cycles < MIN_CYCLES) {
      run = [];
      return;
    }
    if (sameSeries && avg(s) > avg(prev)) run.push(i);
    else run = [i];
    if (run.length < HEAP_GROWTH_MIN_BUCKETS) return;
    const first = stats[run[0]];
    const growth = num(avg(s)) / num(avg(first));
    if (!(growth >= HEAP_GROWTH_MIN_FACTOR)) return;
    const series = run.map((j) => ({ start: isoFromUs(stats[j].startUs), heap_live_avg_bytes: avg(stats[j]) }));
    out[i].push({
      ...about(s),
      id: 'heap-growing',
      summary:
        `The live heap has grown in each of the last ${run.length} buckets, from ${bytes(avg(first))} to ${bytes(avg(s))} ` +
        `(x${growth.toFixed(2)}; threshold ${HEAP_GROWTH_MIN_BUCKETS} rising buckets and x${HEAP_GROWTH_MIN_FACTOR}). ` +
        `Memory that survives every GC and keeps growing is a leak or an unbounded cache or queue; without GOMEMLIMIT ` +
        `it ends in an OOM kill, with it in GC thrashing. (Warm-up after a deploy also rises, but levels off.) Try: ` +
        `compare the in-use heap of the first and the last bucket, ${topCommand(first, 'heap', o)} and ` +
        `${topCommand(s, 'heap', o)}, and look for the functions whose in-use bytes grow.`,
      evidence: { buckets: run.length, growth_factor: growth, threshold_buckets: HEAP_GROWTH_MIN_BUCKETS, threshold_factor: HEAP_GROWTH_MIN_FACTOR, series },
    });
  });
}
