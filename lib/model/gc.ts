// Rows produced from GODEBUG=gctrace=1 logs and runtime/metrics snapshots. Plain objects, one
// per GC cycle / metric sample: a busy service logs about one GC line per second, so these
// stay small next to profile samples and need no columnar representation.

/** Which gctrace line layout a row came from (the Go versions that print it). */
export type GctraceFormat =
  | '1.5' // 5 clock phases (Go 1.5.x)
  | '1.6' // 3 clock phases, no stacks/globals (Go 1.6 - 1.17)
  | '1.18'; // 3 clock phases + "MB stacks, MB globals" (Go 1.18+)

/**
 * One `gc N @...` line. Durations are exact integer nanoseconds (the log prints milliseconds with
 * at most three decimals), sizes are bytes (the log prints MiB, floored, so sizes are multiples of
 * 1 MiB). heapGoalBytes can exceed 2^53 when GC is off (`8532210231531 MB goal`); it is still an
 * exact double because MiB -> bytes is a power-of-two scale, so `BigInt(v)` recovers it.
 */
export interface GcCycleRow {
  /** Start of the cycle, epoch microseconds (segment start + the line's `@<s>s` offset). */
  timeUs: number;
  /** True when the segment start had to be guessed (a restart without absolute timestamps). */
  timeEstimated: boolean;
  /** 0-based; a new segment begins whenever the gc number does not increase (process restart). */
  segment: number;
  gc: number;
  /** `(forced)`: runtime.GC()/FreeOSMemory; in Go 1.5-1.8 also every GC under gcstoptheworld. */
  forced: boolean;
  /** Percent of CPU time spent in GC since program start, as printed (integer). */
  cpuPct: number;
  /** Stop-the-world wall time: sweep termination + mark termination. */
  pauseNs: number;
  sweepTermNs: number;
  /** Concurrent phase wall time; for Go 1.5 the sum of its scan + install-WB + mark phases. */
  markNs: number;
  markTermNs: number;
  /** CPU of the two STW phases (GOMAXPROCS x wall time). */
  sweepTermCpuNs: number;
  markTermCpuNs: number;
  assistCpuNs: number;
  /** Dedicated + fractional mark workers; for Go 1.5 also its scan and install-WB phase CPU. */
  backgroundCpuNs: number;
  idleCpuNs: number;
  heapStartBytes: number;
  heapEndBytes: number;
  /** Live (marked) heap; runtime/metrics /gc/scan/heap:bytes in Go 1.21+ docs. */
  heapLiveBytes: number;
  heapGoalBytes: number;
  /** Go 1.18+ only; null for older formats. */
  stacksBytes: number | null;
  globalsBytes: number | null;
  procs: number;
  goFormat: GctraceFormat;
}

export interface GctraceParseResult {
  cycles: GcCycleRow[];
  /** Every line seen, including a final line without newline. */
  linesRead: number;
  /** gc-looking lines that could not be parsed (including a cut-off final line). */
  malformed: number;
  /** The first few malformed lines, verbatim (each cut to a readable length). */
  malformedExamples: string[];
  /** Number of segments (process lifetimes) with at least one cycle. */
  segments: number;
  /** Lines that are not gc lines at all: application output, scvg/scav/pacer lines, blanks. */
  skipped: number;
}

/** What a log's first pass learns without keeping its rows (lib/decode/formats/gctrace.ts streamGctrace). */
export type GctraceSummary = Omit<GctraceParseResult, 'cycles'> & {
  /** Number of cycle rows. */
  cycles: number;
  /** Segments (restarts) whose start had to be estimated (no absolute timestamps). */
  estimatedSegments: number;
  /** Earliest and latest cycle time, epoch microseconds. */
  firstUs: number;
  lastUs: number;
};

/**
 * Rows of one input produced a chunk at a time (#13: memory bounded by design): each call of
 * chunks() reads the input again, so a consumer holds one chunk, never all rows. The count and
 * time range are known before (decoding validated the whole input in a first pass).
 */
export interface RowStream<R> {
  readonly count: number;
  readonly firstUs: number;
  readonly lastUs: number;
  chunks(): Iterable<R[]>;
}

export type MetricKind = 'uint64' | 'float64' | 'histogram';

/**
 * One metric of one runtime/metrics snapshot. Histograms keep the runtime's own layout:
 * `counts[i]` covers `[buckets[i], buckets[i+1])`, so `buckets.length === counts.length + 1`,
 * and the outer bounds may be -Infinity / +Infinity (JSON.stringify turns those into null).
 */
export interface MetricSnapshotRow {
  timeUs: number;
  /** Full runtime/metrics name including the unit, e.g. `/gc/heap/goal:bytes`. */
  name: string;
  /** The part after ':' in the name, e.g. `bytes`, `cpu-seconds`. */
  unit: string;
  kind: MetricKind;
  /** Scalar value; null for histograms and for metrics reported as null (unsupported). */
  value: number | null;
  buckets: number[] | null;
  counts: number[] | null;
}
