import { rowCodec } from './codec';
import { partitionKeys } from './common';
import { dayColumn, hourColumn, rollupInstance, rollupKind, rollupService, rollupVersion } from './rollup-common';
import { T, type RowOf, type TableDef } from './types';

// functions_1h and functions_1d: the functions table summed per hour / day (rollup-common.ts).

const functionColumns = [
  { name: 'function', type: T.varchar, doc: 'Function name (the frame name `go tool pprof -top` prints; the functions table\'s key).' },
  { name: 'flat', type: T.bigint, doc: 'Sum of flat over the profiles of the bucket, weighted by the value class (see value_class).' },
  { name: 'cum', type: T.bigint, doc: 'Sum of cum, weighted likewise.' },
] as const;

// Function-major within a sample type: a function's rows of a day file are adjacent, so its name
// and version repeat in runs (the same reason the stacks table is stack-major).
export const functions1h = {
  name: 'functions_1h',
  doc: 'Rollup of `functions` per UTC hour x version x kind x sample type x function (x instance for gauges). Rows whose flat and cum are both 0 are left out.',
  partitionKeys,
  columns: [hourColumn, rollupService, rollupVersion, rollupInstance, ...rollupKind, ...functionColumns],
  sortBy: ['kind', 'sample_type', 'function', 'hour', 'version', 'instance'],
} as const satisfies TableDef;

export const functions1d = {
  name: 'functions_1d',
  doc: 'Rollup of `functions_1h` per UTC day (the same rows with `day` instead of `hour`, summed): what windows of whole days read.',
  partitionKeys,
  columns: [dayColumn, rollupService, rollupVersion, rollupInstance, ...rollupKind, ...functionColumns],
  sortBy: ['kind', 'sample_type', 'function', 'day', 'version', 'instance'],
} as const satisfies TableDef;

export type Functions1hRow = RowOf<typeof functions1h>;
export type Functions1dRow = RowOf<typeof functions1d>;
export const functions1hCodec = rowCodec(functions1h);
export const functions1dCodec = rowCodec(functions1d);
