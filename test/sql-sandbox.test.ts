// The SQL sandbox of the query API (POST /sql): escape attempts each get a 400 with a reason,
// nothing from the filesystem, the environment or the settings leaks, a runaway query is
// interrupted, a huge result is refused, and legitimate SELECTs still work.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { handleApiRequest, type ApiDeps } from '../lib/api/router';
import { ingestBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { openEngine } from '../lib/query/open';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';

const CANARY = 'fleetprof-canary-9f3c1d';
let data: string;
let outside: string;
let deps: ApiDeps;

beforeAll(async () => {
  process.env.FLEETPROF_SANDBOX_CANARY = CANARY;
  data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-sbx-'));
  outside = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-outside-'));
  writeFileSync(path.join(outside, 'secret.csv'), `secret\n${CANARY}\n`);
  const store = new LocalStore(data);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  const bytes = readFileSync(path.join(__dirname, 'fixtures/go/svc-a-v1-i1/cpu.pb.gz'));
  await ingestBytes(bytes, parseSourceMeta({ service: 'svc-a', instance: 'i1', version: 'v1', source: 'cpu', sourceId: 'cpu' }), { store, writer });
  writer.close();
  instance.closeSync();
  // A Parquet file outside the data directory, to read_parquet from.
  const i2 = await openDuckDb();
  const c = await i2.connect();
  await c.run(`COPY (SELECT '${CANARY}' AS s) TO '${path.join(outside, 'x.parquet')}' (FORMAT parquet)`);
  c.closeSync();
  i2.closeSync();
  deps = { openEngine: (f) => openEngine(store, f, [data]), sqlLimits: { timeoutMs: 1500, maxRows: 1000 } };
});

afterAll(() => {
  rmSync(data, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
  delete process.env.FLEETPROF_SANDBOX_CANARY;
});

const post = (sql: string) => handleApiRequest({ method: 'POST', path: '/sql', query: '', body: JSON.stringify({ sql }) }, deps);

const file = () => path.join(data, 'profiles');
const ESCAPES: [string, string | (() => string), RegExp?][] = [
  ['read_text of /proc/self/environ', "SELECT * FROM read_text('/proc/self/environ')", /read_text/],
  ['read_csv of /etc/passwd', "SELECT * FROM read_csv('/etc/passwd')", /read_csv/],
  ['read_parquet outside the data dir', () => `SELECT * FROM read_parquet('${path.join(outside, 'x.parquet')}')`],
  ['read_parquet via ../ from the data dir', () => `SELECT * FROM read_parquet('${data}/../${path.basename(outside)}/x.parquet')`],
  ['read_csv_auto of a file outside', () => `SELECT * FROM read_csv_auto('${path.join(outside, 'secret.csv')}')`],
  ['file path as a table', () => `SELECT * FROM '${path.join(outside, 'x.parquet')}'`, /not allowed/],
  ['FROM-first syntax', "FROM read_text('/etc/passwd')"],
  ['glob of /', "SELECT * FROM glob('/*')", /glob/],
  ['glob inside the data dir (paths are not for users either)', () => `SELECT * FROM glob('${file()}/**')`],
  ['parquet_metadata', () => `SELECT * FROM parquet_metadata('${file()}/x.parquet')`],
  ['sniff_csv', "SELECT * FROM sniff_csv('/etc/passwd')"],
  ['COPY ... TO', "COPY (SELECT * FROM profiles) TO '/tmp/fleetprof-leak.csv'", /SELECT/],
  ['COPY ... FROM', "COPY profiles FROM '/etc/passwd'"],
  ['ATTACH', "ATTACH '/tmp/fleetprof-leak.db' AS leak"],
  ['DETACH', 'DETACH memory'],
  ['INSTALL', 'INSTALL httpfs'],
  ['LOAD', 'LOAD httpfs'],
  ['SET a setting', 'SET enable_external_access = true'],
  ['RESET lock_configuration', 'RESET lock_configuration'],
  ['PRAGMA', 'PRAGMA database_list'],
  ['getenv', "SELECT getenv('FLEETPROF_SANDBOX_CANARY')"],
  ['current_setting', "SELECT current_setting('allowed_directories')", /current_setting/],
  ['duckdb_settings()', 'SELECT * FROM duckdb_settings()', /duckdb_settings/],
  ['duckdb_settings as a table', 'SELECT * FROM duckdb_settings', /not allowed/],
  ['system.main.duckdb_settings()', 'SELECT * FROM system.main.duckdb_settings()'],
  ['duckdb_secrets()', 'SELECT * FROM duckdb_secrets()'],
  ['duckdb_extensions in a scalar subquery', 'SELECT (SELECT count(*) FROM duckdb_extensions())'],
  ['information_schema', 'SELECT * FROM information_schema.tables', /not allowed/],
  ['pg_catalog', 'SELECT * FROM pg_catalog.pg_settings'],
  ['query() runs SQL text', "SELECT * FROM query('SELECT 1')"],
  ['stacked statements', 'SELECT 1; SELECT 2', /exactly one statement/],
  ['stacked DROP after a SELECT', 'SELECT 1; DROP VIEW profiles', /exactly one statement/],
  ['comment hides a second statement', 'SELECT 1 /* ; */; DROP VIEW profiles --'],
  ['casing and comments around read_text', "/* hi */ sElEcT * FrOm ReAd_TeXt('/etc/hostname') -- bye"],
  ['quoted function name', `SELECT * FROM "read_text"('/etc/passwd')`],
  ['read_text in a CTE', "WITH x AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM x"],
  ['read_text in a lateral join', "SELECT * FROM profiles, LATERAL (SELECT * FROM read_text('/etc/passwd'))"],
  ['CALL', 'CALL duckdb_settings()'],
  ['EXPORT DATABASE', "EXPORT DATABASE '/tmp/fleetprof-export'"],
  ['CREATE TABLE', 'CREATE TABLE t AS SELECT 1', /SELECT/],
  ['CREATE MACRO', 'CREATE MACRO m(x) AS x'],
  ['DROP VIEW', 'DROP VIEW profiles'],
  ['INSERT', 'INSERT INTO profiles SELECT * FROM profiles'],
  ['UPDATE', "UPDATE profiles SET service = 'x'"],
  ['DELETE', 'DELETE FROM profiles'],
  ['SET VARIABLE', "SET VARIABLE x = 'y'"],
  ['CHECKPOINT', 'CHECKPOINT'],
  ['VACUUM', 'VACUUM'],
  ['USE', 'USE system'],
  ['not SQL at all', 'rm -rf /'],
];

describe('escape attempts -> 400 with a reason, nothing leaks', () => {
  // Every row gets all three arguments: with fewer, jest would pass its `done` callback as `reason`.
  test.each(ESCAPES.map(([n, s, r]) => [n, s, r ?? null] as const))('%s', async (_name, sql, reason) => {
    const r = await post(typeof sql === 'function' ? sql() : sql);
    expect(r.status).toBe(400);
    const body = JSON.parse(r.body as string) as { error: string };
    expect(body.error.length).toBeGreaterThan(5);
    if (reason) expect(body.error).toMatch(reason);
    expect(r.body).not.toContain(CANARY);
    expect(r.body).not.toMatch(/root:x:0:0/);
  });
  test('there are at least 20 of them', () => expect(ESCAPES.length).toBeGreaterThanOrEqual(20));
});

test('a huge cross join is interrupted by the time limit', async () => {
  const t0 = Date.now();
  const r = await post('SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000000000) b');
  expect(r.status).toBe(400);
  expect(JSON.parse(r.body as string).error).toMatch(/time limit/);
  expect(Date.now() - t0).toBeLessThan(10_000);
});

test('a result over the row limit is refused and asks for a LIMIT', async () => {
  const r = await post('SELECT * FROM range(5000)');
  expect(r.status).toBe(400);
  expect(JSON.parse(r.body as string).error).toMatch(/more than 1000 rows; add a LIMIT/);
});

test('the engine is still usable after rejections (views intact, settings locked)', async () => {
  const r = await post("SELECT count(*) AS n FROM profiles WHERE service = 'svc-a'");
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body as string)).toEqual({ columns: ['n'], rows: [[1]] });
});

describe('legitimate SELECTs work', () => {
  test.each([
    ['aggregate over a table', "SELECT function, SUM(flat) AS flat FROM functions WHERE kind = 'cpu' GROUP BY ALL ORDER BY flat DESC LIMIT 3", 3],
    ['CTE and join', 'WITH p AS (SELECT profile_id FROM profiles) SELECT count(*) FROM functions f JOIN p USING (profile_id)', 1],
    ['range() and unnest()', 'SELECT r.range, unnest([1, 2]) FROM range(2) r', 4],
    ['scalar functions', "SELECT lower('A'), regexp_replace('a.b', '\\.', '/'), epoch_us(TIMESTAMP '2026-11-21')", 1],
    ['lowercase keywords and comments', '-- top\nselect count(*) from stacks /* all */', 1],
    ['a trailing semicolon', 'SELECT 1;', 1],
  ])('%s', async (_n, sql, rows) => {
    const r = await post(sql as string);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body as string) as { columns: string[]; rows: unknown[][] };
    expect(body.rows).toHaveLength(rows as number);
  });
});

test('bad request bodies -> 400', async () => {
  for (const body of ['', 'not json', '{"sql": 1}', '{}', '{"sql": ""}']) {
    const r = await handleApiRequest({ method: 'POST', path: '/sql', query: '', body }, deps);
    expect(r.status).toBe(400);
  }
  expect((await handleApiRequest({ method: 'GET', path: '/sql', query: '' }, deps)).status).toBe(405);
  expect((await handleApiRequest({ method: 'GET', path: '/nope', query: '' }, deps)).status).toBe(404);
  expect((await handleApiRequest({ method: 'GET', path: '/top', query: 'type=cpu&evil=1' }, deps)).status).toBe(400);
  expect((await handleApiRequest({ method: 'GET', path: '/top', query: 'type=cpu&from=yesterday' }, deps)).status).toBe(400);
});
