import type { ProfileKind } from './profile';

// What a sample value means over time: the one home of the rule every query follows
// (docs/schema.md, "Values over time").
//
// - interval: the value covers the profile's own interval (CPU profiles): values of several
//   profiles add up.
// - counter: Go counts it since process start (allocs, block, mutex, and heap's alloc_*). A window
//   shows the increase within it, per process; the upload says whether it sent the counter as
//   is (`cumulative`) or already differenced since its previous upload (`delta`).
// - gauge: a point-in-time value (inuse_*, goroutine, threadcreate). A window shows the
//   time-average per instance, summed over instances (or max, last, sum: GaugeAggregate).

export type ValueClass = 'interval' | 'counter' | 'gauge';

export const TEMPORALITIES = ['delta', 'cumulative'] as const;
/** How an upload sent its counter sample types: as Go keeps them (since process start) or as increases since its previous upload. */
export type Temporality = (typeof TEMPORALITIES)[number];

export const GAUGE_AGGREGATES = ['avg', 'max', 'last', 'sum'] as const;
/** How a window combines an instance's gauge snapshots (default avg). */
export type GaugeAggregate = (typeof GAUGE_AGGREGATES)[number];

export function isTemporality(s: string): s is Temporality {
  return (TEMPORALITIES as readonly string[]).includes(s);
}

export function isGaugeAggregate(s: string): s is GaugeAggregate {
  return (GAUGE_AGGREGATES as readonly string[]).includes(s);
}

/**
 * The class of a sample type of a kind. Go's heap and allocs profiles are the same profile with
 * four sample types: alloc_* count since process start, inuse_* are what is live now. A sample
 * type Go does not write is classed by its kind (heap types not named alloc_* are gauges).
 */
export function valueClass(kind: ProfileKind, sampleType: string): ValueClass {
  switch (kind) {
    case 'cpu':
      return 'interval';
    case 'block':
    case 'mutex':
      return 'counter';
    case 'heap':
    case 'allocs':
      return sampleType.startsWith('alloc_') ? 'counter' : 'gauge';
    case 'goroutine':
    case 'threadcreate':
      return 'gauge';
  }
}

/**
 * What an upload that says nothing is taken to be: Go's own `WriteTo(w, 0)` output, i.e. counters
 * since process start. CPU profiles are intervals and always stored as `delta`.
 */
export function defaultTemporality(kind: ProfileKind): Temporality {
  return kind === 'cpu' ? 'delta' : 'cumulative';
}

/** The temporality stored for a profile: CPU is always an interval (`delta`), whatever was declared. */
export function storedTemporality(kind: ProfileKind, declared: Temporality | undefined): Temporality {
  return kind === 'cpu' ? 'delta' : (declared ?? defaultTemporality(kind));
}

/** SQL CASE over columns `kind` and `sample_type` giving the ValueClass: the same rule as valueClass, for the documented views. */
export function valueClassSql(kindCol: string, sampleTypeCol: string): string {
  return (
    `CASE WHEN ${kindCol} = 'cpu' THEN 'interval' ` +
    `WHEN ${kindCol} IN ('block', 'mutex') THEN 'counter' ` +
    `WHEN ${kindCol} IN ('heap', 'allocs') AND starts_with(${sampleTypeCol}, 'alloc_') THEN 'counter' ` +
    `ELSE 'gauge' END`
  );
}
