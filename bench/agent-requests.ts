// Requests per instance-minute, per-file uploads vs bundles (#11 point 1; docs/performance.md,
// "Bundled uploads"). Runs the real Go agent (agent/internal/agentrun) at its defaults against
// `fleetprof local` through a proxy that counts every S3 operation and SQS action, once with
// FLEETPROF_PER_FILE_UPLOADS=true and once bundling, and reads the ingest handler's per-object
// milliseconds from its logs. Prints JSON; asserts nothing. Build first (npm run build), then:
//
//   node dist/bench/agent-requests.js [--seconds 150]
//
// Needs go and moto_server on PATH. Each mode runs `--seconds` of agent time (default 150 s: three
// 60 s periods at the defaults, then Stop's last flush). Then, for steadier handler milliseconds
// than one run gives, every object of both runs is copied `--replays` times (default 5) under new
// keys and ingested again, the two modes interleaved so machine load hits both alike.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CopyObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { freePort, startMotoServer } from '../lib/aws/local-stack';
import { INGEST_QUEUE } from '../lib/aws/resources';
import { countingProxy, queueDepth, startLocal, stopLocal } from './local';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const argNum = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const seconds = argNum('seconds', 150);
const replays = argNum('replays', 5);

interface ModeResult {
  mode: string;
  instanceMinutes: number;
  agent: Record<string, unknown>;
  requests: Record<string, number>;
  requestsPerInstanceMinute: Record<string, number>;
  handlerMs: { objects: number; total: number; perObject: number };
  handlerMsPerInstanceMinute: number;
}

async function main(): Promise<void> {
  const bin = path.join(mkdtempSync(path.join(os.tmpdir(), 'agentrun-')), 'agentrun');
  execFileSync('go', ['build', '-o', bin, './internal/agentrun'], { cwd: path.join(ROOT, 'agent'), stdio: 'inherit' });
  const moto = await startMotoServer(await freePort());
  const proxy = await countingProxy(moto.endpoint);
  const local = await startLocal(['--batch-window', '1'], proxy.url);
  const handler: { key: string; ms: number }[] = [];
  local.onLine((line) => {
    if (!/"(msg|message)":"(ingested|quarantined)"/.test(line)) return;
    const ms = /"ms":(\d+)/.exec(line);
    const key = /"key":"([^"]+)"/.exec(line);
    if (ms && key) handler.push({ key: key[1], ms: Number(ms[1]) });
  });
  const sqs = new SQSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const results: ModeResult[] = [];
  try {
    for (const mode of ['per-file', 'bundle']) {
      const service = mode === 'bundle' ? 'bundled' : 'perfile';
      proxy.counts.clear();
      const from = handler.length;
      const out = await new Promise<string>((resolve, reject) => {
        const c = spawn(bin, [], {
          env: {
            ...process.env,
            AWS_ENDPOINT_URL: proxy.url,
            AWS_ACCESS_KEY_ID: 'testing',
            AWS_SECRET_ACCESS_KEY: 'testing',
            AWS_REGION: 'us-east-1',
            FLEETPROF_S3_PATH_STYLE: 'true',
            FLEETPROF_BUCKET: local.env.FLEETPROF_BUCKET,
            FLEETPROF_SERVICE: service,
            FLEETPROF_INSTANCE: 'i1',
            FLEETPROF_PER_FILE_UPLOADS: String(mode === 'per-file'),
            FLEETPROF_RUN_FOR: `${seconds}s`,
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let s = '';
        c.stdout.on('data', (b: Buffer) => (s += b.toString()));
        c.on('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`agentrun exited ${code}`))));
      });
      const agent = JSON.parse(out) as Record<string, number>;
      // Drained: the queue empty for three polls in a row (the handler logs every object).
      for (let empty = 0; empty < 3; ) {
        await sleep(1000);
        empty = (await queueDepth(sqs, INGEST_QUEUE.name)) === 0 ? empty + 1 : 0;
      }
      const requests = Object.fromEntries([...proxy.counts.entries()].sort());
      // Our own GetQueueUrl/GetQueueAttributes polls above are the benchmark's, not the pipeline's.
      delete requests['sqs:GetQueueUrl'];
      delete requests['sqs:GetQueueAttributes'];
      const minutes = seconds / 60;
      const mine = handler.slice(from);
      const total = mine.reduce((a, h) => a + h.ms, 0);
      results.push({
        mode,
        instanceMinutes: minutes,
        agent: { uploaded: agent.Uploaded, uploadedBytes: agent.UploadedBytes, dropped: agent.Dropped, skipped: agent.Skipped },
        requests,
        requestsPerInstanceMinute: Object.fromEntries(Object.entries(requests).map(([k, v]) => [k, Math.round((v / minutes) * 100) / 100])),
        handlerMs: { objects: mine.length, total, perObject: Math.round((total / Math.max(1, mine.length)) * 10) / 10 },
        handlerMsPerInstanceMinute: Math.round((total / minutes) * 10) / 10,
      });
      process.stderr.write(`${mode}: ${JSON.stringify(results[results.length - 1])}\n`);
    }
    // Replays: the same objects ingested again, interleaved per round (per-file, then bundle).
    const s3 = new S3Client({ region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const bucket = local.env.FLEETPROF_BUCKET;
    const listed = (await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'raw/' }))).Contents ?? [];
    const originals = listed.map((o) => o.Key!).filter((k) => !/-r\d+\.[a-z.]+$/.test(k));
    const replayMs: Record<string, number[]> = { 'per-file': [], bundle: [] };
    for (let r = 1; r <= replays; r++) {
      for (const mode of ['per-file', 'bundle']) {
        const keys = originals.filter((k) => k.includes(mode === 'bundle' ? '/bundled/' : '/perfile/'));
        const from = handler.length;
        for (const k of keys) {
          const to = k.replace(/(_[A-Za-z0-9-]+)(\.[a-z.]+)$/, `$1-r${r}$2`);
          await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: `${bucket}/${k}` }));
        }
        while (handler.length - from < keys.length) await sleep(500);
        const ms = handler.slice(from).reduce((a, h) => a + h.ms, 0);
        replayMs[mode].push(ms);
      }
    }
    s3.destroy();
    for (const res of results) {
      const totals = replayMs[res.mode];
      const mean = totals.reduce((a, b) => a + b, 0) / Math.max(1, totals.length);
      (res as ModeResult & { replays?: unknown }).replays = {
        rounds: totals.length,
        handlerMsPerRound: totals,
        handlerMsPerInstanceMinute: Math.round((mean / res.instanceMinutes) * 10) / 10,
      };
    }
  } finally {
    sqs.destroy();
    await stopLocal(local);
    proxy.server.close();
    moto.child.kill('SIGTERM');
  }
  console.log(JSON.stringify({ seconds, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100), results }, null, 2));
}

void main();
