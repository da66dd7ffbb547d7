import { rowCodec } from './codec';
import { identity, partitionKeys } from './common';
import { T, type RowOf, type TableDef } from './types';

export const functions = {
  name: 'functions',
  doc: 'One row per profile x sample type x function: flat and cum exactly as `go tool pprof -top` computes them at function granularity.',
  partitionKeys,
  columns: [
    ...identity,
    { name: 'kind', type: T.varchar, doc: 'Profile kind.' },
    { name: 'sample_type', type: T.varchar, doc: 'Sample type name, e.g. cpu, samples, inuse_space, delay.' },
    { name: 'unit', type: T.varchar, doc: 'Unit of flat and cum: nanoseconds, bytes or count.' },
    { name: 'time', type: T.timestamp, doc: 'Capture time of the profile, UTC.' },
    { name: 'function', type: T.varchar, doc: 'Function name (the frame name pprof prints).' },
    { name: 'flat', type: T.bigint, doc: 'Value in samples whose innermost frame is this function.' },
    { name: 'cum', type: T.bigint, doc: 'Value in samples with this function anywhere on the stack (once per sample).' },
  ],
  // Profile-contiguous order: measured 3x smaller than function-major after compaction.
  sortBy: ['kind', 'sample_type', 'time', 'profile_id', 'function'],
} as const satisfies TableDef;

export type FunctionsRow = RowOf<typeof functions>;
export const functionsCodec = rowCodec(functions);
