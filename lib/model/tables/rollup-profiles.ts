import { rowCodec } from './codec';
import { partitionKeys } from './common';
import { hourColumn, rollupService, rollupVersion } from './rollup-common';
import { T, type RowOf, type TableDef } from './types';

// profiles_1h: per process series and hour, how many snapshots there were, when, and the
// weighted totals: the denominators of gauge means, pprof's "of N total" over rollups, and what
// the query planner checks a series' continuity with (a counter series silent for over an hour
// inside a window is answered from raw rows). No day form: it is small, and the hours are needed.

export const profiles1h = {
  name: 'profiles_1h',
  doc:
    'Rollup of `profiles` per UTC hour x process series (service, instance, version, process, temporality) x kind: ' +
    'snapshot counts (gauge denominators), first and last capture time, and the totals of every sample type weighted ' +
    'like the other rollups (cpu: sums; counters: sums of per-snapshot increases; gauges: sums).',
  partitionKeys,
  columns: [
    hourColumn,
    rollupService,
    { name: 'instance', type: T.varchar, doc: 'Instance (host, pod, task) that produced the profiles.' },
    rollupVersion,
    { name: 'process', type: T.varchar, doc: "Process identity ('' when unknown), as in `profiles`." },
    { name: 'temporality', type: T.varchar, doc: "'cumulative' or 'delta', as in `profiles`." },
    { name: 'kind', type: T.varchar, doc: 'Profile kind.' },
    { name: 'snapshots', type: T.bigint, doc: 'Number of profiles of the series in the hour.' },
    { name: 'first_time', type: T.timestamp, doc: 'Capture time of the first of them.' },
    { name: 'last_time', type: T.timestamp, doc: 'Capture time of the last of them.' },
    { name: 'duration_ns', type: T.bigint, doc: 'Sum of their duration_ns.' },
    {
      name: 'sample_types',
      type: T.list(T.struct({ type: T.varchar, unit: T.varchar, total: T.bigint })),
      doc: 'Per sample type, the sum of the profiles\' totals (pprof "of N total") weighted like the other rollups: for counter types of cumulative series, per-snapshot increases.',
    },
  ],
  sortBy: ['kind', 'hour', 'instance', 'version', 'process'],
} as const satisfies TableDef;

export type Profiles1hRow = RowOf<typeof profiles1h>;
export const profiles1hCodec = rowCodec(profiles1h);
