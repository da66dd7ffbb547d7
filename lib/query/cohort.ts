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
 * matched when the cohort has one (the gc and metrics tables have no kind).
 *
 * Labels k=v (see "Labels" below) are upload labels on the tables that carry them (gc_cycles,
 * runtime_metrics: exact match), and on the profile tables also pprof sample labels:
 * - stacks: the rows of the profiles and samples the labels select (exact);
 * - profiles: every profile some of whose samples may be selected (upload label k=v, or no upload
 *   label k at all): the cohort's files, whose totals pprof divides by;
 * - functions: profiles whose upload labels match. Per-profile rows cannot select samples, so this
 *   is exact only when `needsSampleLabels` says no; top and diff read stacks otherwise.
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
  Object.entries(c.labels ?? {}).forEach(([k, v], i) => {
    const [lk, lv] = [`$${p}lk${i}`, `$${p}lv${i}`];
    params[`${p}lk${i}`] = k;
    params[`${p}lv${i}`] = v;
    const uploadMatches = `profile_id IN (SELECT profile_id FROM profiles WHERE labels[${lk}] = ${lv})`;
    if (hasColumn(table, 'sample_labels')) {
      parts.push(
        `(${a}${uploadMatches} OR (${a}sample_labels[${lk}] = ${lv} AND ${a}profile_id IN (SELECT profile_id FROM profiles WHERE NOT map_contains(labels, ${lk}))))`,
      );
    } else if (table === 'profiles') {
      parts.push(`(${a}labels[${lk}] = ${lv} OR NOT map_contains(${a}labels, ${lk}))`);
    } else if (hasColumn(table, 'labels')) {
      parts.push(`${a}labels[${lk}] = ${lv}`);
    } else {
      parts.push(`${a}${uploadMatches}`);
    }
  });
  return { sql: parts.length === 0 ? 'true' : parts.join(' AND '), params };
}

// Labels: upload labels (the profiles table's `labels`) and pprof sample labels (the stacks
// table's `sample_labels`, from pprof.Do / SetGoroutineLabels) are matched by one rule, per label
// k=v: a profile whose upload labels carry k matches as a whole when its value is v (and not at all
// otherwise); in a profile without k, each sample matches when its own label k is v. On the
// profiles without k that is `go tool pprof -tagfocus=k=^v$`: exact string equality, not pprof's
// unanchored regexp (so `-tagfocus=k=v` is the same filter whenever no other value of k contains
// v, v has no regexp syntax and is not a number, which pprof reads as a numeric-label range; see
// docs/cli.md). Several labels must all match. Numeric labels are not matched.

/**
 * Whether the cohort's labels need the stacks table: some profile of the cohort lacks one of the
 * label keys in its upload labels, so its samples' labels decide. Otherwise the upload labels
 * alone decide and the per-profile functions rows answer exactly (and faster).
 */
export async function needsSampleLabels(engine: { rows(sql: string, params?: SqlParams): Promise<Record<string, unknown>[]> }, c: Cohort): Promise<boolean> {
  const keys = Object.keys(c.labels ?? {});
  if (keys.length === 0) return false;
  const base = cohortPredicate({ ...c, labels: undefined }, 'profiles');
  const params: SqlParams = { ...base.params };
  const has = keys.map((k, i) => {
    params[`nk${i}`] = k;
    return `map_contains(labels, $nk${i})`;
  });
  const rows = await engine.rows(`SELECT count(*) AS n FROM profiles WHERE ${base.sql} AND NOT (${has.join(' AND ')})`, params);
  return Number(rows[0]?.n ?? 0) > 0;
}
