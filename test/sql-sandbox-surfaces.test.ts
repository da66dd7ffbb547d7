// The SQL sandbox on every surface: the attack corpus (test/security/sql-attacks.json) through
// `fleetprof serve` over HTTP, the query Lambda handler (against moto) and the CLI; each DoS
// probe answered with a 4xx and the reason, and followed by a normal request that succeeds;
// serve's concurrency cap (503 + Retry-After), Host/Origin checks and token.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { HttpEventV2, HttpResultV2 } from '../lib/aws/events';
import { PREFIXES } from '../lib/aws/resources';
import { motoAvailable, startMoto, type Moto, lambdaEnv } from './helpers/moto';
import { aim, firstParquet, leaks, loadAttacks, makeTarget, plantBeside, type Target } from './security/corpus';

const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
const ATTACKS = loadAttacks();
const NORMAL = 'SELECT count(*) AS n FROM profiles';
let t: Target;

beforeAll(async () => {
  t = await makeTarget();
});
afterAll(() => t.cleanup());

interface Serve {
  base: string;
  port: number;
  stop: () => Promise<void>;
}

async function startServe(args: string[], env: Record<string, string> = {}): Promise<Serve> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--data', t.data, '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    },
  };
}

describe('fleetprof serve', () => {
  let s: Serve;
  beforeAll(async () => {
    s = await startServe(['--sql-timeout-ms', '2000', '--sql-memory-mb', '512', '--sql-max-bytes', '1000000', '--concurrency', '2', '--queue', '4']);
  });
  afterAll(() => s.stop());
  const sql = (q: string, headers: Record<string, string> = {}) => fetch(`${s.base}/sql`, { method: 'POST', headers, body: JSON.stringify({ sql: q }) });

  test('the whole attack corpus over HTTP: 400 with a reason, nothing leaks', async () => {
    const failures: string[] = [];
    for (const a of ATTACKS) {
      const q = aim(a, t);
      const r = await sql(q);
      const text = await r.text();
      const leak = leaks(text, q, t.data);
      if (r.status !== 400 || leak || (a.reason && !new RegExp(a.reason).test(text))) failures.push(`${a.class}: ${a.name}: ${r.status} ${leak ?? ''} ${text.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
  }, 400_000); // like the Lambda corpus below: slow only under load

  // Each probe is stopped with a 4xx naming the limit, and the next request is answered normally.
  const PROBES: [string, string, RegExp][] = [
    ['one giant list from a scalar call (ignores interrupt and memory_limit in DuckDB)', 'SELECT len(range(300000000))', /time limit|memory limit/],
    ['5 GB of strings', "SELECT repeat('x', 100000000) FROM range(50)", /time limit|memory limit|larger than/],
    ['one row of list(range(2e7))', 'SELECT list(range(20000000))', /time limit|memory limit|larger than/],
    ['a cross join of a billion by a billion', 'SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000000000) b', /time limit/],
    ['generate_series of a billion rows', 'SELECT * FROM generate_series(1, 1000000000)', /more than 10000 rows/],
    ['a result over the byte limit', "SELECT repeat('x', 100000) FROM range(50)", /larger than 1000000 bytes/],
    ['a hash aggregate over 100M groups', 'SELECT count(*) FROM (SELECT range AS k, list(range) AS l FROM range(100000000) GROUP BY k)', /time limit|memory limit|Out of Memory/],
  ];
  test.each(PROBES)('DoS probe: %s -> 4xx, then a normal query succeeds', async (_n, probe, reason) => {
    const r = await sql(probe);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(reason);
    const t0 = Date.now();
    const next = await sql(NORMAL);
    expect(next.status).toBe(200);
    expect(await next.json()).toEqual({ columns: ['n'], rows: [[1]] });
    expect(Date.now() - t0).toBeLessThan(15_000); // generous: the machine is shared; see bench for timing
  });

  test('while a probe runs, other requests are answered', async () => {
    const probe = sql('SELECT len(range(300000000))');
    await new Promise((r) => setTimeout(r, 300));
    const top = await fetch(`${s.base}/top?type=cpu&limit=1`);
    expect(top.status).toBe(200);
    expect((await probe).status).toBe(400);
  });

  test('concurrency is capped: beyond the queue, 503 with Retry-After; then normal service', async () => {
    const rs = await Promise.all(Array.from({ length: 40 }, () => fetch(`${s.base}/top?type=cpu&limit=1`)));
    const statuses = rs.map((r) => r.status);
    expect(statuses.filter((x) => x === 503).length).toBeGreaterThan(0);
    expect(statuses.filter((x) => x === 200).length).toBeGreaterThanOrEqual(6);
    expect(statuses.every((x) => x === 200 || x === 503)).toBe(true);
    expect(rs.find((r) => r.status === 503)!.headers.get('retry-after')).toBe('1');
    await Promise.all(rs.map((r) => r.arrayBuffer()));
    expect((await sql(NORMAL)).status).toBe(200);
  });

  test('Host must be this server (DNS rebinding), foreign Origins are refused', async () => {
    const http = await import('node:http');
    const raw = (headers: Record<string, string>, method = 'GET', body?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: s.port, path: method === 'GET' ? '/top?type=cpu&limit=1' : '/sql', method, headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.once('error', reject);
        req.end(body);
      });
    expect(await raw({ host: `evil.example:${s.port}` })).toBe(403);
    expect(await raw({ host: `127.0.0.1:${s.port + 1}` })).toBe(403);
    expect(await raw({ host: `localhost:${s.port}` })).toBe(200);
    expect(await raw({ host: `127.0.0.1:${s.port}` })).toBe(200);
    const body = JSON.stringify({ sql: NORMAL });
    expect(await raw({ host: `127.0.0.1:${s.port}`, origin: 'http://evil.example', 'content-type': 'text/plain' }, 'POST', body)).toBe(403);
    expect(await raw({ host: `127.0.0.1:${s.port}`, 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' }, 'POST', body)).toBe(403);
    expect(await raw({ host: `127.0.0.1:${s.port}`, origin: `http://127.0.0.1:${s.port}` }, 'POST', body)).toBe(200);
  });
});

test('serve with a token (--token or FLEETPROF_TOKEN): 401 without it, 200 with it', async () => {
  for (const [args, env] of [[['--token', 's3cret-token'], {}], [[], { FLEETPROF_TOKEN: 's3cret-token' }]] as const) {
    const s = await startServe([...args], env);
    try {
      expect((await fetch(`${s.base}/top?type=cpu&limit=1`)).status).toBe(401);
      expect((await fetch(`${s.base}/top?type=cpu&limit=1`, { headers: { authorization: 'Bearer wrong-token!' } })).status).toBe(401);
      expect((await fetch(`${s.base}/top?type=cpu&limit=1`, { headers: { authorization: 'Bearer s3cret-token' } })).status).toBe(200);
    } finally {
      await s.stop();
    }
  }
});

describe('fleetprof sql (CLI)', () => {
  // The whole corpus through the CLI's own path: dist/bin/fleetprof.js's buildProgram + parseAsync,
  // as `node dist/bin/fleetprof.js sql ...` runs them (argument parsing, the action's exit code and
  // `fleetprof sql: <reason>` on stderr, runSql's query process and limits), many runs to a node
  // process. A node process per attack cost ~1 s of start-up each on a loaded machine; each run
  // still forks its own query process, as the CLI does.
  const BATCH = `
    const { buildProgram } = require(process.argv[1]);
    const runs = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
    const write = { out: process.stdout.write, err: process.stderr.write };
    const capture = (into) => (chunk, enc, cb) => { into.text += String(chunk); (typeof enc === 'function' ? enc : cb)?.(); return true; };
    (async () => {
      const answers = [];
      for (const args of runs) {
        const out = { text: '' }, err = { text: '' };
        process.stdout.write = capture(out);
        process.stderr.write = capture(err);
        process.exitCode = undefined;
        try {
          await buildProgram(args).parseAsync(args, { from: 'user' });
        } catch (e) {
          err.text += 'commander: ' + e.message;
          process.exitCode = 64;
        }
        process.stdout.write = write.out;
        process.stderr.write = write.err;
        answers.push({ status: process.exitCode ?? 0, stdout: out.text, stderr: err.text });
      }
      process.exitCode = 0;
      process.stdout.write(JSON.stringify(answers));
    })();`;
  const batch = (runs: string[][]) =>
    new Promise<{ status: number; stdout: string; stderr: string }[]>((resolve, reject) => {
      const c = spawn(process.execPath, ['-e', BATCH, CLI], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { status: number; stdout: string; stderr: string }[]) : reject(new Error(`batch exited ${code}: ${out.slice(0, 500)}`))));
      c.stdin.end(JSON.stringify(runs));
    });

  test(`the whole attack corpus (${ATTACKS.length}): exit 1 with the reason on stderr, nothing leaks`, async () => {
    const CHUNKS = 3;
    const chunks = Array.from({ length: CHUNKS }, (_, k) => ATTACKS.filter((_a, i) => i % CHUNKS === k));
    const answers = await Promise.all(chunks.map((c) => batch(c.map((a) => ['sql', '--data', t.data, '--json', '--', aim(a, t)]))));
    expect(answers.map((a) => a.length)).toEqual(chunks.map((c) => c.length));
    const failures: string[] = [];
    chunks.forEach((c, k) =>
      c.forEach((a, i) => {
        const q = aim(a, t);
        const r = answers[k][i];
        const leak = leaks(r.stdout + r.stderr, q, t.data);
        if (r.status !== 1 || leak || !/^fleetprof sql: .{5,}/.test(r.stderr) || (a.reason && !new RegExp(a.reason).test(r.stderr))) {
          failures.push(`${a.class}: ${a.name}: ${r.status} ${leak ?? ''} ${r.stderr.slice(0, 200)}`);
        }
      }),
    );
    expect(failures).toEqual([]);
    // The same path answers a legitimate query in a batch (the batch is not what refuses).
    const [ok] = await batch([['sql', '--data', t.data, '--json', '--', NORMAL]]);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ columns: ['n'], rows: [[1]] });
  }, 400_000); // like the serve and Lambda corpora: slow only under load
  // Each limit of the CLI stops its probe with the reason (exit 1), by its flag.
  test.each([
    ['memory ceiling', ['--memory-mb', '384'], 'SELECT len(range(300000000))', /memory limit/],
    ['time limit', ['--timeout-ms', '1500'], 'SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000000000) b', /1500 ms time limit/],
    ['result bytes', ['--max-bytes', '1000000'], "SELECT repeat('x', 100000) FROM range(50)", /larger than 1000000 bytes/],
    ['result rows', ['--max-rows', '100'], 'SELECT * FROM range(1000)', /more than 100 rows/],
  ])('%s: the probe is stopped with the reason', (_n, flags, probe, reason) => {
    const r = spawnSync(process.execPath, [CLI, 'sql', '--data', t.data, ...flags, '--', probe], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(reason);
  });
  test('a legitimate query works', () => {
    const r = spawnSync(process.execPath, [CLI, 'sql', '--data', t.data, '--json', NORMAL], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ columns: ['n'], rows: [[1]] });
  });
});

const dMoto = motoAvailable() ? describe : describe.skip;
dMoto('the query Lambda handler (S3 on moto)', () => {
  let moto: Moto;
  let handler: (e: HttpEventV2) => Promise<HttpResultV2>;
  const saved = { ...process.env };
  const cacheDir = () => path.join(t.data, '..', `${path.basename(t.data)}-cache`);
  const event = (sql: string): HttpEventV2 =>
    ({ rawPath: '/sql', rawQueryString: '', body: JSON.stringify({ sql }), isBase64Encoded: false, requestContext: { http: { method: 'POST' } } }) as unknown as HttpEventV2;

  beforeAll(async () => {
    moto = await startMoto();
    Object.assign(process.env, {
      ...lambdaEnv(moto, { region: 'us-east-1', bucket: 'fleetprof-sbx', cacheDir: cacheDir() }),
      FLEETPROF_SQL_TIMEOUT_MS: '2000',
    });
    const s3 = new S3Client({ region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'fleetprof-sbx' }));
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((e) => (statSync(path.join(dir, e)).isDirectory() ? walk(path.join(dir, e)) : [path.join(dir, e)]));
    for (const f of walk(t.data).filter((f) => f.endsWith('.parquet') || f.endsWith('.json'))) {
      await s3.send(new PutObjectCommand({ Bucket: 'fleetprof-sbx', Key: PREFIXES.tables + path.relative(t.data, f), Body: readFileSync(f) }));
    }
    jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    handler = (await import('../lambdas/query')).handler;
    const first = await handler(event(NORMAL));
    expect(JSON.parse(first.body!)).toEqual({ columns: ['n'], rows: [[1]] });
    plantBeside(cacheDir());
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    process.env = saved;
    await moto?.stop();
  });

  test('the whole attack corpus: 400 with a reason, nothing leaks', async () => {
    const failures: string[] = [];
    const cache = cacheDir();
    for (const a of ATTACKS) {
      const q = aim(a, t, cache, firstParquet(cache));
      const r = await handler(event(q));
      const leak = leaks(r.body ?? '', q, cache) ?? leaks(r.body ?? '', q, t.data);
      if (r.statusCode !== 400 || leak || (a.reason && !new RegExp(a.reason).test(r.body ?? ''))) failures.push(`${a.class}: ${a.name}: ${r.statusCode} ${leak ?? ''} ${(r.body ?? '').slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
    // 237 attacks in one warm query process: ~25 s idle, minutes on a loaded 2-core machine.
  }, 400_000);

  // The Lambda's limits: FLEETPROF_SQL_TIMEOUT_MS (2 s here), a ceiling of half the function's
  // memory (512 MiB without AWS_LAMBDA_FUNCTION_MEMORY_SIZE), 4 MiB of result, 10,000 rows.
  test.each([
    ['memory ceiling or time', 'SELECT len(range(300000000))', /time limit|memory limit/],
    ['time limit', 'SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000000000) b', /2000 ms time limit/],
    ['result bytes', "SELECT repeat('x', 100000) FROM range(50)", /larger than 4194304 bytes/],
    ['result rows', 'SELECT * FROM range(20000)', /more than 10000 rows/],
  ])('DoS probe (%s): 400 with the reason, and the next request is answered', async (_n, probe, reason) => {
    const r = await handler(event(probe));
    expect(r.statusCode).toBe(400);
    expect(r.body).toMatch(reason);
    const next = await handler(event(NORMAL));
    expect(next.statusCode).toBe(200);
    expect(JSON.parse(next.body!)).toEqual({ columns: ['n'], rows: [[1]] });
  });
});
