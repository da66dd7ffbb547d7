import type { ProfileKind } from '../model/profile';
import { TABLES, type TableName } from '../model/schema';
import { utcDate, type PartitionFilter } from '../store/layout';

// The cohort: which rows a query covers (service, version, instance, upload labels, time range),
// in ONE place for every query (top, gc, diff, flame graphs, export, the digest). A cohort is a
// plain typed value; two functions turn it into what the engine needs:
// - `partitionFilter`: which Hive partitions (dt, service) can hold its rows, so the engine opens
//   only those files;
// - `cohortPredicate`: the SQL predicate over one table, with its parameters. The partition columns
//   (dt, service) are repeated in it so DuckDB prunes files again before it reads them.

/** Who and when: the filter every table shares. */
export interface CohortFilter {
  service?: string;
  version?: string;
  instance?: string;
  /** Upload-level labels (k=v); a row must carry every one of them. */
  labels?: Readonly<Record<string, string>>;
  /** Half-open [fromUs, toUs) on the row's time (capture time, cycle start...), epoch microseconds. */
  fromUs?: number;
  toUs?: number;
}

/** A cohort of profiles: one profile kind and the filter. */
export interface Cohort extends CohortFilter {
  kind: ProfileKind;
}

export type SqlParams = Record<string, string | number | bigint | boolean>;

/** The sample type `go tool pprof` shows by default for each kind Go writes. */
export const DEFAULT_SAMPLE_TYPE: Record<ProfileKind, string> = {
  cpu: 'cpu',
  heap: 'inuse_space',
  allocs: 'alloc_space',
  goroutine: 'goroutine',
  threadcreate: 'threadcreate',
  block: 'delay',
  mutex: 'delay',
};

/**
 * The partitions that can hold rows of any of the cohorts (a diff's two sides, a differential flame
 * graph's target and baseline): the union of their ranges, one service only when they all name it.
 */
export function partitionFilter(...cohorts: CohortFilter[]): PartitionFilter {
  if (cohorts.length === 0) return {};
  const services = new Set(cohorts.map((c) => c.service));
  const froms = cohorts.map((c) => c.fromUs);
  const tos = cohorts.map((c) => c.toUs);
  return {
    service: services.size === 1 ? cohorts[0].service : undefined,
    fromUs: froms.some((x) => x === undefined) ? undefined : Math.min(...(froms as number[])),
    toUs: tos.some((x) => x === undefined) ? undefined : Math.max(...(tos as number[])),
  };
}

export interface PredicateOptions {
  /** Table alias the columns are qualified with (`f` -> `f.service`). */
  alias?: string;
  /** Prefix of the parameter names, so that two cohorts can share one statement. */
  prefix?: string;
}

const hasColumn = (table: TableName, column: string): boolean => TABLES[table].columns.some((c) => c.name === column);

/**
 * The SQL predicate selecting a cohort's rows of `table`, and its named parameters. The kind is
 * matched when the cohort has one (the gc and metrics tables have no kind). Labels are matched on
 * the table's own `labels` column; tables without one (functions, stacks) are restricted to the
 * profile ids of the cohort's profiles, which is where their upload labels live.
 */
export function cohortPredicate(
  c: CohortFilter & { kind?: ProfileKind },
  table: TableName,
  opts: PredicateOptions = {},
): { sql: string; params: SqlParams } {
  const a = opts.alias ? opts.alias + '.' : '';
  const p = opts.prefix ?? '';
  const params: SqlParams = {};
  const parts: string[] = [];
  const eq = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    parts.push(`${a}${column} = $${p}${column}`);
    params[p + column] = value;
  };
  if (c.kind !== undefined) {
    if (!hasColumn(table, 'kind')) throw new Error(`table ${table} has no profile kind`);
    eq('kind', c.kind);
  }
  eq('service', c.service);
  eq('version', c.version);
  eq('instance', c.instance);
  if (c.fromUs !== undefined) {
    parts.push(`${a}dt >= $${p}from_dt`, `${a}time >= make_timestamp($${p}from_us::BIGINT)`);
    params[p + 'from_dt'] = utcDate(c.fromUs);
    params[p + 'from_us'] = BigInt(c.fromUs);
  }
  if (c.toUs !== undefined) {
    parts.push(`${a}dt <= $${p}to_dt`, `${a}time < make_timestamp($${p}to_us::BIGINT)`);
    params[p + 'to_dt'] = utcDate(c.toUs - 1);
    params[p + 'to_us'] = BigInt(c.toUs);
  }
  if (hasColumn(table, 'labels')) {
    Object.entries(c.labels ?? {}).forEach(([k, v], i) => {
      parts.push(`${a}labels[$${p}lk${i}] = $${p}lv${i}`);
      params[`${p}lk${i}`] = k;
      params[`${p}lv${i}`] = v;
    });
  } else {
    // Same parameter names and values as the outer predicate: the subquery shares them.
    const profiles = cohortPredicate(c, 'profiles', { prefix: p });
    parts.push(`${a}profile_id IN (SELECT profile_id FROM profiles WHERE ${profiles.sql})`);
    Object.assign(params, profiles.params);
  }
  return { sql: parts.length === 0 ? 'true' : parts.join(' AND '), params };
}
