import { rowCodec } from './codec';
import { identity, labels, partitionKeys } from './common';
import { T, type RowOf, type TableDef } from './types';

export const runtimeMetrics = {
  name: 'runtime_metrics',
  doc:
    'One row per runtime/metrics snapshot x metric, from JSON `{"time": RFC 3339, "metrics": {"/name:unit": value}}` ' +
    '(one document, an array, or JSON lines). Scalars go to `value`; a Float64Histogram keeps the runtime\'s own layout: ' +
    '`counts[i]` samples fell in `[buckets[i], buckets[i+1])`, so `len(buckets) = len(counts) + 1`, and the outer bounds ' +
    'may be -inf / +inf. Cumulative metrics (counters, histograms) are totals since process start: take differences between ' +
    'snapshots of one process (instance and process) for rates.',
  partitionKeys,
  columns: [
    ...identity,
    labels,
    {
      name: 'process',
      type: T.varchar,
      doc:
        "Identity of the process that wrote the snapshots (the agent's run id; upload metadata `process`), '' when unknown. " +
        'A series of the cumulative metrics is (service, instance, version, process): differences are taken within it, so a ' +
        'restart or two processes under one instance name never pair snapshots of different processes. NULL in files written before the column existed.',
    },
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
  // Per metric, instance-major: a snapshot batch's rows (one profile_id, one instance) of a metric
  // are adjacent, so those columns run-length encode (639 vs 123 kB on the 100-instance bench hour,
  // docs/performance.md "Storage per CPU sample"); reads of one metric still prune on `name`.
  sortBy: ['name', 'instance', 'time'],
} as const satisfies TableDef;

export type RuntimeMetricsRow = RowOf<typeof runtimeMetrics>;
export const runtimeMetricsCodec = rowCodec(runtimeMetrics);
