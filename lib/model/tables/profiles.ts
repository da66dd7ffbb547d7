import { rowCodec } from './codec';
import { identity, labels, partitionKeys } from './common';
import { T, type RowOf, type TableDef } from './types';

export const profiles = {
  name: 'profiles',
  doc: 'One row per ingested profile.',
  partitionKeys,
  columns: [
    ...identity,
    labels,
    { name: 'kind', type: T.varchar, doc: 'cpu, heap, allocs, goroutine, block, mutex or threadcreate.' },
    { name: 'time', type: T.timestamp, doc: 'Capture time (time_nanos, or the declared start for forms without one), UTC.' },
    {
      name: 'process',
      type: T.varchar,
      doc: "Identity of the process that wrote the profile (the agent's run id; upload metadata `process`), '' when unknown. With service, instance and version it names the series of a counter (see Values over time).",
    },
    {
      name: 'temporality',
      type: T.varchar,
      doc: "How the profile's counter sample types were sent: 'cumulative' (since process start, as Go writes them; the default) or 'delta' (increase since the previous upload of the process). Always 'delta' for cpu.",
    },
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
} as const satisfies TableDef;

export type ProfilesRow = RowOf<typeof profiles>;
export const profilesCodec = rowCodec(profiles);
