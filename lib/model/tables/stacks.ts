import type { Int64 } from '../profile';
import { rowCodec } from './codec';
import { identity, partitionKeys } from './common';
import { T, type RowOf, type TableDef } from './types';

export const stacks = {
  name: 'stacks',
  doc: 'One row per profile x distinct stack (and sample label set) x sample type; enough to rebuild flame graphs and a merged pprof.',
  partitionKeys,
  columns: [
    ...identity,
    { name: 'kind', type: T.varchar, doc: 'Profile kind.' },
    { name: 'sample_type', type: T.varchar, doc: 'Sample type name.' },
    { name: 'unit', type: T.varchar, doc: 'Unit of value.' },
    { name: 'time', type: T.timestamp, doc: 'Capture time of the profile, UTC.' },
    { name: 'stack_id', type: T.bigint, doc: 'Hash of (frames, files, start_lines, lines, inlined): equal stacks have equal ids in every profile.' },
    { name: 'frames', type: T.list(T.varchar), doc: 'Function names, leaf (innermost inlined frame) first.' },
    { name: 'lines', type: T.list(T.integer), doc: 'Source line of each frame (0 when unknown).' },
    {
      name: 'files',
      type: T.list(T.varchar),
      doc: "Source file of each frame's function, as the profile names it ('' when unknown). With `frames` and `start_lines` it is pprof's Function identity: same-named functions of different files stay apart.",
    },
    { name: 'start_lines', type: T.list(T.integer), doc: "Start line of each frame's function (0 when unknown)." },
    {
      name: 'inlined',
      type: T.list(T.boolean),
      doc: 'true where the frame was inlined into the next one (both were Lines of one pprof Location); what `go tool pprof` prints as `(inline)`.',
    },
    { name: 'sample_labels', type: T.map(T.varchar, T.varchar), doc: 'pprof string labels of the samples (pprof.Do / SetGoroutineLabels).' },
    { name: 'num_labels', type: T.map(T.varchar, T.bigint), doc: 'pprof numeric labels (e.g. heap `bytes` = object size).' },
    { name: 'value', type: T.bigint, doc: 'Sum of the sample values of this stack.' },
  ],
  // Stack-major: a stack's rows of the whole file (a day, once compacted) are adjacent, so its
  // frames, files, lines and flags repeat in runs. Measured on the storage bench day: 0.84 B/sample
  // for stacks against 2.48 profile-major (docs/performance.md). Row groups are then not
  // time-ordered within a file; files are per day (and S3 objects are fetched whole anyway).
  sortBy: ['kind', 'sample_type', 'stack_id', 'time', 'profile_id'],
} as const satisfies TableDef;

export type StacksRow = RowOf<typeof stacks>;
export const stacksCodec = rowCodec(stacks);

/** The columns the writer computes when it expands packed rows (see PackedStacks). */
export const PACKED_COMPUTED = ['frames', 'files', 'start_lines', 'sample_type', 'unit', 'value'] as const;

/** One stack with every sample type's value and its frames as ids into PackedStacks.functions. */
export type PackedStackRow = Omit<StacksRow, (typeof PACKED_COMPUTED)[number]> & {
  readonly frame_ids: readonly number[];
  readonly vals: readonly Int64[];
};

/**
 * The stacks table in packed form: one row per stack with every sample type's value (`vals`)
 * and frame ids (`frame_ids`, indices into `functions`) instead of one row per sample type with the
 * frame names, files and start lines repeated. The writer expands it: ~4x less JSON for heap profiles.
 */
export interface PackedStacks {
  readonly functions: readonly { readonly name: string; readonly file: string; readonly startLine: number }[];
  readonly sampleTypes: readonly { readonly type: string; readonly unit: string }[];
  readonly rows: readonly PackedStackRow[];
}
