import { rowCodec } from './codec';
import { partitionKeys } from './common';
import { dayColumn, rollupKind, rollupService, rollupVersion } from './rollup-common';
import { T, type RowOf, type TableDef } from './types';

// totals_1d: pprof's "of N total" per UTC day, summed over instances. profiles_1h holds the same
// totals per instance, process and hour (what gauge means and the counter-gap check need): over
// 30 days of 1,000 instances that is 720 files of 6,000 rows each, read by every `top` only for its
// total. A day of this table is a few rows per service, version, kind and sample type. Built from
// the day's profiles_1h rows with the other day forms (lib/store/rollup-build.ts), so it is
// replaced with them when late data rebuilds an hour; sums only, so it is exact wherever the
// values are summed over instances: interval (cpu), counters, and gauges with `--aggregate sum`.
// A gauge mean divides per instance (profiles_1h.snapshots): those windows read profiles_1h.

export const totals1d = {
  name: 'totals_1d',
  doc:
    'Rollup of `profiles_1h` per UTC day x service x version x kind x sample type, summed over instances, processes and hours: ' +
    'the totals of the sample type (pprof "of N total") weighted like the other rollups (cpu: sums; counters: sums of per-snapshot increases; gauges: sums of snapshot values).',
  partitionKeys,
  columns: [
    dayColumn,
    rollupService,
    rollupVersion,
    ...rollupKind,
    { name: 'total', type: T.bigint, doc: "Sum of the profiles_1h totals of the sample type over the day's hours." },
  ],
  sortBy: ['kind', 'sample_type', 'day', 'version'],
} as const satisfies TableDef;

export type Totals1dRow = RowOf<typeof totals1d>;
export const totals1dCodec = rowCodec(totals1d);
