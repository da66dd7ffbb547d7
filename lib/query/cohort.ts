import type { ProfileKind } from '../model/profile';
import { utcDate, type PartitionFilter } from '../store/layout';

// A cohort: which profiles a query covers. Turned into one SQL predicate, with the partition
// columns (dt, service) repeated so DuckDB prunes files before it reads them.

export interface Cohort {
  kind: ProfileKind;
  service?: string;
  version?: string;
  instance?: string;
  /** Half-open [fromUs, toUs) on capture time, epoch microseconds. */
  fromUs?: number;
  toUs?: number;
  labels?: Record<string, string>;
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

export function partitionFilter(c: Cohort): PartitionFilter {
  return { service: c.service, fromUs: c.fromUs, toUs: c.toUs };
}

/** WHERE clause over a table with the profile identity columns (profiles, functions, stacks). */
export function cohortWhere(c: Cohort, params: SqlParams, alias = ''): string {
  const a = alias ? alias + '.' : '';
  const parts = [`${a}kind = $kind`];
  params.kind = c.kind;
  if (c.service !== undefined) {
    parts.push(`${a}service = $service`);
    params.service = c.service;
  }
  if (c.version !== undefined) {
    parts.push(`${a}version = $version`);
    params.version = c.version;
  }
  if (c.instance !== undefined) {
    parts.push(`${a}instance = $instance`);
    params.instance = c.instance;
  }
  if (c.fromUs !== undefined) {
    parts.push(`${a}dt >= $from_dt`, `${a}time >= make_timestamp($from_us::BIGINT)`);
    params.from_dt = utcDate(c.fromUs);
    params.from_us = BigInt(c.fromUs);
  }
  if (c.toUs !== undefined) {
    parts.push(`${a}dt <= $to_dt`, `${a}time < make_timestamp($to_us::BIGINT)`);
    params.to_dt = utcDate(c.toUs - 1);
    params.to_us = BigInt(c.toUs);
  }
  return parts.join(' AND ');
}

/** Profiles of the cohort (labels live on the profiles table only). */
export function selectedProfilesSql(c: Cohort, params: SqlParams): string {
  const parts = [cohortWhere(c, params)];
  Object.entries(c.labels ?? {}).forEach(([k, v], i) => {
    parts.push(`labels[$lk${i}] = $lv${i}`);
    params[`lk${i}`] = k;
    params[`lv${i}`] = v;
  });
  return `SELECT profile_id, sample_types FROM profiles WHERE ${parts.join(' AND ')}`;
}
