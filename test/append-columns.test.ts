// The appender's column buffers (lib/store/append.ts) write JS values straight into DuckDB's vector
// memory. Every value kind they take must read back exactly as written, across data chunks, with
// NULLs in lists and maps, and bad values must fail naming the column, as node-api's vectors did.
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { appendTable, type AppendColumn } from '../lib/store/append';
import { T } from '../lib/model/schema';
import { openDuckDb } from '../lib/store/parquet';

type Row = Record<string, unknown>;

let instance: DuckDBInstance;
let conn: DuckDBConnection;
beforeAll(async () => {
  instance = await openDuckDb({ threads: 1 });
  conn = await instance.connect();
});
afterAll(() => {
  conn.closeSync();
  instance.closeSync();
});

const col = (name: string, type: AppendColumn<Row>['type']): AppendColumn<Row> => ({ name, type, get: (r) => r[name] });

const COLUMNS = [
  col('i', T.integer),
  col('d', T.double),
  col('b', T.bigint),
  col('t', T.timestamp),
  col('f', T.boolean),
  col('s', T.varchar),
  col('li', T.list(T.integer)),
  col('lb', T.list(T.bigint)),
  col('ld', T.list(T.double)),
  col('ls', T.list(T.varchar)),
  col('lf', T.list(T.boolean)),
  col('ms', T.map(T.varchar, T.varchar)),
  col('mb', T.map(T.varchar, T.bigint)),
];

const EDGE_INT64: readonly (number | bigint)[] = [0, -1, 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, -(2 ** 32), 2 ** 53 - 1, -(2 ** 53 - 1), 2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 2 ** 60];

/** Row k: every column's value depends on k; some rows hold NULLs, empty lists and empty maps. */
function row(k: number): Row {
  const big = EDGE_INT64[k % EDGE_INT64.length];
  const nul = k % 7 === 3;
  return {
    i: nul ? null : k % 2 === 0 ? k : -k,
    d: nul ? null : [k / 3, -0, Infinity, -Infinity, NaN][k % 5],
    b: big,
    t: nul ? undefined : 1_700_000_000_000_000 + k,
    f: nul ? null : k % 3 === 0,
    s: nul ? null : k % 5 === 0 ? '' : `s${k}\u0000é${'x'.repeat(k % 20)}`,
    li: nul ? null : Array.from({ length: k % 4 }, (_, j) => (j === 1 ? null : k * 10 + j)),
    lb: nul ? null : [big, k % 2 === 0 ? null : -k, 2n ** 62n],
    ld: k % 6 === 0 ? [] : [k + 0.5, NaN, null],
    ls: nul ? null : [`a${k}`, null, ''],
    lf: [k % 2 === 0, null],
    ms: nul ? null : k % 4 === 0 ? {} : k % 4 === 1 ? new Map([['k', `v${k}`], ['z', '']]) : { a: `${k}`, b: 'b' },
    mb: k % 5 === 0 ? new Map() : { n: k % 2 === 0 ? 2n ** 60n : k },
  };
}

/** The values as DuckDB gives them back (JS form), to compare against. */
function expected(r: Row): Row {
  const i64 = (v: unknown) => (v == null ? null : BigInt(v as number | bigint));
  const map = (m: unknown, f: (x: unknown) => unknown) =>
    m == null ? null : [...(m instanceof Map ? m.entries() : Object.entries(m as object))].map(([key, value]) => ({ key, value: f(value) }));
  return {
    ...r,
    b: i64(r.b),
    t: i64(r.t),
    lb: (r.lb as unknown[] | null)?.map(i64) ?? null,
    ms: map(r.ms, (x) => x),
    mb: map(r.mb, i64),
  };
}

test('every column kind reads back exactly, over several data chunks', async () => {
  const rows = Array.from({ length: 5000 }, (_, k) => row(k));
  // Two parts, so the part index is passed through too.
  const parts = [rows.slice(0, 2100), rows.slice(2100)];
  const n = await appendTable(conn, 'append_all', [...COLUMNS, { name: 'p', type: T.integer, get: (_r: Row, p: number) => p }], parts);
  expect(n).toBe(rows.length);
  const reader = await conn.runAndReadAll(
    `SELECT i, d, b, t, f, s, li, lb, ld, ls, lf, ms, mb, p FROM temp.main.append_all ORDER BY rowid`,
  );
  const got = reader.getRowObjectsJS();
  expect(got.length).toBe(rows.length);
  const entries = (m: unknown) => (m == null ? null : (m as { key: unknown; value: unknown }[]).map((e) => ({ key: e.key, value: e.value })));
  const norm = (v: unknown): unknown => (Array.isArray(v) ? v.map(norm) : v === undefined ? null : v);
  const cols = Object.keys(expected(rows[0]));
  const want = rows.map((r, k) => [...cols.map((c) => norm(expected(r)[c])), k < 2100 ? 0 : 1]);
  const seen = (got as Row[]).map((g) => [...cols.map((c) => norm(c === 'ms' || c === 'mb' ? entries(g[c]) : g[c])), g.p]);
  expect(seen).toEqual(want);
  // toEqual does not tell -0 from 0.
  expect(Object.is((got[1] as Row).d, -0)).toBe(true);
  await conn.run('DROP TABLE temp.main.append_all');
});

test('strings repeated within and across data chunks read back exactly (a chunk copies each distinct string once)', async () => {
  // Long (out of line in DuckDB) and short (inline) strings, equal strings as different JS
  // objects, NULLs between repeats, and the same strings inside lists.
  const pool = ['', 'go', 'runtime.mallocgc', 'github.com/acme/svc/internal/handler.(*Server).ServeHTTP', 'é\u0000x'.repeat(9), '\ud83d\ude00 twelve bytes!'];
  const at = (k: number) => (k % 11 === 4 ? null : [...pool[(k * 7) % pool.length]].join(''));
  const rows = Array.from({ length: 4500 }, (_, k) => ({ s: at(k), ls: k % 9 === 0 ? null : [at(k + 1), at(k + 2), at(k + 1)] }));
  await appendTable(conn, 'append_repeats', [col('s', T.varchar), col('ls', T.list(T.varchar))], [rows.slice(0, 3000), rows.slice(3000)]);
  const got = (await conn.runAndReadAll('SELECT s, ls FROM temp.main.append_repeats ORDER BY rowid')).getRowObjectsJS();
  expect(got).toEqual(rows);
  await conn.run('DROP TABLE temp.main.append_repeats');
});

test('a value that does not fit its column fails naming the column', async () => {
  const one = async (type: AppendColumn<Row>['type'], v: unknown) => appendTable(conn, 'append_bad', [col('x', type)], [[{ x: v }]]);
  await expect(one(T.integer, 1.5)).rejects.toThrow(/column x: number is not an integer/);
  await expect(one(T.integer, 2 ** 31)).rejects.toThrow(/column x: number out of int32 range/);
  await expect(one(T.bigint, 2n ** 63n)).rejects.toThrow(/column x: bigint out of int64 range/);
  await expect(one(T.bigint, 0.5)).rejects.toThrow(/column x: .*BigInt/);
  await expect(one(T.list(T.bigint), [1, 2 ** 70])).rejects.toThrow(/column x: bigint out of int64 range/);
  await expect(one(T.list(T.integer), 'abc')).rejects.toThrow(/column x: not a list/);
  await expect(one(T.map(T.varchar, T.varchar), 'abc')).rejects.toThrow(/column x: not a map/);
});
