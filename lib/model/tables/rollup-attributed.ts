import { rowCodec } from './codec';
import { partitionKeys } from './common';
import { dayColumn, hourColumn, rollupKind, rollupService, rollupVersion } from './rollup-common';
import { T, type RowOf, type TableDef } from './types';

// attributed_1h and attributed_1d: what the digest's detectors read for whole rolled-up hours and
// days (lib/query/instance-values.ts). The detectors judge per-instance values of each sample
// charged to its leaf-most frame of the service's own code (lib/model/attribution.ts); no other
// rollup keeps both the instance and that attribution (functions_1h/stacks_1h are summed over
// instances except for gauges, and a stack's attribution is not a function of functions_1h's
// flat/cum). So per hour x instance x version x kind x sample type x attributed frame: the sum of
// the stacks' values, weighted like the other rollups (rollup-common.ts: cpu and deltas as they
// are, cumulative counters as per-snapshot increases, gauges as per-instance sums divided by
// profiles_1h.snapshots at query time). The instance's totals, durations, snapshot counts and
// series come from profiles_1h. Size: instances x hours x sample types x the attributed frames of
// a service (tens, not the thousands of stacks), and the day form divides the hours by 24.

const attributedColumns = [
  { name: 'instance', type: T.varchar, doc: 'Instance (host, pod, task) that produced the profiles.' },
  ...rollupKind,
  {
    name: 'function',
    type: T.varchar,
    doc: "The leaf-most frame of the service's own code of the samples' stacks (import path with a dot in its first element, or package main), else the leaf frame; '' for an empty stack.",
  },
  { name: 'value', type: T.bigint, doc: 'Sum of the stacks\' values attributed to the function, weighted by the value class (see value_class).' },
] as const;

// Service first: the digest reads one service at a time (row-group pruning), then one sample type.
export const attributed1h = {
  name: 'attributed_1h',
  doc: "Rollup of `stacks` per UTC hour x service x version x instance x kind x sample type x attributed frame (each stack's value charged to its leaf-most frame of the service's own code): the per-instance replicates of the digest's detectors. Rows whose value is 0 are left out.",
  partitionKeys,
  columns: [hourColumn, rollupService, rollupVersion, ...attributedColumns],
  sortBy: ['service', 'kind', 'sample_type', 'instance', 'function', 'hour', 'version'],
} as const satisfies TableDef;

export const attributed1d = {
  name: 'attributed_1d',
  doc: 'Rollup of `attributed_1h` per UTC day (the same rows with `day` instead of `hour`, summed): what whole days of a digest baseline read.',
  partitionKeys,
  columns: [dayColumn, rollupService, rollupVersion, ...attributedColumns],
  sortBy: ['service', 'kind', 'sample_type', 'instance', 'function', 'day', 'version'],
} as const satisfies TableDef;

export type Attributed1hRow = RowOf<typeof attributed1h>;
export type Attributed1dRow = RowOf<typeof attributed1d>;
export const attributed1hCodec = rowCodec(attributed1h);
export const attributed1dCodec = rowCodec(attributed1d);
