import { T } from './types';

// Columns the rollup tables share (functions_1h/_1d, stacks_1h/_1d, profiles_1h). A rollup row is
// a SUM over the profiles of one UTC hour (or day) of exactly what the window rule
// (lib/query/window.ts) weights them by, so whole hours add up to any whole-hour window:
// - interval (cpu) and delta counters: the profiles' own values;
// - cumulative counters: per-snapshot INCREASES, each snapshot minus the previous snapshot of its
//   process series (same segment, taken no further back than the start of the previous hour);
// - gauges: per-instance SUMS, divided by profiles_1h.snapshots of the instance at query time.
// docs/schema.md "Rollups" says how to query them; lib/store/rollup-build.ts builds them.

export const rollupVersion = {
  name: 'version',
  type: T.varchar,
  doc: "Service version (build, commit or tag); '' when not given.",
} as const;

export const rollupInstance = {
  name: 'instance',
  type: T.varchar,
  doc: "Instance, for gauge rows only (value_class = 'gauge': a per-instance mean needs per-instance sums); '' for interval and counter rows, which are summed over instances.",
} as const;

export const rollupKind = [
  { name: 'kind', type: T.varchar, doc: 'Profile kind.' },
  { name: 'sample_type', type: T.varchar, doc: 'Sample type name, e.g. cpu, samples, inuse_space, delay.' },
  { name: 'unit', type: T.varchar, doc: 'Unit of the values: nanoseconds, bytes or count.' },
  {
    name: 'value_class',
    type: T.varchar,
    doc: "'interval' (cpu: sums), 'counter' (sums of per-snapshot increases: add rows for any whole-hour window) or 'gauge' (per-instance sums: divide by profiles_1h.snapshots of the instance).",
  },
] as const;

export const hourColumn = { name: 'hour', type: T.timestamp, doc: 'Start of the UTC hour the row sums, [hour, hour + 1 h).' } as const;
export const dayColumn = { name: 'day', type: T.timestamp, doc: 'Start of the UTC day the row sums, [day, day + 1 d) (the sum of the day\'s 24 hour rows).' } as const;

/** Layout v2: `service` is a column (dt is the only partition key), as in the raw tables. */
export const rollupService = { name: 'service', type: T.varchar, doc: 'Service name.' } as const;
