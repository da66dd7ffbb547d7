// The CLI contract end to end on the local store: ingest is idempotent, sql is read-only with
// exact integers, the progress summary and exit codes are what scripts rely on.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const RUN = path.join(__dirname, 'fixtures/go/svc-a-v1-i1');

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let data: string;
// `npm test` builds dist/ before jest runs.
beforeAll(() => {
  data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-cli-'));
});
afterAll(() => rmSync(data, { recursive: true, force: true }));

const ingest = () =>
  cli(['ingest', '--data', data, '--service', 'svc-a', '--instance', 'i1', '--version', 'v1', '--label', 'region=eu', path.join(RUN, 'cpu.pb.gz'), path.join(RUN, 'mutex.pb.gz')]);
const sqlJson = (q: string) => JSON.parse(cli(['sql', '--data', data, '--json', q]).stdout) as { columns: string[]; rows: unknown[][] };

test('ingest prints a summary and exits 0 when every input was ingested', () => {
  const r = ingest();
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/ingested 2 of 2 inputs \(0 failed/);
});

test('re-ingesting the same sources replaces rows, never duplicates them', () => {
  const count = () => sqlJson('SELECT (SELECT count(*) FROM profiles), (SELECT count(*) FROM functions), (SELECT count(*) FROM stacks)').rows[0];
  const before = count();
  expect(ingest().code).toBe(0);
  expect(count()).toEqual(before);
  expect(before[0]).toBe(2);
});

test('layout v2: fresh batch files per dt and UTC hour, one per ingest call', () => {
  const dir = path.join(data, 'fresh', 'functions');
  const dts = readdirSync(dir);
  expect(dts.every((d) => /^dt=\d{4}-\d{2}-\d{2}$/.test(d))).toBe(true);
  const hours = readdirSync(path.join(dir, dts[0]));
  expect(hours.every((h) => /^hour=\d{2}$/.test(h))).toBe(true);
  const files = readdirSync(path.join(dir, dts[0], hours[0]));
  expect(files.every((f) => /^b[0-9a-z]{21}\.parquet$/.test(f))).toBe(true);
});

test('sql --json: columns and rows, labels queryable, BIGINT beyond 2^53 as a string', () => {
  const r = sqlJson("SELECT kind, labels['region'] AS region, 9007199254740993::BIGINT AS big, 42::BIGINT AS small FROM profiles ORDER BY kind");
  expect(r.columns).toEqual(['kind', 'region', 'big', 'small']);
  expect(r.rows).toEqual([
    ['cpu', 'eu', '9007199254740993', 42],
    ['mutex', 'eu', '9007199254740993', 42],
  ]);
});

test.each([
  ["SELECT * FROM read_csv('/etc/passwd')", /not allowed|disabled|Permission/i],
  ["COPY profiles TO '/tmp/x.csv'", /only SELECT|disabled|Permission/i],
  ['SELECT 1; SELECT 2', /exactly one statement/],
  ['SET threads = 1', /only SELECT|locked/i],
  ["ATTACH '/tmp/x.db'", /only SELECT|disabled|Permission/i],
])('sql refuses %s', (q, why) => {
  const r = cli(['sql', '--data', data, q]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(why);
});

test('top --json has the documented shape and exact integers', () => {
  const r = cli(['top', '--data', data, '--type', 'mutex', '--json', '--limit', '2']);
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(Object.keys(j)).toEqual(['type', 'sampleType', 'unit', 'total', 'functions']);
  expect(j).toMatchObject({ type: 'mutex', sampleType: 'delay', unit: 'nanoseconds' });
  expect(j.functions).toHaveLength(2);
  expect(Object.keys(j.functions[0])).toEqual(['name', 'flat', 'cum']);
  expect(Number.isInteger(j.total)).toBe(true);
});

test('top filters: --label, --from/--to half-open on capture time', () => {
  const t = sqlJson("SELECT strftime(time, '%Y-%m-%dT%H:%M:%S.%f') || 'Z' FROM profiles WHERE kind = 'cpu'").rows[0][0] as string;
  const total = (args: string[]) => JSON.parse(cli(['top', '--data', data, '--type', 'cpu', '--json', ...args]).stdout).total;
  expect(total([])).toBeGreaterThan(0);
  expect(total(['--label', 'region=us'])).toBe(0);
  expect(total(['--label', 'region=eu'])).toBeGreaterThan(0);
  expect(total(['--from', t])).toBeGreaterThan(0);
  expect(total(['--to', t])).toBe(0);
});
