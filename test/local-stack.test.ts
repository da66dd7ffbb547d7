// `fleetprof local` as a user runs it: a child process whose export lines are evaluated, real
// `fleetprof upload`s of the Go fixtures, the query API over HTTP compared with go tool pprof. An
// HTTP proxy between the stack and moto injects S3 failures: 503 SlowDown on GetObject (retried
// through batchItemFailures and the visibility timeout, nothing lost, DLQ empty) and a permanent
// 403 on one key (redriven to the DLQ after maxReceiveCount receives). SIGTERM stops it cleanly,
// including the moto_server it started itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import * as path from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { INGEST_QUEUE } from '../lib/aws/resources';
import { planUpload } from '../bin/commands/upload';
import { goAvailable, pprofTop, warmUpPprof } from './oracle/pprof';
import { motoAvailable, startMoto, type Moto } from './helpers/moto';
import { POISON_CASES } from './helpers/poison-cases';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');

const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = (JSON.parse(readFileSync(path.join(FIXTURES, 'MANIFEST.json'), 'utf8')) as {
  runs: { run: string; service: string; instance: string; version: string }[];
}).runs;
const BUCKET = 'fleetprof-localtest';
const POISON_KEY = 'raw/svc-a/i9/20261121T205420.000Z_cpu.pb.gz';
/** Every poison input of #13 (test/poison.test.ts puts them through the handler alone): quarantined by `fleetprof local` too, with its reason and code. */
const HOSTILE = POISON_CASES;

// The SDK's Node 20 end-of-support notice is not what this test is about.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ready = motoAvailable() && goAvailable();
const d = ready ? describe : describe.skip;

interface Proxy {
  url: string;
  /** Answer 503 SlowDown to the next n GetObject requests under raw/. */
  failGets: number;
  slowDowns: number;
  /** Keys under raw/ whose GetObject always answers 403 AccessDenied. */
  deny: Set<string>;
  server: Server;
}

function startProxy(target: string): Promise<Proxy> {
  const t = new URL(target);
  const p: Proxy = { url: '', failGets: 0, slowDowns: 0, deny: new Set(), server: undefined as unknown as Server };
  p.server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const prefix = `/${BUCKET}/raw/`;
    if (req.method === 'GET' && u.pathname.startsWith(prefix) && !u.searchParams.has('list-type')) {
      const key = decodeURIComponent(u.pathname.slice(BUCKET.length + 2));
      const fail = (status: number, code: string) => {
        req.resume();
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the test proxy</Message><Key>${key}</Key></Error>`);
      };
      if (p.deny.has(key)) return fail(403, 'AccessDenied');
      if (p.failGets > 0) {
        p.failGets--;
        p.slowDowns++;
        return fail(503, 'SlowDown');
      }
    }
    const up = request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  return new Promise((resolve) =>
    p.server.listen(0, '127.0.0.1', () => {
      const a = p.server.address();
      p.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
      resolve(p);
    }),
  );
}

interface Local {
  child: ChildProcess;
  env: Record<string, string>;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

/** Start `fleetprof local`, wait for its export lines and evaluate them. */
async function startLocal(args: string[], env: NodeJS.ProcessEnv): Promise<Local> {
  const child = spawn(process.execPath, [CLI, 'local', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const exports = await new Promise<Record<string, string>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fleetprof local did not print its exports within 30 s:\n${err}`)), 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (/^export FLEETPROF_API=.*\n/m.test(out)) {
        clearTimeout(timer);
        const e: Record<string, string> = {};
        for (const m of out.matchAll(/^export ([A-Z_0-9]+)='((?:[^']|'\\'')*)'$/gm)) e[m[1]] = m[2].replace(/'\\''/g, "'");
        resolve(e);
      }
    });
    void exited.then((code) => reject(new Error(`fleetprof local exited (${code}):\n${err}`)));
  });
  return { child, env: exports, stderr: () => err, stdout: () => out, exited };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

d('fleetprof local (moto + ingest event source emulation + query API)', () => {
  let moto: Moto;
  let proxy: Proxy;
  let local: Local;
  let clientEnv: NodeJS.ProcessEnv;
  let s3: S3Client;
  let sqs: SQSClient;

  beforeAll(async () => {
    warmUpPprof();
    moto = await startMoto();
    proxy = await startProxy(moto.endpoint);
    const env = { ...process.env, AWS_ENDPOINT_URL: proxy.url, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
    local = await startLocal(['--bucket', BUCKET, '--visibility-timeout', '1', '--batch-window', '0'], env);
    clientEnv = { ...process.env, ...local.env };
    s3 = new S3Client({ region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    sqs = new SQSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  }, 60_000);

  afterAll(async () => {
    if (local && local.child.exitCode === null) {
      local.child.kill('SIGKILL');
      await local.exited;
    }
    s3?.destroy();
    sqs?.destroy();
    await new Promise<void>((r) => (proxy ? proxy.server.close(() => r()) : r()));
    proxy?.server.closeAllConnections();
    await moto?.stop();
  });

  // Asynchronous: the proxy runs in this process, spawnSync would block it.
  const upload = async (args: string[], files: string[]) => {
    const child = spawn(process.execPath, [CLI, 'upload', '--bucket', local.env.FLEETPROF_BUCKET, ...args, ...files], { env: clientEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    // Never outlive the test: a stuck upload is killed (and fails the test) instead of holding jest open.
    const killer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(killer);
    expect(err).toContain('0 failed');
    expect(code).toBe(0);
  };
  const api = async (p: string, init?: RequestInit) => {
    const r = await fetch(local.env.FLEETPROF_API + p, init);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const profileCount = async (kind: string): Promise<number> => {
    const r = await api('/sql', { method: 'POST', body: JSON.stringify({ sql: `SELECT count(*) FROM profiles WHERE kind = '${kind}'` }) });
    if (r.status !== 200) return 0;
    return Number((r.body.rows as unknown[][])[0][0]);
  };
  const dlqDepth = async () => {
    const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: INGEST_QUEUE.dlqName }))).QueueUrl!;
    const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(a.Attributes!.ApproximateNumberOfMessages) + Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible);
  };

  test('exports: endpoint, dummy credentials, region, bucket, API', () => {
    expect(local.env).toMatchObject({ AWS_ENDPOINT_URL: proxy.url, AWS_REGION: 'us-east-1', FLEETPROF_BUCKET: BUCKET, AWS_ACCESS_KEY_ID: 'testing' });
    expect(local.env.AWS_SECRET_ACCESS_KEY).toBeTruthy();
    expect(local.env.FLEETPROF_API).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('uploads become queryable; /top equals go tool pprof; a poison object is quarantined, its neighbours ingested', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: POISON_KEY, Body: Buffer.from('this is not a profile at all') }));
    for (const h of HOSTILE) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: h.key, Body: h.body }));
    for (const run of RUNS) await upload(['--service', run.service, '--instance', run.instance, '--version', run.version], ['cpu', 'heap'].map((k) => path.join(FIXTURES, run.run, `${k}.pb.gz`)));
    for (const kind of ['cpu', 'heap'] as const) {
      const oracle = pprofTop(RUNS.map((r) => path.join(FIXTURES, r.run, `${kind}.pb.gz`)), { sampleIndex: kind === 'cpu' ? 'cpu' : 'inuse_space' });
      const top = await waitFor(`${kind} ingested`, async () => {
        // pprof's merge of one instance's successive heap snapshots is the gauge's `sum` aggregate.
        const r = await api(`/top?type=${kind}&service=svc-a&aggregate=sum`);
        return r.status === 200 && BigInt(r.body.total as number) === oracle.total ? r.body : undefined;
      });
      expect((top.functions as { name: string; flat: number; cum: number }[]).map((f) => [f.name, BigInt(f.flat), BigInt(f.cum)])).toEqual(oracle.rows.map((r) => [r.name, r.flat, r.cum]));
    }
    const reason = await waitFor('quarantine reason', async () => {
      const o = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `quarantine/${POISON_KEY}.reason.json` }));
      return JSON.parse(await o.Body!.transformToString()) as Record<string, unknown>;
    });
    expect(reason).toMatchObject({ bucket: BUCKET, key: POISON_KEY, code: 'unsupported' });
    for (const h of HOSTILE) {
      const r = await waitFor(`quarantine reason of ${h.key}`, async () => {
        const o = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `quarantine/${h.key}.reason.json` }));
        return JSON.parse(await o.Body!.transformToString()) as { code: string; reason: string };
      });
      expect({ name: h.name, code: r.code }).toEqual({ name: h.name, code: expect.stringMatching(h.code) });
      expect({ name: h.name, reason: r.reason }).toEqual({ name: h.name, reason: expect.stringMatching(h.reason) });
      expect({ name: h.name, reason: r.reason }).toEqual({ name: h.name, reason: expect.not.stringMatching(/\/tmp|LINE \d|read_json|ndjson|COPY|\.parquet/) });
    }
    expect(await profileCount('cpu')).toBe(RUNS.length);
  });

  test('503 SlowDown on GetObject: records retried via batchItemFailures + visibility timeout, nothing lost, DLQ empty', async () => {
    proxy.failGets = 6; // > the SDK's 5 attempts: at least one record must fail its invocation
    for (const run of RUNS) await upload(['--service', run.service, '--instance', run.instance, '--version', run.version], [path.join(FIXTURES, run.run, 'mutex.pb.gz')]);
    await waitFor('mutex ingested', async () => ((await profileCount('mutex')) === RUNS.length ? true : undefined), 30_000);
    expect(proxy.slowDowns).toBe(6);
    expect(local.stderr()).toMatch(/"message":"transient failure, will retry".*"knownTransient":true/);
    const oracle = pprofTop(RUNS.map((r) => path.join(FIXTURES, r.run, 'mutex.pb.gz')));
    const top = await api('/top?type=mutex&service=svc-a');
    expect(BigInt(top.body.total as number)).toBe(oracle.total);
    expect(await dlqDepth()).toBe(0);
  }, 45_000);

  test('a permanently failing record is redriven to the DLQ after maxReceiveCount receives; its neighbours are ingested', async () => {
    const run = RUNS[0];
    // The key the upload will use (content-addressed), denied before the upload.
    const file = path.join(FIXTURES, run.run, 'block.pb.gz');
    const key = planUpload(file, readFileSync(file), statSync(file).mtimeMs, { bucket: BUCKET, service: 'svc-dlq', instance: 'i1', version: '', label: {} }).key;
    expect(key).toMatch(/^raw\/svc-dlq\/i1\/.*_block_[0-9a-f]{16}\.pb\.gz$/);
    proxy.deny.add(key);
    await upload(['--service', 'svc-dlq', '--instance', 'i1'], [path.join(FIXTURES, run.run, 'block.pb.gz'), path.join(FIXTURES, run.run, 'goroutine.pb.gz')]);
    await waitFor('the DLQ to hold the message', async () => ((await dlqDepth()) === 1 ? true : undefined), 30_000);
    const dlqUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: INGEST_QUEUE.dlqName }))).QueueUrl!;
    const m = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, AttributeNames: ['All'] }));
    expect(m.Messages).toHaveLength(1);
    expect(decodeURIComponent(JSON.parse(m.Messages![0].Body!).Records[0].s3.object.key.replace(/\+/g, ' '))).toBe(key);
    expect(Number(m.Messages![0].Attributes!.ApproximateReceiveCount)).toBeGreaterThanOrEqual(INGEST_QUEUE.maxReceiveCount);
    expect(await profileCount('goroutine')).toBe(1);
    expect(await profileCount('block')).toBe(0);
  }, 45_000);

  test('SIGTERM stops it cleanly (exit 0), and a stack that started its own moto_server stops that too', async () => {
    local.child.kill('SIGTERM');
    expect(await local.exited).toBe(0);
    expect(local.stderr()).toMatch(/fleetprof local: stopped/);
    // stdout is eval-able: the export lines and nothing else (handler logs and metrics go to stderr).
    expect(local.stdout().trim().split('\n').every((l) => /^export [A-Z_0-9]+='.*'$/.test(l))).toBe(true);
    expect(local.stderr()).toMatch(/"message":"ingested"/);

    const env = { ...process.env };
    delete env.AWS_ENDPOINT_URL;
    const own = await startLocal(['--visibility-timeout', '1'], env);
    const endpoint = own.env.AWS_ENDPOINT_URL;
    expect(endpoint).not.toBe(proxy.url);
    expect((await fetch(`${endpoint}/moto-api/`)).status).toBeLessThan(500);
    expect((await fetch(`${own.env.FLEETPROF_API}/top?type=cpu`)).status).toBe(200);
    own.child.kill('SIGTERM');
    expect(await own.exited).toBe(0);
    await expect(fetch(`${endpoint}/moto-api/`)).rejects.toThrow();
  }, 45_000);
});
