// The SQL sandbox of the query API (POST /sql): escape attempts each get a 400 with a reason,
// nothing from the filesystem, the environment or the settings leaks, a runaway query is
// interrupted, a huge result is refused, and legitimate SELECTs still work.
import { handleApiRequest, type ApiDeps } from '../lib/api/router';
import { openEngine } from '../lib/query/open';
import { checkBoundPlan } from '../lib/query/sql-plan';
import { LocalStore } from '../lib/store/local';
import { aim, leaks, loadAttacks, makeTarget, type Target } from './security/corpus';

let t: Target;
let deps: ApiDeps;
const ATTACKS = loadAttacks();

beforeAll(async () => {
  t = await makeTarget();
  const store = new LocalStore(t.data);
  deps = { openEngine: (f) => openEngine(store, f, [t.data]), sqlLimits: { timeoutMs: 1500, maxRows: 1000 } };
});

afterAll(() => t.cleanup());

const post = (sql: string) => handleApiRequest({ method: 'POST', path: '/sql', query: '', body: JSON.stringify({ sql }) }, deps);

describe('the attack corpus (test/security/sql-attacks.json) -> 400 with a reason, nothing leaks', () => {
  test.each(ATTACKS.map((a) => [`${a.class}: ${a.name}`, a] as const))('%s', async (_name, a) => {
    const sql = aim(a, t);
    const r = await post(sql);
    expect(r.status).toBe(400);
    const body = JSON.parse(r.body as string) as { error: string };
    expect(body.error.length).toBeGreaterThan(5);
    if (a.reason) expect(body.error).toMatch(new RegExp(a.reason));
    expect(leaks(r.body as string, sql, t.data)).toBeUndefined();
  });
  test('it covers every class the red team found, and grows', () => {
    expect(new Set(ATTACKS.map((a) => a.class))).toEqual(
      new Set(['original', 'cte-shadowing', 'catalog', 'plan-serialize', 'glob-filename', 'replacement-scan', 'describe-summarize', 'lambda-macro', 'spelling', 'settings-env', 'statements', 'network']),
    );
    expect(ATTACKS.length).toBeGreaterThanOrEqual(230);
  });
});

// Safe by construction: with the parsed-text guard out of the way, the engine and the bound-plan
// allowlist alone still let nothing out. Whatever the plan layer lets through is run directly.
describe('the bound-plan layer alone holds (no text guard)', () => {
  test.each(ATTACKS.map((a) => [`${a.class}: ${a.name}`, a] as const))('%s', async (_name, a) => {
    const sql = aim(a, t);
    const engine = await openEngine(new LocalStore(t.data), {}, [t.data]);
    try {
      let answer: string;
      try {
        const plan = await engine.conn.runAndReadAll('SELECT json_serialize_plan($q::VARCHAR)', { q: sql });
        const check = checkBoundPlan(String(plan.getRowsJS()[0][0]), engine.files);
        answer = check.ok ? JSON.stringify((await engine.conn.runAndReadAll(sql)).getRowsJS(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) : String(check.reason);
      } catch (e) {
        answer = (e as Error).message;
      }
      expect(leaks(answer, sql, t.data)).toBeUndefined();
    } finally {
      engine.close();
    }
  });
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
