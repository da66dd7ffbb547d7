// The ONE definition of every table fleetprof writes. DuckDB's CREATE TABLE and COPY, the query
// views, the Glue tables and docs/schema.md are all generated from it, so they cannot drift.

export type ColumnType =
  | { kind: 'varchar' }
  | { kind: 'bigint' }
  | { kind: 'integer' }
  | { kind: 'double' }
  | { kind: 'boolean' }
  | { kind: 'timestamp' }
  | { kind: 'list'; of: ColumnType }
  | { kind: 'map'; key: ColumnType; value: ColumnType }
  | { kind: 'struct'; fields: { name: string; type: ColumnType }[] };

export const T = {
  varchar: { kind: 'varchar' } as ColumnType,
  bigint: { kind: 'bigint' } as ColumnType,
  integer: { kind: 'integer' } as ColumnType,
  double: { kind: 'double' } as ColumnType,
  boolean: { kind: 'boolean' } as ColumnType,
  timestamp: { kind: 'timestamp' } as ColumnType,
  list: (of: ColumnType): ColumnType => ({ kind: 'list', of }),
  map: (key: ColumnType, value: ColumnType): ColumnType => ({ kind: 'map', key, value }),
  struct: (fields: Record<string, ColumnType>): ColumnType => ({
    kind: 'struct',
    fields: Object.entries(fields).map(([name, type]) => ({ name, type })),
  }),
};

export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  readonly doc: string;
  readonly nullable?: boolean;
}

export interface TableDef {
  readonly name: string;
  readonly doc: string;
  /** Hive partition keys, in path order. They are not stored inside the files. */
  readonly partitionKeys: readonly ColumnDef[];
  readonly columns: readonly ColumnDef[];
  /** Row order inside each file: what row-group statistics can prune on. */
  readonly sortBy: readonly string[];
}

const partitionKeys: ColumnDef[] = [
  { name: 'dt', type: T.varchar, doc: 'UTC date of the capture, YYYY-MM-DD (Hive partition).' },
  { name: 'service', type: T.varchar, doc: 'Service name (Hive partition).' },
];

const identity: ColumnDef[] = [
  { name: 'profile_id', type: T.varchar, doc: 'Deterministic id of the source object (hash of its identity); joins every table.' },
  { name: 'instance', type: T.varchar, doc: 'Instance (host, pod, task) that produced the data.' },
  { name: 'version', type: T.varchar, doc: "Service version (build, commit or tag); '' when not given." },
];

const labels: ColumnDef = {
  name: 'labels',
  type: T.map(T.varchar, T.varchar),
  doc: 'Upload-level labels (k=v), e.g. region or deployment.',
};

export const TABLES = {
  profiles: {
    name: 'profiles',
    doc: 'One row per ingested profile.',
    partitionKeys,
    columns: [
      ...identity,
      labels,
      { name: 'kind', type: T.varchar, doc: 'cpu, heap, allocs, goroutine, block, mutex or threadcreate.' },
      { name: 'time', type: T.timestamp, doc: 'Capture time (time_nanos, or the declared start for forms without one), UTC.' },
      { name: 'duration_ns', type: T.bigint, doc: 'duration_nanos of the profile (0 when not set).' },
      { name: 'period_type', type: T.varchar, doc: 'period_type.type, e.g. cpu, space, contentions.' },
      { name: 'period_unit', type: T.varchar, doc: 'period_type.unit, e.g. nanoseconds, bytes, count.' },
      { name: 'period', type: T.bigint, doc: 'Events between samples (10000000 ns for 100 Hz CPU).' },
      {
        name: 'sample_types',
        type: T.list(T.struct({ type: T.varchar, unit: T.varchar, total: T.bigint })),
        doc: 'Sample types in profile order, each with its total (pprof "of N total": sum of |value|).',
      },
      { name: 'default_sample_type', type: T.varchar, doc: 'Default sample type name (last type when the profile leaves it unset).' },
      { name: 'samples', type: T.bigint, doc: 'Number of samples in the profile.' },
      { name: 'format', type: T.varchar, doc: 'pprof (protobuf) or pprof-text (Go debug=1).' },
      { name: 'source', type: T.varchar, doc: 'Where the profile came from (path, or s3://bucket/key#etag).' },
    ],
    sortBy: ['kind', 'time'],
  },
  functions: {
    name: 'functions',
    doc: 'One row per profile x sample type x function: flat and cum exactly as `go tool pprof -top` computes them at function granularity.',
    partitionKeys,
    columns: [
      ...identity,
      { name: 'kind', type: T.varchar, doc: 'Profile kind.' },
      { name: 'sample_type', type: T.varchar, doc: 'Sample type name, e.g. cpu, samples, inuse_space, delay.' },
      { name: 'unit', type: T.varchar, doc: 'Unit of flat and cum: nanoseconds, bytes or count.' },
      { name: 'time', type: T.timestamp, doc: 'Capture time of the profile, UTC.' },
      { name: 'function', type: T.varchar, doc: 'Function name (the frame name pprof prints).' },
      { name: 'flat', type: T.bigint, doc: 'Value in samples whose innermost frame is this function.' },
      { name: 'cum', type: T.bigint, doc: 'Value in samples with this function anywhere on the stack (once per sample).' },
    ],
    // Profile-contiguous order: measured 3x smaller than function-major after compaction.
    sortBy: ['kind', 'sample_type', 'time', 'profile_id', 'function'],
  },
  stacks: {
    name: 'stacks',
    doc: 'One row per profile x distinct stack (and sample label set) x sample type; enough to rebuild flame graphs and a merged pprof.',
    partitionKeys,
    columns: [
      ...identity,
      { name: 'kind', type: T.varchar, doc: 'Profile kind.' },
      { name: 'sample_type', type: T.varchar, doc: 'Sample type name.' },
      { name: 'unit', type: T.varchar, doc: 'Unit of value.' },
      { name: 'time', type: T.timestamp, doc: 'Capture time of the profile, UTC.' },
      { name: 'stack_id', type: T.bigint, doc: 'Hash of (frames, files, start_lines, lines, inlined): equal stacks have equal ids in every profile.' },
      { name: 'frames', type: T.list(T.varchar), doc: 'Function names, leaf (innermost inlined frame) first.' },
      { name: 'lines', type: T.list(T.integer), doc: 'Source line of each frame (0 when unknown).' },
      {
        name: 'files',
        type: T.list(T.varchar),
        doc: "Source file of each frame's function, as the profile names it ('' when unknown). With `frames` and `start_lines` it is pprof's Function identity: same-named functions of different files stay apart.",
      },
      { name: 'start_lines', type: T.list(T.integer), doc: "Start line of each frame's function (0 when unknown)." },
      {
        name: 'inlined',
        type: T.list(T.boolean),
        doc: 'true where the frame was inlined into the next one (both were Lines of one pprof Location); what `go tool pprof` prints as `(inline)`.',
      },
      { name: 'sample_labels', type: T.map(T.varchar, T.varchar), doc: 'pprof string labels of the samples (pprof.Do / SetGoroutineLabels).' },
      { name: 'num_labels', type: T.map(T.varchar, T.bigint), doc: 'pprof numeric labels (e.g. heap `bytes` = object size).' },
      { name: 'value', type: T.bigint, doc: 'Sum of the sample values of this stack.' },
    ],
    sortBy: ['kind', 'sample_type', 'time', 'profile_id', 'stack_id'],
  },
  gc_cycles: {
    name: 'gc_cycles',
    doc:
      'One row per GC cycle of a `GODEBUG=gctrace=1` log (Go 1.5+). Durations are exact nanoseconds (the log prints at most ' +
      'three decimals of a millisecond); sizes are bytes, converted from the log\'s MB, which are MiB rounded down (so ' +
      'every size is a multiple of 1048576). One log spanning several UTC days is written as one file per `dt`.',
    partitionKeys,
    columns: [
      ...identity,
      labels,
      { name: 'time', type: T.timestamp, doc: 'Start of the cycle, UTC: the segment\'s process start + the line\'s `@<s>s` offset.' },
      { name: 'segment', type: T.integer, doc: '0-based process lifetime within the log: a new segment begins whenever the gc number does not increase (a restart).' },
      {
        name: 'time_estimated',
        type: T.boolean,
        doc: 'True when the segment\'s start had to be guessed (a restart in a log without absolute timestamps: the previous segment\'s last cycle time is used).',
      },
      { name: 'gc', type: T.bigint, doc: 'Cycle number `gc N` (1-based, per process).' },
      { name: 'forced', type: T.boolean, doc: '`(forced)`: runtime.GC() or debug.FreeOSMemory(); in Go 1.5-1.8 also every GC under GODEBUG=gcstoptheworld.' },
      { name: 'cpu_pct', type: T.integer, doc: 'The printed `N%`: percent of CPU spent in GC since the process started (the runtime\'s own cumulative figure).' },
      { name: 'pause_ns', type: T.bigint, doc: 'Stop-the-world wall time: first + last clock phase (sweep termination + mark termination).' },
      { name: 'sweep_term_ns', type: T.bigint, doc: 'Wall time of the STW sweep termination phase (first clock value).' },
      { name: 'mark_ns', type: T.bigint, doc: 'Wall time of the concurrent mark phase (Go 1.5: scan + install write barrier + mark).' },
      { name: 'mark_term_ns', type: T.bigint, doc: 'Wall time of the STW mark termination phase (last clock value).' },
      { name: 'sweep_term_cpu_ns', type: T.bigint, doc: 'CPU time of sweep termination (first cpu value: procs x wall time).' },
      { name: 'assist_cpu_ns', type: T.bigint, doc: 'CPU time of mark assists: goroutines drafted into marking because they allocated.' },
      { name: 'background_cpu_ns', type: T.bigint, doc: 'CPU time of the dedicated + fractional background mark workers (Go 1.5: plus its scan and install-WB phases).' },
      { name: 'idle_cpu_ns', type: T.bigint, doc: 'CPU time of idle mark workers (marking on otherwise idle Ps).' },
      { name: 'mark_term_cpu_ns', type: T.bigint, doc: 'CPU time of mark termination (last cpu value: procs x wall time).' },
      { name: 'heap_start_bytes', type: T.bigint, doc: 'Heap in use when the cycle started (first of `A->B->C MB`).' },
      { name: 'heap_end_bytes', type: T.bigint, doc: 'Heap in use when marking ended (second of `A->B->C MB`).' },
      { name: 'heap_live_bytes', type: T.bigint, doc: 'Live (marked) heap after the cycle (third of `A->B->C MB`; runtime/metrics /gc/scan/heap:bytes).' },
      {
        name: 'heap_goal_bytes',
        type: T.bigint,
        doc: 'Heap goal (`N MB goal`): the heap size at which the next cycle is due. Exact even beyond 2^53 (GC off prints goals like 8532210231531 MB).',
      },
      { name: 'stacks_bytes', type: T.bigint, nullable: true, doc: 'Scannable goroutine stacks (`N MB stacks`); NULL before Go 1.18, which does not print it.' },
      { name: 'globals_bytes', type: T.bigint, nullable: true, doc: 'Scannable globals (`N MB globals`); NULL before Go 1.18, which does not print it.' },
      { name: 'procs', type: T.integer, doc: 'GOMAXPROCS during the cycle (`N P`).' },
      { name: 'go_format', type: T.varchar, doc: "Line layout: '1.5' (5 clock phases), '1.6' (Go 1.6-1.17) or '1.18' (Go 1.18+, with stacks and globals)." },
    ],
    sortBy: ['time', 'gc'],
  },
  runtime_metrics: {
    name: 'runtime_metrics',
    doc:
      'One row per runtime/metrics snapshot x metric, from JSON `{"time": RFC 3339, "metrics": {"/name:unit": value}}` ' +
      '(one document, an array, or JSON lines). Scalars go to `value`; a Float64Histogram keeps the runtime\'s own layout: ' +
      '`counts[i]` samples fell in `[buckets[i], buckets[i+1])`, so `len(buckets) = len(counts) + 1`, and the outer bounds ' +
      'may be -inf / +inf. Cumulative metrics (counters, histograms) are totals since process start: take differences between ' +
      'snapshots of one instance for rates.',
    partitionKeys,
    columns: [
      ...identity,
      labels,
      { name: 'time', type: T.timestamp, doc: 'Snapshot time (the document\'s "time"), UTC.' },
      { name: 'name', type: T.varchar, doc: 'Full runtime/metrics name with unit, e.g. /gc/heap/goal:bytes.' },
      { name: 'unit', type: T.varchar, doc: 'The unit part of the name, e.g. bytes, cpu-seconds, seconds.' },
      { name: 'kind', type: T.varchar, doc: "uint64, float64 (time units) or histogram." },
      {
        name: 'value',
        type: T.double,
        nullable: true,
        doc: 'Scalar value (uint64 values are exact up to 2^53); NULL for histograms and for metrics the runtime reported as unsupported.',
      },
      { name: 'buckets', type: T.list(T.double), nullable: true, doc: 'Histogram bucket boundaries, ascending (first may be -inf, last +inf); NULL for scalars.' },
      { name: 'counts', type: T.list(T.bigint), nullable: true, doc: 'Histogram counts, one per bucket interval; NULL for scalars.' },
    ],
    sortBy: ['name', 'time'],
  },
} as const satisfies Record<string, TableDef>;

export type TableName = keyof typeof TABLES;
export const TABLE_NAMES = Object.keys(TABLES) as TableName[];

export function duckdbType(t: ColumnType): string {
  switch (t.kind) {
    case 'varchar':
      return 'VARCHAR';
    case 'bigint':
      return 'BIGINT';
    case 'integer':
      return 'INTEGER';
    case 'double':
      return 'DOUBLE';
    case 'boolean':
      return 'BOOLEAN';
    case 'timestamp':
      return 'TIMESTAMP';
    case 'list':
      return `${duckdbType(t.of)}[]`;
    case 'map':
      return `MAP(${duckdbType(t.key)}, ${duckdbType(t.value)})`;
    case 'struct':
      return `STRUCT(${t.fields.map((f) => `"${f.name}" ${duckdbType(f.type)}`).join(', ')})`;
  }
}

/** Hive/Glue (Athena) type names. */
export function glueType(t: ColumnType): string {
  switch (t.kind) {
    case 'varchar':
      return 'string';
    case 'bigint':
      return 'bigint';
    case 'integer':
      return 'int';
    case 'double':
      return 'double';
    case 'boolean':
      return 'boolean';
    case 'timestamp':
      return 'timestamp';
    case 'list':
      return `array<${glueType(t.of)}>`;
    case 'map':
      return `map<${glueType(t.key)},${glueType(t.value)}>`;
    case 'struct':
      return `struct<${t.fields.map((f) => `${f.name}:${glueType(f.type)}`).join(',')}>`;
  }
}
