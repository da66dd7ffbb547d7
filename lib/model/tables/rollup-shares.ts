import { rowCodec } from './codec';
import { partitionKeys } from './common';
import { dayColumn, hourColumn, rollupService, rollupVersion } from './rollup-common';
import { T, type RowOf, type TableDef } from './types';

// function_shares_1h and function_shares_1d: what `fleetprof diff` needs beyond functions_1h/_1d
// to run its significance test over rollups. diff tests a CPU function with Welch's t over the
// per-profile cum shares (lib/query/diff.ts); Welch needs only n, the sum and the sum of squares
// of the replicates per side, and those add up over hours and days. The share of a profile is
// kept in fixed point (SHARE_BITS in lib/store/rollup-terms.ts: round(|cum| x 2^18 / total)) so the
// sums are integers: exact in any order, and the raw path sums the very same integers, so the
// rollup answer equals the raw one bit for bit. n is profiles_1h's snapshot count.
// Interval (cpu) rows only: the replicate of a counter is a process series over the whole window
// and of a gauge an instance's mean, neither of which is a sum of per-hour terms.

const shareColumns = [
  { name: 'function', type: T.varchar, doc: 'Function name, as in `functions`.' },
  {
    name: 'share_sum',
    type: T.bigint,
    doc: "Sum over the bucket's profiles of the function's cum share in fixed point: round(|cum| x 2^18 / the profile's total of the sample type).",
  },
  { name: 'share_sq_sum', type: T.bigint, doc: 'Sum of the squares of those fixed-point shares.' },
] as const;

const kindColumns = [
  { name: 'kind', type: T.varchar, doc: 'Profile kind (interval kinds only: cpu).' },
  { name: 'sample_type', type: T.varchar, doc: 'Sample type name, e.g. cpu, samples.' },
] as const;

export const functionShares1h = {
  name: 'function_shares_1h',
  doc: "Per UTC hour x service x version x kind x sample type x function, the sum and sum of squares of the function's per-profile cum share (fixed point, 2^18 = 100%): the replicates of `fleetprof diff`'s test. Interval kinds only; rows whose sums are 0 are left out.",
  partitionKeys,
  columns: [hourColumn, rollupService, rollupVersion, ...kindColumns, ...shareColumns],
  sortBy: ['kind', 'sample_type', 'function', 'hour', 'version'],
} as const satisfies TableDef;

export const functionShares1d = {
  name: 'function_shares_1d',
  doc: 'Rollup of `function_shares_1h` per UTC day (the same rows with `day` instead of `hour`, summed).',
  partitionKeys,
  columns: [dayColumn, rollupService, rollupVersion, ...kindColumns, ...shareColumns],
  sortBy: ['kind', 'sample_type', 'function', 'day', 'version'],
} as const satisfies TableDef;

export type FunctionShares1hRow = RowOf<typeof functionShares1h>;
export type FunctionShares1dRow = RowOf<typeof functionShares1d>;
export const functionShares1hCodec = rowCodec(functionShares1h);
export const functionShares1dCodec = rowCodec(functionShares1d);
