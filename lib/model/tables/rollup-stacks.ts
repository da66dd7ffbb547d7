import { rowCodec } from './codec';
import { partitionKeys } from './common';
import { dayColumn, hourColumn, rollupInstance, rollupKind, rollupService, rollupVersion } from './rollup-common';
import { T, type RowOf, type TableDef } from './types';

// stacks_1h and stacks_1d: the stacks table summed per hour / day, so flame graphs and exports
// of whole hours and days read one row per distinct stack instead of one per profile.

const stackColumns = [
  { name: 'stack_id', type: T.bigint, doc: 'Hash of (frames, files, start_lines, lines, inlined), as in `stacks`.' },
  { name: 'frames', type: T.list(T.varchar), doc: 'Function names, leaf (innermost inlined frame) first.' },
  { name: 'lines', type: T.list(T.integer), doc: 'Source line of each frame (0 when unknown).' },
  { name: 'files', type: T.list(T.varchar), doc: "Source file of each frame's function ('' when unknown)." },
  { name: 'start_lines', type: T.list(T.integer), doc: "Start line of each frame's function (0 when unknown)." },
  { name: 'inlined', type: T.list(T.boolean), doc: 'true where the frame was inlined into the next one.' },
  { name: 'sample_labels', type: T.map(T.varchar, T.varchar), doc: 'pprof string labels of the samples (rows of different label sets stay apart).' },
  { name: 'num_labels', type: T.map(T.varchar, T.bigint), doc: 'pprof numeric labels (e.g. heap `bytes` = object size).' },
  { name: 'value', type: T.bigint, doc: 'Sum of the stack\'s values over the profiles of the bucket, weighted by the value class (see value_class).' },
] as const;

export const stacks1h = {
  name: 'stacks_1h',
  doc: 'Rollup of `stacks` per UTC hour x version x kind x sample type x stack and label set (x instance for gauges). Rows whose value is 0 are left out.',
  partitionKeys,
  columns: [hourColumn, rollupService, rollupVersion, rollupInstance, ...rollupKind, ...stackColumns],
  sortBy: ['kind', 'sample_type', 'stack_id', 'hour', 'version', 'instance'],
} as const satisfies TableDef;

export const stacks1d = {
  name: 'stacks_1d',
  doc: 'Rollup of `stacks_1h` per UTC day (the same rows with `day` instead of `hour`, summed).',
  partitionKeys,
  columns: [dayColumn, rollupService, rollupVersion, rollupInstance, ...rollupKind, ...stackColumns],
  sortBy: ['kind', 'sample_type', 'stack_id', 'day', 'version', 'instance'],
} as const satisfies TableDef;

export type Stacks1hRow = RowOf<typeof stacks1h>;
export type Stacks1dRow = RowOf<typeof stacks1d>;
export const stacks1hCodec = rowCodec(stacks1h);
export const stacks1dCodec = rowCodec(stacks1d);
