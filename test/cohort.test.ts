import { cohortPredicate, partitionFilter } from '../lib/query/cohort';
import { keyMatches, parseKey } from '../lib/store/layout';

// The one cohort filter: the partition filter and the SQL predicate every query builds from it.

const DAY_US = 86_400_000_000;
const T0 = Date.UTC(2026, 10, 20) * 1000;

describe('partitionFilter', () => {
  it('covers every cohort it is given (diff sides, flame baseline)', () => {
    expect(partitionFilter({ service: 'api', fromUs: T0, toUs: T0 + DAY_US }, { service: 'api', fromUs: T0 - DAY_US, toUs: T0 + 1 })).toEqual({
      service: 'api',
      fromUs: T0 - DAY_US,
      toUs: T0 + DAY_US,
    });
  });
  it('drops a bound one side leaves open, and the service when the sides differ', () => {
    expect(partitionFilter({ service: 'api', fromUs: T0 }, { service: 'web', fromUs: T0, toUs: T0 + 1 })).toEqual({ service: undefined, fromUs: T0, toUs: undefined });
  });
});

describe('cohortPredicate', () => {
  const c = { kind: 'cpu' as const, service: 'api', version: 'v2', labels: { region: 'eu' }, fromUs: T0, toUs: T0 + DAY_US };
  it('matches the labels column on tables that have one', () => {
    const p = cohortPredicate(c, 'profiles', { alias: 'p' });
    expect(p.sql).toContain('p.labels[$lk0] = $lv0');
    expect(p.sql).not.toContain('profile_id IN');
    expect(p.params).toMatchObject({ kind: 'cpu', service: 'api', version: 'v2', lk0: 'region', lv0: 'eu', from_dt: '2026-11-20', to_dt: '2026-11-20' });
  });
  it('restricts tables without labels to the profile ids of the cohort', () => {
    const p = cohortPredicate(c, 'stacks', { alias: 's' });
    expect(p.sql).toContain('s.kind = $kind');
    expect(p.sql).toContain('s.profile_id IN (SELECT profile_id FROM profiles WHERE');
    expect(p.sql).toContain('labels[$lk0] = $lv0');
  });
  it('prefixes parameters so two cohorts can share a statement', () => {
    const p = cohortPredicate(c, 'functions', { prefix: 'b_' });
    expect(Object.keys(p.params).every((k) => k.startsWith('b_'))).toBe(true);
    expect(p.sql).not.toMatch(/\$(?!b_)/);
  });
  it('refuses a kind on a table without one', () => {
    expect(() => cohortPredicate(c, 'gc_cycles')).toThrow(/gc_cycles has no profile kind/);
    expect(cohortPredicate({ service: 'api' }, 'gc_cycles').sql).toBe('service = $service');
    expect(cohortPredicate({}, 'gc_cycles').sql).toBe('true');
  });
});

describe('Store keys (layout v2)', () => {
  it('are parsed in one place', () => {
    expect(parseKey('fresh/stacks/dt=2026-11-20/hour=07/b0abc.parquet')).toEqual({ tier: 'fresh', table: 'stacks', dt: '2026-11-20', hour: 7, name: 'b0abc.parquet' });
    expect(parseKey('stacks/dt=2026-11-20/h07-abc.parquet')).toEqual({ tier: 'compacted', table: 'stacks', dt: '2026-11-20', name: 'h07-abc.parquet' });
    expect(parseKey('stacks/abc.parquet')).toBeNull();
    expect(parseKey('stacks/dt=2026-11-20/service=api/abc.parquet')).toBeNull();
    // service is a column now: keys prune by dt only
    expect(keyMatches('fresh/stacks/dt=2026-11-20/hour=00/b.parquet', { service: 'api', fromUs: T0, toUs: T0 + 1 })).toBe(true);
    expect(keyMatches('stacks/dt=2026-11-21/day-x.parquet', { fromUs: T0, toUs: T0 + DAY_US })).toBe(false);
  });
});
