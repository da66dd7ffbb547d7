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
    sortBy: ['kind', 'sample_type', 'function'],
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
      { name: 'stack_id', type: T.bigint, doc: 'Hash of (frames, lines): equal stacks have equal ids in every profile.' },
      { name: 'frames', type: T.list(T.varchar), doc: 'Function names, leaf (innermost inlined frame) first.' },
      { name: 'lines', type: T.list(T.integer), doc: 'Source line of each frame (0 when unknown).' },
      { name: 'sample_labels', type: T.map(T.varchar, T.varchar), doc: 'pprof string labels of the samples (pprof.Do / SetGoroutineLabels).' },
      { name: 'num_labels', type: T.map(T.varchar, T.bigint), doc: 'pprof numeric labels (e.g. heap `bytes` = object size).' },
      { name: 'value', type: T.bigint, doc: 'Sum of the sample values of this stack.' },
    ],
    sortBy: ['kind', 'sample_type', 'stack_id'],
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
