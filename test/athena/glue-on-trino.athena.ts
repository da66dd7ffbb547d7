// `npm run test:athena` (opt-in: a JVM, ~800 MB of Trino once, a minute to start): the Glue tables
// exactly as `cdk synth` defines them, run on Trino 476 (the engine of Athena engine version 3) over
// the Parquet fleetprof wrote, compared with fleetprof's own answers on the same store.
//
// The data: the repo's Go fixtures (test/fixtures/go; every kind, gctrace) plus edge rows (the last
// microsecond of a day, half a millisecond past a whole one, the first accepted day), ingested
// with `fleetprof ingest` into the fresh tier, copied into a moto bucket under tables/ as the
// ingest Lambda would have written them, then compacted there by `fleetprof compact --bucket`
// (the scheduled Lambda's code), which writes the compacted files, the fleetprof manifests and
// the Athena symlink manifests. fleetprof answers from that bucket's tables/ (downloaded, as the
// query Lambda does); Trino reads the bucket through the Glue tables.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GLUE_TABLE_NAMES, TABLE_NAMES, TABLES, type TableDef } from '../../lib/model/schema';
import { parseTime } from '../../lib/model/time';
import { motoBucket, startMoto, type Moto } from '../helpers/moto';
import { encodeProfile, StringTable } from '../helpers/pprof-builder';
import { synthesizedGlueTables, writeFileMetastore, type GlueTable } from './glue';
import { startTrino, type Trino } from './trino';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const FIXTURES = path.join(ROOT, 'test/fixtures/go');
const CUMULATIVE = path.join(ROOT, 'test/fixtures/cumulative');
const RUNS = (JSON.parse(readFileSync(path.join(FIXTURES, 'MANIFEST.json'), 'utf8')) as {
  runs: { run: string; service: string; instance: string; version: string; startTime: string }[];
}).runs;
const BUCKET = 'fleetprof-athena';
const REGION = 'us-east-1';
const TABLES_PREFIX = 'tables/';
/** The fixtures' day; edge rows go into it too. */
const DAY = RUNS[0].startTime.slice(0, 10);
const LAST_NS = BigInt(parseTime(`${DAY}T23:59:59.999999Z`)) * 1000n + 999n;
const MID_US = parseTime(`${DAY}T10:00:00.001500Z`);
const FIRST_DAY_US = parseTime('2000-01-01T00:00:00Z');

function cpuProfile(timeNanos: bigint, fn: string, cpuNs: number): Uint8Array {
  const s = new StringTable();
  return encodeProfile({
    sampleTypes: [
      { type: s.id('samples'), unit: s.id('count') },
      { type: s.id('cpu'), unit: s.id('nanoseconds') },
    ],
    periodType: { type: s.id('cpu'), unit: s.id('nanoseconds') },
    period: 10_000_000,
    timeNanos,
    durationNanos: 1_000_000_000,
    functions: [{ id: 1, name: s.id(fn), systemName: s.id(fn), filename: s.id('edge.go'), startLine: 1 }],
    locations: [{ id: 1, address: 0x1000, lines: [{ functionId: 1, line: 2 }] }],
    samples: [{ locationIds: [1], values: [cpuNs / 10_000_000, cpuNs] }],
    stringTable: s.strings,
  });
}

/** Each CLI call is bounded (default 10 min): a step that stalls fails naming itself instead of hanging the run. */
function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 600_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs });
  if (r.signal) throw new Error(`fleetprof ${args.join(' ')}: killed by ${r.signal} after ${timeoutMs} ms: ${r.stderr.slice(-4000)}`);
  return r;
}
function ok(args: string[], env: Record<string, string> = {}): string {
  const r = cli(args, env);
  if (r.status !== 0) throw new Error(`fleetprof ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

describe('Glue tables on Trino 476 (Athena engine v3) agree with fleetprof', () => {
  let tmp: string;
  let moto: Moto;
  let s3: S3Client;
  let trino: Trino;
  let glue: { database: string; tables: GlueTable[] };
  /** The bucket's tables/ after compaction, downloaded: what the query Lambda reads. */
  let compacted: string;
  const T = (sql: string) => trino.query(sql);
  /**
   * The days a table has rows in, as an SQL list. Every Athena query here filters on dt, as
   * docs/deploy.md asks: without it the projection enumerates every day since 2000-01-01 (about
   * 10,000 symlink prefixes to list, minutes against moto).
   */
  const days = (table: string) => `(${F(`SELECT DISTINCT dt FROM ${table}`).map((r) => `'${String(r[0])}'`).join(', ')})`;
  const F = (sql: string): unknown[][] => (JSON.parse(ok(['sql', '--data', compacted, '--json', sql])) as { rows: unknown[][] }).rows;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-athena-'));
    moto = await startMoto();
    const awsEnv = { AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: REGION };
    s3 = await motoBucket(moto, REGION, BUCKET);

    // Start Trino early: it takes tens of seconds and runs beside the ingest.
    const trinoStarted = startTrino({ s3Endpoint: moto.endpoint, region: REGION, workDir: path.join(tmp, 'trino') });

    // 1. fleetprof ingest: every fixture run as its own service (so there is a fleet to query).
    const local = path.join(tmp, 'local');
    for (const r of RUNS) {
      // The protobuf profiles and the gctrace log (the text twins would be skipped; debug=2 is refused).
      const files = readdirSync(path.join(FIXTURES, r.run))
        .filter((f) => f.endsWith('.pb.gz') || f === 'gctrace.log')
        .map((f) => path.join(FIXTURES, r.run, f));
      ok(['ingest', '--data', local, '--service', r.run, '--instance', r.instance, '--version', r.version, '--start', r.startTime, ...files]);
    }
    const edges = path.join(tmp, 'edges');
    mkdirSync(edges);
    writeFileSync(path.join(edges, 'last.pb'), cpuProfile(LAST_NS, 'edge.last', 30_000_000));
    writeFileSync(path.join(edges, 'mid.pb'), cpuProfile(BigInt(MID_US) * 1000n, 'edge.mid', 20_000_000));
    writeFileSync(path.join(edges, 'first.pb'), cpuProfile(BigInt(FIRST_DAY_US) * 1000n, 'edge.first', 10_000_000));
    writeFileSync(
      path.join(edges, 'metrics.json'),
      [`${DAY}T10:00:00.001500Z`, `${DAY}T23:59:59.999999Z`].map((t, i) => JSON.stringify({ time: t, metrics: { '/gc/heap/goal:bytes': 4194304 * (i + 1) } })).join('\n'),
    );
    ok(['ingest', '--data', local, '--service', 'edge', '--instance', 'e1', edges]);
    // Cumulative snapshots of one instance, restarted (test/fixtures/cumulative): the
    // increase_terms view's series, segments and -1 terms.
    for (const run of ['run1', 'run2']) ok(['ingest', '--data', local, '--service', 'cum', '--instance', 'i1', path.join(CUMULATIVE, run)]);

    // 2. Into the bucket as the ingest Lambda writes it (the fresh tier), then the scheduled
    //    compaction's code over the bucket.
    const fresh = walk(local).filter((f) => path.relative(local, f).startsWith('fresh' + path.sep));
    if (fresh.length === 0) throw new Error(`fleetprof ingest wrote no fresh/ files under ${local}: is storage layout v2 in?`);
    for (const f of fresh) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: TABLES_PREFIX + path.relative(local, f).split(path.sep).join('/'), Body: readFileSync(f) }));
    }
    ok(['compact', '--bucket', BUCKET], awsEnv);

    // 3. The compacted bucket, downloaded for fleetprof's own answers.
    compacted = path.join(tmp, 'compacted');
    let token: string | undefined;
    do {
      const l = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: TABLES_PREFIX, ContinuationToken: token }));
      for (const o of l.Contents ?? []) {
        const dest = path.join(compacted, o.Key!.slice(TABLES_PREFIX.length));
        mkdirSync(path.dirname(dest), { recursive: true });
        const body = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key! }));
        writeFileSync(dest, await body.Body!.transformToByteArray());
      }
      token = l.IsTruncated ? l.NextContinuationToken : undefined;
    } while (token);

    // 4. The synthesized Glue tables into Trino's metastore.
    trino = await trinoStarted;
    glue = synthesizedGlueTables(BUCKET);
    writeFileMetastore(trino.metastoreDir, glue.database, glue.tables, `s3://${BUCKET}/${TABLES_PREFIX}`);
  }, 900_000);

  afterAll(async () => {
    await trino?.stop();
    await moto?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('one Glue table per schema table; every column readable with its Glue type, and non-NULL counts equal', async () => {
    expect(glue.tables.filter((t) => t.input.TableType !== 'VIRTUAL_VIEW').map((t) => t.name).sort()).toEqual([...GLUE_TABLE_NAMES].sort());
    for (const name of GLUE_TABLE_NAMES) {
      const def = TABLES[name] as TableDef;
      const cols = def.columns.map((c) => c.name);
      // count(col) reads every column: a Parquet physical type that does not match its Glue type fails here.
      const list = ['count(*)', ...cols.map((c) => `count("${c}")`)].join(', ');
      const fleet = F(`SELECT ${list} FROM ${name}`)[0].map(Number);
      const athena = (await T(`SELECT ${list} FROM ${name} WHERE dt IN ${days(name)}`)).rows[0].map(Number);
      expect([name, ...athena]).toEqual([name, ...fleet]);
      // The column types Trino derives from the Glue definition.
      const desc = await T(`DESCRIBE ${name}`);
      expect(desc.rows.map((r) => r[0])).toEqual([...cols, 'dt']);
    }
  });

  test('fleet-wide queries need no service: distinct services and per-day counts equal', async () => {
    const services = (await T(`SELECT DISTINCT service FROM profiles WHERE dt IN ${days('profiles')} ORDER BY 1`)).rows.map((r) => r[0]);
    expect(services).toEqual(F(`SELECT DISTINCT service FROM profiles ORDER BY 1`).map((r) => r[0]));
    expect(services).toEqual([...RUNS.map((r) => r.run), 'edge', 'cum'].sort());
    for (const name of GLUE_TABLE_NAMES) {
      const q = `SELECT dt, service, count(*) FROM ${name} WHERE dt IN ${days(name)} GROUP BY 1, 2 ORDER BY 1, 2`;
      expect([name, (await T(q)).rows.map((r) => r.map(String))]).toEqual([name, F(q).map((r) => r.map(String))]);
    }
  });

  test('exactly once: files a compaction replaced are still in the bucket (grace period) and Athena does not read them', async () => {
    const keys = async (prefix: string) =>
      ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith('.parquet'));
    for (const name of ['profiles', 'functions', 'stacks']) {
      const data = await keys(`${TABLES_PREFIX}${name}/dt=${DAY}/`);
      const body = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${TABLES_PREFIX}athena/${name}/dt=${DAY}/symlink.txt` }));
      const listed = (await body.Body!.transformToString()).split('\n').filter((l) => l !== '');
      // The hour files the day file replaced wait for their deferred delete beside it...
      expect([name, data.length > listed.length]).toEqual([name, true]);
      // ...and the symlink names only live files, each once.
      expect(listed.every((u) => data.includes(u.replace(`s3://${BUCKET}/`, '')))).toBe(true);
      expect(new Set(listed).size).toBe(listed.length);
      const q = `SELECT count(*) FROM ${name} WHERE dt = '${DAY}'`;
      expect([name, Number((await T(q)).rows[0][0])]).toEqual([name, Number(F(q)[0][0])]);
    }
  });

  test('the dt projection covers the first day fleetprof accepts', async () => {
    const q = `SELECT count(*) FROM profiles WHERE dt = '2000-01-01'`;
    expect(Number((await T(q)).rows[0][0])).toBe(1);
    expect(Number(F(q)[0][0])).toBe(1);
  });

  test('a row at 23:59:59.999999 stays in its day in both engines', async () => {
    for (const table of ['profiles', 'functions', 'runtime_metrics']) {
      // functions holds a row per sample type (the edge profile has samples and cpu): one of them.
      const one = table === 'functions' ? ` AND sample_type = 'cpu'` : '';
      const q = `SELECT dt, CAST(time AS VARCHAR) FROM ${table} WHERE dt IN ${days(table)} AND service = 'edge' AND time >= TIMESTAMP '${DAY} 23:00:00'${one} ORDER BY 2`;
      const athena = (await T(q)).rows;
      expect([table, athena]).toEqual([table, [[DAY, `${DAY} 23:59:59.999`]]]);
      expect([table, F(`SELECT dt, strftime(time, '%Y-%m-%d %H:%M:%S.%g') FROM ${table} WHERE service = 'edge' AND time >= TIMESTAMP '${DAY} 23:00:00'${one}`)]).toEqual([
        table,
        athena,
      ]);
    }
  });

  /** fleetprof's top, fleet-wide or for one service, as {name: [flat, cum]} plus total. */
  function fleetTop(args: string[]): { total: number; fns: Record<string, [number, number]> } {
    const r = cli(['top', '--data', compacted, '--type', 'cpu', '--json', ...args]);
    if (r.status === 3) return { total: 0, fns: {} };
    if (r.status !== 0) throw new Error(`top ${args.join(' ')}: ${r.stderr}`);
    const j = JSON.parse(r.stdout) as { total: number; functions: { name: string; flat: number; cum: number }[] };
    return { total: Number(j.total), fns: Object.fromEntries(j.functions.map((f) => [f.name, [Number(f.flat), Number(f.cum)]])) };
  }

  /** The same top in Athena SQL over the functions and profiles tables. */
  async function athenaTop(where: string): Promise<{ total: number; fns: Record<string, [number, number]> }> {
    const fns = await T(`SELECT function, SUM(flat), SUM(cum) FROM functions WHERE kind = 'cpu' AND sample_type = 'cpu' AND ${where} GROUP BY function`);
    const total = await T(
      `SELECT COALESCE(SUM(st.total), 0) FROM profiles CROSS JOIN UNNEST(sample_types) AS st(type, unit, total) WHERE kind = 'cpu' AND st.type = 'cpu' AND ${where}`,
    );
    return {
      total: Number(total.rows[0][0]),
      fns: Object.fromEntries(fns.rows.filter((r) => Number(r[1]) !== 0 || Number(r[2]) !== 0).map((r) => [String(r[0]), [Number(r[1]), Number(r[2])]])),
    };
  }

  test('CPU top: fleet-wide and per service, equal to the integer', async () => {
    const from = `${DAY}T00:00:00Z`;
    const to = new Date(Date.parse(from) + 86_400_000).toISOString();
    const fleet = fleetTop(['--from', from, '--to', to]);
    expect(Object.keys(fleet.fns).length).toBeGreaterThan(10);
    expect(await athenaTop(`dt = '${DAY}'`)).toEqual(fleet);
    for (const r of RUNS) {
      expect([r.run, await athenaTop(`dt = '${DAY}' AND service = '${r.run}'`)]).toEqual([r.run, fleetTop(['--service', r.run, '--from', from, '--to', to])]);
    }
  });

  test('windows ending 1 ms after a profile agree (stored times are whole milliseconds)', async () => {
    // MID was captured at 10:00:00.0015 and is stored at 10:00:00.001.
    for (const [to, expected] of [
      ['10:00:00.002', 20_000_000],
      ['10:00:00.001', 0],
    ] as const) {
      const athena = await athenaTop(`dt = '${DAY}' AND service = 'edge' AND time >= TIMESTAMP '${DAY} 09:00:00' AND time < TIMESTAMP '${DAY} ${to}'`);
      const fleet = fleetTop(['--service', 'edge', '--from', `${DAY}T09:00:00Z`, '--to', `${DAY}T${to}Z`]);
      expect([to, athena.total]).toEqual([to, expected]);
      expect([to, athena]).toEqual([to, fleet]);
    }
  });

  test('the documented Athena increases (docs/schema.md): windows of cumulative snapshots, across a restart, equal fleetprof top to the integer', async () => {
    const doc = readFileSync(path.join(ROOT, 'docs/schema.md'), 'utf8');
    const sql = /```sql\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('### Increases in Athena')))![1];
    // The snapshots' own times (stored at whole milliseconds); windows between them.
    const snaps = (await T(`SELECT to_unixtime(time) * 1000 FROM profiles WHERE dt IN ${days('profiles')} AND service = 'cum' AND kind = 'allocs' ORDER BY time`)).rows.map((r) =>
      Math.round(Number(r[0])),
    );
    expect(snaps.length).toBeGreaterThanOrEqual(8);
    const mid = (k: number) => Math.round((snaps[k] + snaps[k + 1]) / 2);
    const half = snaps.length >> 1;
    const windows = [
      { name: 'inside the first process', from: mid(1), to: mid(4) },
      { name: 'across the restart', from: mid(half - 3), to: mid(half + 1) },
      { name: 'everything', from: snaps[0] - 1000, to: snaps[snaps.length - 1] + 1000 },
    ];
    const ts = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    let nonzero = 0;
    for (const w of windows) {
      const lookFrom = w.from - 3600_000;
      for (const [kind, st] of [['allocs', 'alloc_space'], ['allocs', 'alloc_objects'], ['mutex', 'delay'], ['block', 'contentions']]) {
        const label = `${w.name} ${kind}/${st}`;
        const q = sql
          .replace(/;\s*$/, '')
          .replaceAll("BETWEEN '2026-11-21' AND '2026-11-21'", `BETWEEN '${day(lookFrom)}' AND '${day(w.to)}'`)
          .replaceAll("TIMESTAMP '2026-11-21 09:00:00'", `TIMESTAMP '${ts(lookFrom)}'`)
          .replaceAll("TIMESTAMP '2026-11-21 10:00:00'", `TIMESTAMP '${ts(w.from)}'`)
          .replaceAll("TIMESTAMP '2026-11-21 11:00:00'", `TIMESTAMP '${ts(w.to)}'`)
          .replaceAll("kind = 'allocs'", `kind = '${kind}'`)
          .replaceAll("f.sample_type = 'alloc_space'", `f.sample_type = '${st}'`);
        const got = Object.fromEntries((await T(q)).rows.map((r) => [String(r[0]), [String(r[1]), String(r[2])]]));
        const r = cli(['top', '--data', compacted, '--type', kind, '--sample-type', st, '--from', new Date(w.from).toISOString(), '--to', new Date(w.to).toISOString(), '--json']);
        expect([label, r.status]).toEqual([label, 0]);
        const top = JSON.parse(r.stdout) as { functions: { name: string; flat: number | string; cum: number | string }[] };
        const want = Object.fromEntries(top.functions.filter((f) => String(f.flat) !== '0' || String(f.cum) !== '0').map((f) => [f.name, [String(f.flat), String(f.cum)]]));
        expect([label, got]).toEqual([label, want]);
        nonzero += Object.keys(got).length;
      }
    }
    expect(nonzero).toBeGreaterThan(10);
  });

  // The rollup tables (#11) are Glue tables like any other; the 90-day fleet top of docs/deploy.md
  // is pasted from the doc and run as written, with current_date pinned to the day after the data.
  const rollups = (TABLE_NAMES as readonly string[]).includes('functions_1d');
  (rollups ? test : test.skip)('the documented 90-day fleet top over the rollups equals fleetprof top over the same whole days', async () => {
    const doc = readFileSync(path.join(ROOT, 'docs/deploy.md'), 'utf8');
    const section = doc.slice(doc.indexOf('### A 90-day fleet `top` in Athena'));
    const sql = /```sql\n([\s\S]*?)```/.exec(section)![1];
    const next = new Date(Date.parse(`${DAY}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const athena = (await T(sql.replace(/current_date/g, `DATE '${next}'`).replace(/;\s*$/, ''))).rows;
    const from = new Date(Date.parse(`${next}T00:00:00Z`) - 90 * 86_400_000).toISOString();
    const fleet = cli(['top', '--data', compacted, '--type', 'cpu', '--json', '--limit', '30', '--from', from, '--to', `${next}T00:00:00Z`]);
    expect(fleet.status).toBe(0);
    const j = JSON.parse(fleet.stdout) as { total: number; functions: { name: string; flat: number; cum: number }[] };
    expect(athena.length).toBe(j.functions.length);
    expect(athena.map((r) => [r[0], Number(r[1]), Number(r[3])])).toEqual(j.functions.map((f) => [f.name, Number(f.flat) / 1e9, Number(f.cum) / 1e9]));
    for (const [i, f] of j.functions.entries()) {
      expect(Number(athena[i][2])).toBeCloseTo((100 * Number(f.flat)) / Number(j.total), 1);
      expect(Number(athena[i][4])).toBeCloseTo((100 * Number(f.cum)) / Number(j.total), 1);
    }
  });
});
