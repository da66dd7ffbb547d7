// Grammar fuzzing of the SQL sandbox: fast-check composes queries from fragments that reach for
// everything the sandbox must keep out (catalog views under every spelling, quoted paths and globs,
// file readers, SQL-text functions, settings), wrapped in CTEs that shadow them, subqueries,
// lateral joins, unions and scalar subqueries, in mixed case and quoting, beside fragments that
// are allowed. Whatever comes out, the answer is a refusal or rows that leak nothing (no canary
// from the files beside the tables or outside them, no data directory path from settings or
// view definitions), and the bound-plan layer alone (without the text guard) never lets a leaking
// query through either. Bounded in time for CI (test/helpers/fuzz-budget.ts): at least
// FUZZ_SQL_FLOOR queries (default 150), then on until FUZZ_SQL_MS (default 20 s) is spent; the
// number of queries is printed. FUZZ_SEED varies the seed.
import fc from 'fast-check';
import { openEngine } from '../lib/query/open';
import type { QueryEngine } from '../lib/query/engine';
import { runReadOnlySql } from '../lib/query/sql';
import { checkBoundPlan } from '../lib/query/sql-plan';
import { LocalStore } from '../lib/store/local';
import { leaks, makeTarget, type Target } from './security/corpus';
import { fuzz, fuzzBudget } from './helpers/fuzz-budget';

const BUDGET = fuzzBudget({ seed: 20261202, budgetMs: 20_000, floor: 150 }, { ms: 'FUZZ_SQL_MS', floor: 'FUZZ_SQL_FLOOR' });

let t: Target;
let engine: QueryEngine;

beforeAll(async () => {
  t = await makeTarget();
  engine = await openEngine(new LocalStore(t.data), {}, [t.data]);
});
afterAll(() => {
  engine?.close();
  t?.cleanup();
});

/** Identifier spellings DuckDB resolves alike: as is, upper case, double-quoted. */
const spell = (name: string) => fc.constantFrom(name, name.toUpperCase(), `"${name}"`, `main.${name}`);

const relationName = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom('profiles', 'functions', 'stacks', 'gc_cycles', 'runtime_metrics').chain(spell),
    fc.constantFrom('pg_settings', 'duckdb_views', 'sqlite_master', 'pg_views', 'duckdb_settings', 'duckdb_tables', 'sqlite_schema', 'pg_class').chain(spell),
    fc.constantFrom('information_schema.tables', 'pg_catalog.pg_settings', 'system.main.duckdb_settings', 'memory.main.profiles'),
    fc.constantFrom('x.csv', 'x.json', '*.csv', '**/*.parquet', 'profiles/**/*.parquet', '../').map((f) => `"${t.data}/${f}"`),
    fc.constantFrom(`'${t.data}/x.csv'`, `'${t.outside}/secret.csv'`, `'${t.outside}/x.parquet'`, "'/etc/passwd'"),
  );

const tableFunction = (): fc.Arbitrary<string> =>
  fc.constantFrom(
    'range(3)',
    'generate_series(1, 3)',
    'unnest([1, 2])',
    `read_csv('${t.data}/x.csv')`,
    `read_csv_auto('${t.data}/*.csv', filename = true)`,
    `read_json_auto('${t.data}/x.json')`,
    `read_text('${t.data}/x.csv')`,
    `read_parquet('${t.data}/**/*.parquet', filename = true)`,
    `glob('${t.data}/*')`,
    'duckdb_settings()',
    'duckdb_views()',
    'pragma_database_list()',
    "query('SELECT * FROM pg_settings')",
    "query_table('duckdb_settings')",
    "json_execute_serialized_sql(json_serialize_sql('SELECT * FROM duckdb_settings()'))",
  );

const scalar = (): fc.Arbitrary<string> =>
  fc.constantFrom(
    '1',
    "'a'",
    "lower('X')",
    "current_setting('allowed_paths')",
    "current_setting('temp_directory')",
    "getenv('FLEETPROF_SANDBOX_CANARY')",
    "json_serialize_plan('SELECT * FROM duckdb_settings()')",
    "json_serialize_plan('SELECT * FROM \"" + '{data}' + "/x.csv\"')",
    "getvariable('x')",
    "pg_get_viewdef('profiles')",
    'version()',
  ).map((s) => s.replace('{data}', t.data));

/** A query: SELECT <scalar or *> FROM <relation>, wrapped 0-3 times. */
const query = (): fc.Arbitrary<string> =>
  fc.letrec<{ q: string }>((tie) => ({
  q: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.oneof(fc.constant('*'), scalar()), fc.oneof(relationName(), tableFunction())).map(([s, r]) => `SELECT ${s} FROM ${r}`),
    scalar().map((s) => `SELECT ${s}`),
    fc.tuple(relationName(), tie('q')).map(([name, inner]) => `WITH ${name.replace(/^main\./, '')} AS (${inner}) SELECT * FROM ${name.replace(/^main\./, '')}`),
    fc.tuple(relationName(), tie('q')).map(([name, inner]) => `WITH ${name.replace(/^main\./, '')} AS MATERIALIZED (${inner}) SELECT * FROM ${name}`),
    tie('q').map((inner) => `SELECT * FROM (${inner}) sub`),
    tie('q').map((inner) => `SELECT (SELECT count(*) FROM (${inner}))`),
    fc.tuple(tie('q'), tie('q')).map(([a, b]) => `SELECT * FROM (${a}) l, LATERAL (${b}) r`),
    fc.tuple(tie('q'), tie('q')).map(([a, b]) => `(${a}) UNION ALL BY NAME (${b})`),
    tie('q').map((inner) => `SELECT 1 WHERE EXISTS (${inner})`),
    tie('q').map((inner) => `FROM (${inner}) SELECT *`),
  ),
})).q;

function safeJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x));
}

test(`fuzzed queries never leak (${BUDGET.budgetMs} ms and at least ${BUDGET.floor} queries, seed ${BUDGET.seed})`, async () => {
  const stats = { accepted: 0, refused: 0, planAccepted: 0 };
  const runs = await fuzz(
    'SQL sandbox',
    fc.asyncProperty(query(), async (sql) => {
      // The whole sandbox.
      let answer: string;
      try {
        answer = safeJson(await runReadOnlySql(engine, sql, { timeoutMs: 2000, maxRows: 100, maxBytes: 100_000 }));
        stats.accepted++;
      } catch (e) {
        answer = (e as Error).message;
        stats.refused++;
      }
      const leak = leaks(answer, sql, t.data);
      if (leak) throw new Error(`sandbox leaked ${leak}: ${sql}`);
      // The bound-plan layer alone.
      try {
        const plan = await engine.conn.runAndReadAll('SELECT json_serialize_plan($q::VARCHAR)', { q: sql });
        if (checkBoundPlan(String(plan.getRowsJS()[0][0]), engine.files).ok) {
          stats.planAccepted++;
          const rows = safeJson((await engine.conn.runAndReadAll(`SELECT * FROM (${sql}) LIMIT 100`)).getRowsJS());
          const planLeak = leaks(rows, sql, t.data);
          if (planLeak) throw new Error(`plan layer let through a query that leaks ${planLeak}: ${sql}`);
        }
      } catch (e) {
        if (/leak/.test((e as Error).message)) throw e;
      }
    }),
    BUDGET,
  );
  process.stderr.write(`sql fuzz: ${JSON.stringify(stats)}\n`);
  expect(runs).toBeGreaterThanOrEqual(BUDGET.floor);
  // The generator reaches both sides of the line.
  expect(stats.accepted).toBeGreaterThan(0);
  expect(stats.refused).toBeGreaterThan(stats.accepted);
}, BUDGET.budgetMs + 120_000);
