// The local stack for benchmarks: `fleetprof local` as a child process (its handler logs as
// lines), a proxy in front of moto counting S3 operations and SQS actions, the queue depth.
// Shared by bench/pipeline.ts and bench/agent-requests.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import * as path from 'node:path';
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';

const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');

/** Counts requests by S3 operation (method + shape) and SQS action (X-Amz-Target). */
export function countingProxy(target: string): Promise<{ url: string; counts: Map<string, number>; server: Server }> {
  const t = new URL(target);
  const counts = new Map<string, number>();
  const server = createServer((req, res) => {
    const amz = req.headers['x-amz-target'];
    const u = new URL(req.url ?? '/', 'http://x');
    let op: string;
    if (typeof amz === 'string') op = 'sqs:' + amz.replace(/^AmazonSQS\./, '');
    else if (req.method === 'PUT' && req.headers['x-amz-copy-source']) op = 's3:CopyObject';
    else if (req.method === 'GET' && u.searchParams.has('list-type')) op = 's3:ListObjectsV2';
    else op = `s3:${req.method}`;
    counts.set(op, (counts.get(op) ?? 0) + 1);
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
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, counts, server });
    }),
  );
}

export interface Local {
  child: ChildProcess;
  env: Record<string, string>;
  onLine: (fn: (line: string) => void) => void;
}

export async function startLocal(args: string[], endpoint: string): Promise<Local> {
  const child = spawn(process.execPath, [CLI, 'local', '--port', '0', ...args], {
    env: { ...process.env, AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const listeners: ((l: string) => void)[] = [];
  let buf = '';
  child.stderr!.on('data', (b: Buffer) => {
    buf += b.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      for (const f of listeners) f(line);
    }
  });
  let out = '';
  const env = await new Promise<Record<string, string>>((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`fleetprof local exited ${c}`)));
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (/^export FLEETPROF_API=/m.test(out)) {
        const e: Record<string, string> = {};
        for (const m of out.matchAll(/^export ([A-Z_0-9]+)='([^']*)'$/gm)) e[m[1]] = m[2];
        resolve(e);
      }
    });
  });
  return { child, env, onLine: (f) => listeners.push(f) };
}

export async function stopLocal(l: Local): Promise<void> {
  if (l.child.exitCode !== null) return;
  const done = new Promise((r) => l.child.once('exit', r));
  l.child.kill('SIGTERM');
  await done;
}

export async function queueDepth(sqs: SQSClient, name: string): Promise<number> {
  const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
  const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes!;
  return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible);
}

