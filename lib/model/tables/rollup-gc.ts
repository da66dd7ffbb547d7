import { rowCodec } from './codec';
import { partitionKeys } from './common';
import { dayColumn, hourColumn, rollupService, rollupVersion } from './rollup-common';
import { T, type RowOf, type TableDef } from './types';

// gc_1h and gc_1d: gc_cycles summed per UTC hour (day), service and version, so that `fleetprof
// gc` over whole hours and days (lib/query/gc-rollup.ts) gives every figure it gives from raw
// rows (lib/query/gc.ts) without reading 2,370 rows per instance-hour:
// - counts and CPU / heap sums add up; maxima take the max;
// - pause percentiles are nearest rank over every cycle: a pause -> cycles histogram keyed on the
//   exact pause (gctrace prints milliseconds with three decimals, so pauses are whole
//   microseconds: a few hundred distinct values per bucket);
// - `instances` counts distinct instances of a bucket: the instance names, merged as sets;
// - covered_ns is per stream (one uploaded log's process lifetime) |[first cycle, last cycle end]
//   ∩ bucket|: a stream inside one hour adds its span to the hour's local sums; a stream that
//   reaches over the hour's edges (cycles in the hour before, or a cycle ending after the hour) is
//   listed in `streams` with its piece of the hour, and the query joins its pieces over the window.
//   A local piece of the hour before such a stream's piece is listed too (`retract`): the query
//   takes it out of that hour's local sums and joins it to the stream, when that hour is in the
//   window. What this cannot see: a stream with no cycle for a whole hour inside it (one log over
//   an idle process; the agent uploads a log a minute), and late rows of a neighbouring hour.
// - byte sums are kept as MiB and remainder sums (bytes = mib x 2^20 + rem), so they stay exact in
//   BIGINT even for the heap goals of GC off (8532210231531 MB goal, ~2^63 bytes per cycle).

const streamPiece = T.struct({
  stream: T.varchar,
  hour: T.timestamp,
  first_ns: T.bigint,
  last_end_ns: T.bigint,
  procs: T.integer,
  retract: T.boolean,
});

const gcColumns = [
  { name: 'instances', type: T.list(T.varchar), doc: 'The distinct instances with cycles in the bucket, sorted.' },
  { name: 'cycles', type: T.bigint, doc: 'Number of GC cycles (rows of gc_cycles) starting in the bucket.' },
  { name: 'forced_cycles', type: T.bigint, doc: 'Of them, forced.' },
  {
    name: 'pauses',
    type: T.list(T.struct({ pause_ns: T.bigint, cycles: T.bigint })),
    doc: 'Histogram of pause_ns: every distinct pause with its cycle count, ascending (nearest-rank percentiles are exact from it).',
  },
  { name: 'sweep_term_cpu_ns', type: T.bigint, doc: 'Sum of sweep_term_cpu_ns.' },
  { name: 'assist_cpu_ns', type: T.bigint, doc: 'Sum of assist_cpu_ns.' },
  { name: 'background_cpu_ns', type: T.bigint, doc: 'Sum of background_cpu_ns.' },
  { name: 'idle_cpu_ns', type: T.bigint, doc: 'Sum of idle_cpu_ns.' },
  { name: 'mark_term_cpu_ns', type: T.bigint, doc: 'Sum of mark_term_cpu_ns.' },
  { name: 'heap_live_mib_sum', type: T.bigint, doc: 'Sum of heap_live_bytes >> 20 (the sum in bytes is heap_live_mib_sum x 2^20 + heap_live_rem_sum).' },
  { name: 'heap_live_rem_sum', type: T.bigint, doc: 'Sum of heap_live_bytes & (2^20 - 1).' },
  { name: 'heap_live_max', type: T.bigint, doc: 'Largest heap_live_bytes.' },
  { name: 'heap_goal_mib_sum', type: T.bigint, doc: 'Sum of heap_goal_bytes >> 20.' },
  { name: 'heap_goal_rem_sum', type: T.bigint, doc: 'Sum of heap_goal_bytes & (2^20 - 1).' },
  { name: 'heap_goal_max', type: T.bigint, doc: 'Largest heap_goal_bytes.' },
  { name: 'stacks_globals_mib_sum', type: T.bigint, doc: 'Sum of (stacks_bytes + globals_bytes, 0 where NULL) >> 20.' },
  { name: 'stacks_globals_rem_sum', type: T.bigint, doc: 'Sum of (stacks_bytes + globals_bytes) & (2^20 - 1).' },
  {
    name: 'local_covered_ns',
    type: T.bigint,
    doc: 'Sum over the streams that lie inside one hour of the bucket of their span [first cycle start, last cycle end].',
  },
  { name: 'local_capacity_ns', type: T.bigint, doc: 'Sum over the same streams of span x procs (the largest GOMAXPROCS the stream printed).' },
  {
    name: 'streams',
    type: T.list(streamPiece),
    doc: "Pieces of the streams that reach over an hour's edges: stream id (profile_id/segment), the hour of the piece, its first cycle start and last cycle end (epoch ns), largest procs; retract = a local piece of the hour before, to move out of that hour's local sums when both hours are read.",
  },
] as const;

export const gc1h = {
  name: 'gc_1h',
  doc: 'Rollup of `gc_cycles` per UTC hour x service x version: what `fleetprof gc` reads for whole hours (every figure equals the raw rows\').',
  partitionKeys,
  columns: [hourColumn, rollupService, rollupVersion, ...gcColumns],
  sortBy: ['hour', 'version'],
} as const satisfies TableDef;

export const gc1d = {
  name: 'gc_1d',
  doc: 'Rollup of `gc_1h` per UTC day (sums, maxima, merged histograms, instance sets and stream pieces of its 24 hour rows).',
  partitionKeys,
  columns: [dayColumn, rollupService, rollupVersion, ...gcColumns],
  sortBy: ['day', 'version'],
} as const satisfies TableDef;

export type Gc1hRow = RowOf<typeof gc1h>;
export type Gc1dRow = RowOf<typeof gc1d>;
export const gc1hCodec = rowCodec(gc1h);
export const gc1dCodec = rowCodec(gc1d);
