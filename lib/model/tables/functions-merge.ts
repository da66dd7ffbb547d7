import { rowCodec } from './codec';
import { partitionKeys } from './common';
import { rollupService, rollupVersion } from './rollup-common';
import { T, type RowOf, type TableDef } from './types';

// functions_merge: the merge tier's pre-summed functions (lib/store/merge.ts). Fresh tier only:
// `fresh/functions_merge/dt=D/hour=HH/<merge batch id>.parquet`, beside the merge's functions file
// of the same id, never compacted (the hour's compaction and rollups make it unneeded; the merger
// deletes it once its functions file is gone). lib/query/merge-sums.ts reads it for the merges a
// window covers whole.

export const functionsMerge = {
  name: 'functions_merge',
  doc:
    'Fresh hours only: per merge of batch files (the merge tier, every minute), `functions` of its CPU profiles summed per service x version x sample type x function, ' +
    'with the merge\'s first and last profile time. `top` over a window that covers a merge whole reads these instead of the merge\'s raw rows. ' +
    'No Glue table: Athena reads compacted files only.',
  partitionKeys,
  columns: [
    rollupService,
    rollupVersion,
    { name: 'kind', type: T.varchar, doc: "Profile kind ('cpu': the kinds whose profiles all weigh 1 in a window)." },
    { name: 'sample_type', type: T.varchar, doc: 'Sample type name, e.g. cpu, samples.' },
    { name: 'unit', type: T.varchar, doc: 'Unit of flat and cum.' },
    { name: 'function', type: T.varchar, doc: 'Function name (the frame name pprof prints).' },
    { name: 'flat', type: T.bigint, doc: 'Sum of flat over the merge\'s profiles.' },
    { name: 'cum', type: T.bigint, doc: 'Sum of cum over the merge\'s profiles.' },
    { name: 'first_time', type: T.timestamp, doc: 'Earliest capture time of the merge\'s profiles (of any service).' },
    { name: 'last_time', type: T.timestamp, doc: 'Latest capture time of the merge\'s profiles (of any service).' },
  ],
  sortBy: ['kind', 'sample_type', 'service', 'function'],
  freshOnly: true,
} as const satisfies TableDef;

export type FunctionsMergeRow = RowOf<typeof functionsMerge>;
export const functionsMergeCodec = rowCodec(functionsMerge);
