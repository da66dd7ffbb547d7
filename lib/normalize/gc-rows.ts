import type { GcCycleRow, MetricSnapshotRow } from '../model/gc';
import type { GcCyclesRow, RuntimeMetricsRow } from '../model/schema';
import type { SourceMeta } from '../model/source';
import { floorToMs } from '../model/time';

// Parsed gctrace cycles and runtime/metrics snapshots + what the upload says about them -> rows of
// the gc_cycles and runtime_metrics tables. Times are stored in whole milliseconds (floorToMs).

const big = (v: number): bigint => BigInt(v);

/** Rows of the gc_cycles table for parsed cycles (sizes as exact BIGINTs: goals can exceed 2^53). */
export function gcCycleRows(cycles: readonly GcCycleRow[], meta: SourceMeta, profileId: string): GcCyclesRow[] {
  return cycles.map((c) => ({
    profile_id: profileId,
    service: meta.service,
    instance: meta.instance,
    version: meta.version,
    labels: meta.labels,
    time: floorToMs(c.timeUs),
    segment: c.segment,
    time_estimated: c.timeEstimated,
    gc: c.gc,
    forced: c.forced,
    cpu_pct: c.cpuPct,
    pause_ns: c.pauseNs,
    sweep_term_ns: c.sweepTermNs,
    mark_ns: c.markNs,
    mark_term_ns: c.markTermNs,
    sweep_term_cpu_ns: c.sweepTermCpuNs,
    assist_cpu_ns: c.assistCpuNs,
    background_cpu_ns: c.backgroundCpuNs,
    idle_cpu_ns: c.idleCpuNs,
    mark_term_cpu_ns: c.markTermCpuNs,
    heap_start_bytes: big(c.heapStartBytes),
    heap_end_bytes: big(c.heapEndBytes),
    heap_live_bytes: big(c.heapLiveBytes),
    heap_goal_bytes: big(c.heapGoalBytes),
    stacks_bytes: c.stacksBytes === null ? null : big(c.stacksBytes),
    globals_bytes: c.globalsBytes === null ? null : big(c.globalsBytes),
    procs: c.procs,
    go_format: c.goFormat,
  }));
}

/**
 * A runtime_metrics row made by `new`, not as an object literal, for the reason MetricRow gives
 * (lib/decode/formats/runtime-metrics.ts): a literal's allocation site can be switched to V8's old
 * generation mid-input, and a 1M-key document's rows then all became old-generation garbage.
 */
class MetricsTableRow implements RuntimeMetricsRow {
  constructor(
    public profile_id: RuntimeMetricsRow['profile_id'],
    public service: RuntimeMetricsRow['service'],
    public instance: RuntimeMetricsRow['instance'],
    public version: RuntimeMetricsRow['version'],
    public labels: RuntimeMetricsRow['labels'],
    public process: RuntimeMetricsRow['process'],
    public time: RuntimeMetricsRow['time'],
    public name: RuntimeMetricsRow['name'],
    public unit: RuntimeMetricsRow['unit'],
    public kind: RuntimeMetricsRow['kind'],
    public value: RuntimeMetricsRow['value'],
    public buckets: RuntimeMetricsRow['buckets'],
    public counts: RuntimeMetricsRow['counts'],
  ) {}
}

/** Rows of the runtime_metrics table (non-finite doubles are the table codec's business). */
export function runtimeMetricRows(samples: readonly MetricSnapshotRow[], meta: SourceMeta, profileId: string): RuntimeMetricsRow[] {
  return samples.map((m) => new MetricsTableRow(profileId, meta.service, meta.instance, meta.version, meta.labels, meta.process ?? '', floorToMs(m.timeUs), m.name, m.unit, m.kind, m.value, m.buckets, m.counts));
}
