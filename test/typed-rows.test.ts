// Row types are derived from the table definitions (lib/model/tables/), so a wrong column is a
// compile error where rows are built. The @ts-expect-error lines are the test: `npm test` builds
// with tsc first, and tsc fails if any of them stops being an error.
import { CODECS, TABLES, type FunctionsRow, type GcCyclesRow, type ProfilesRow, type RuntimeMetricsRow } from '../lib/model/schema';

const fn: FunctionsRow = { profile_id: 'p', service: 's', instance: 'i', version: '', kind: 'cpu', sample_type: 'cpu', unit: 'nanoseconds', time: 0, function: 'f', flat: 1, cum: 2 };

export const typeChecks = [
  // @ts-expect-error a misspelled column (cumm) is not a column of functions
  { ...fn, cumm: 2 } satisfies FunctionsRow,
  // @ts-expect-error a missing column is an error too (cum left out)
  { profile_id: 'p', service: 's', instance: 'i', version: '', kind: 'cpu', sample_type: 'cpu', unit: 'ns', time: 0, function: 'f', flat: 1 } satisfies FunctionsRow,
  // @ts-expect-error NULL only where the schema says nullable
  { samples: null } satisfies Pick<ProfilesRow, 'samples'>,
  { stacks_bytes: null } satisfies Pick<GcCyclesRow, 'stacks_bytes'>,
  // @ts-expect-error struct fields are checked: sample_types[].total
  { sample_types: [{ type: 'cpu', unit: 'ns', totl: 1 }] } satisfies Pick<ProfilesRow, 'sample_types'>,
];

test('every table has a codec; the codec spells non-finite doubles for the JSON path and leaves the rest', () => {
  expect(Object.keys(CODECS).sort()).toEqual(Object.keys(TABLES).sort());
  const m: RuntimeMetricsRow = {
    profile_id: 'p',
    service: 's',
    instance: 'i',
    version: '',
    labels: {},
    process: '',
    time: 1,
    name: '/x:seconds',
    unit: 'seconds',
    kind: 'histogram',
    value: null,
    buckets: [-Infinity, 0, Infinity],
    counts: [1, 2],
  };
  expect(CODECS.runtime_metrics.encode(m)).toEqual({ ...m, buckets: ['-Infinity', 0, 'Infinity'] });
  expect(CODECS.runtime_metrics.encode({ ...m, value: NaN, buckets: null, counts: null })).toMatchObject({ value: 'NaN', buckets: null });
  // A table with nothing to spell is passed through without a copy.
  expect(CODECS.functions.encode(fn)).toBe(fn);
});
