import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { format } from 'node:util';
import { CreateBucketCommand, PutBucketNotificationConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { fromNodeRequest } from '../api/adapters';
import { checkHttpRequest } from '../api/http-guard';
import type { HttpEventV2, HttpResultV2, SQSBatchResponse, SQSEvent, SQSRecord } from './events';
import { dlqAttributes, ENV, ingestQueueAttributes, INGEST_FUNCTION, INGEST_QUEUE, notificationConfiguration } from './resources';

// `fleetprof local`: the serverless pipeline on one machine. moto_server (S3 + SQS) gets the bucket,
// queue, DLQ + redrive and bucket notification from lib/aws/resources.ts (the CDK stack's own
// definition); an in-process emulation of the Lambda SQS event source mapping feeds the real ingest
// handler (lambdas/ingest.ts); the real query handler (lambdas/query.ts) answers on loopback HTTP.
//
// Event source mapping semantics emulated (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html):
// long-poll ReceiveMessage; gather up to batchSize records or until the batching window closes;
// invoke with an SQSEvent; delete the records not listed in batchItemFailures (all of them stay if
// the handler throws); the rest become visible again after the visibility timeout, and SQS moves a
// message to the DLQ once it has been received maxReceiveCount times (moto does this at receive
// time). Not emulated: concurrent pollers (maxConcurrency) — one batch at a time, one DuckDB writer.

export interface LocalStackOptions {
  /** Query API port on 127.0.0.1 (0 = any free port). */
  port: number;
  /** moto_server port (default: any free port). Ignored with an existing endpoint. */
  motoPort?: number;
  /** Use this S3/SQS endpoint instead of starting moto (default: AWS_ENDPOINT_URL if set). */
  endpoint?: string;
  bucket?: string;
  region?: string;
  /** Queue visibility timeout, seconds (default: the stack's, 6x the ingest timeout). */
  visibilityTimeoutSeconds?: number;
  batchSize?: number;
  batchWindowSeconds?: number;
  maxReceiveCount?: number;
  /** Where handler logs go (default: stderr; stdout carries only the export lines). */
  log?: (line: string) => void;
}

export interface LocalStack {
  endpoint: string;
  bucket: string;
  region: string;
  apiUrl: string;
  queueUrl: string;
  dlqUrl: string;
  /** Whether moto was started here (and is stopped by stop()). */
  startedMoto: boolean;
  /** The environment a client shell needs (the export lines). */
  env: Record<string, string>;
  stats: { batches: number; records: number; failures: number; deleted: number };
  stop: () => Promise<void>;
}

export const LOCAL_DEFAULTS = { bucket: 'fleetprof-local', region: 'us-east-1' } as const;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * moto_server on 127.0.0.1:`port`, once it answers. Its request log (stderr) goes to a file, never
 * a pipe: a pipe is drained by this process's event loop, which a caller blocks while it runs the
 * CLI with spawnSync; once the pipe is full (~64 KB of request lines) moto blocks writing its log,
 * the CLI waits for moto, and both hang (what hung `npm run test:athena` in `fleetprof compact
 * --bucket`, and compact-lambda). The file goes when moto exits.
 */
export async function startMotoServer(port: number, timeoutMs = 30_000): Promise<{ endpoint: string; child: ChildProcess }> {
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'moto-log-'));
  const logFile = path.join(logDir, 'stderr.log');
  const fd = openSync(logFile, 'w');
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  child.once('exit', () => rmSync(logDir, { recursive: true, force: true }));
  const endpoint = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (spawnError) throw new Error(`cannot start moto_server (${spawnError.message}); install it with pip install "moto[server]" or set AWS_ENDPOINT_URL`);
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode}): ${tail()}`);
    try {
      const r = await fetch(`${endpoint}/moto-api/`);
      if (r.status < 500) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() - t0 > timeoutMs) {
      child.kill('SIGTERM');
      throw new Error(`moto_server did not start within ${timeoutMs} ms: ${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoint, child };
}

function errName(e: unknown): string {
  return (e as { name?: string })?.name ?? '';
}

/** Create (or, on an existing endpoint, update) a queue with these attributes; returns URL and ARN. */
async function ensureQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<{ url: string; arn: string }> {
  let url: string;
  try {
    url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl!;
  } catch (e) {
    if (!/QueueAlreadyExists|QueueNameExists/.test(errName(e))) throw e;
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  }
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  return { url, arn };
}

/** An SQS message as the Lambda event source mapping hands it to the function. */
export function toSqsRecord(m: Message, queueArn: string, region: string): SQSRecord {
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? '',
    attributes: (m.Attributes ?? {}) as Record<string, string>,
    messageAttributes: {},
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/** A node:http request as a Function URL event (payload 2.0). */
async function toHttpEvent(req: import('node:http').IncomingMessage): Promise<HttpEventV2> {
  const r = await fromNodeRequest(req, 6 * 1024 * 1024);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  return {
    version: '2.0',
    rawPath: r.path,
    rawQueryString: r.query,
    headers,
    body: r.body === '' ? undefined : r.body,
    isBase64Encoded: false,
    requestContext: { http: { method: r.method, path: r.path } },
  };
}

/**
 * Start the local stack. Sets process.env (endpoint, dummy credentials, region, FLEETPROF_BUCKET, a
 * cache directory) before loading the handlers: they create their SDK clients at module scope.
 */
export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  const log = o.log ?? ((line: string) => void process.stderr.write(line + '\n'));
  const region = o.region ?? process.env.AWS_REGION ?? LOCAL_DEFAULTS.region;
  const bucket = o.bucket ?? LOCAL_DEFAULTS.bucket;
  const batchSize = o.batchSize ?? INGEST_FUNCTION.batchSize;
  const windowMs = 1000 * (o.batchWindowSeconds ?? INGEST_FUNCTION.maxBatchingWindowSeconds);
  let moto: ChildProcess | undefined;
  let endpoint = o.endpoint ?? process.env.AWS_ENDPOINT_URL ?? '';
  if (!endpoint) {
    const m = await startMotoServer(o.motoPort ?? (await freePort()));
    moto = m.child;
    endpoint = m.endpoint;
  }
  const stopMoto = () =>
    new Promise<void>((resolve) => {
      if (!moto || moto.exitCode !== null || moto.signalCode !== null) return resolve();
      moto.once('exit', () => resolve());
      moto.kill('SIGTERM');
    });
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-local-'));
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID || 'testing',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY || 'testing',
    AWS_REGION: region,
    [ENV.bucket]: bucket,
  };
  Object.assign(process.env, env, {
    [ENV.cacheDir]: process.env[ENV.cacheDir] || path.join(cacheDir, 'cache'),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || String(INGEST_FUNCTION.memoryMb),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?? 'true',
  });

  const s3 = new S3Client({ region, endpoint, forcePathStyle: true });
  const sqs = new SQSClient({ region, endpoint });
  let server: Server | undefined;
  try {
    // The resources, exactly as the stack declares them (lib/aws/resources.ts).
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (e) {
      if (!/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(errName(e))) throw e;
    }
    const dlq = await ensureQueue(sqs, INGEST_QUEUE.dlqName, dlqAttributes());
    const attrs = ingestQueueAttributes(dlq.arn);
    if (o.visibilityTimeoutSeconds !== undefined) attrs.VisibilityTimeout = String(o.visibilityTimeoutSeconds);
    if (o.maxReceiveCount !== undefined) attrs.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: o.maxReceiveCount });
    const queue = await ensureQueue(sqs, INGEST_QUEUE.name, attrs);
    await s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: bucket, NotificationConfiguration: notificationConfiguration(queue.arn) }));

    // Handlers after the environment: their clients read it at module load.
    const ingest = require('../../lambdas/ingest') as { handler: (e: SQSEvent) => Promise<SQSBatchResponse> };
    const query = require('../../lambdas/query') as { handler: (e: HttpEventV2) => Promise<HttpResultV2> };

    let apiPort = o.port;
    server = createHttpServer((req, res) => {
      // Loopback HTTP like `fleetprof serve`: Host must be this server, no foreign Origin (DNS
      // rebinding, cross-origin POSTs; lib/api/http-guard.ts).
      const refused = checkHttpRequest(req.headers, { bindAddress: '127.0.0.1', port: apiPort });
      if (refused) {
        req.resume();
        res.writeHead(refused.status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ error: refused.error }));
        return;
      }
      void (async () => {
        const r = await query.handler(await toHttpEvent(req));
        res.writeHead(r.statusCode, r.headers);
        res.end(r.isBase64Encoded ? Buffer.from(r.body, 'base64') : r.body);
      })().catch((e: Error) => {
        log(JSON.stringify({ level: 'ERROR', msg: 'query handler threw', reason: e.message }));
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
        res.end('{"error":"query handler failed"}');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(o.port, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    apiPort = typeof addr === 'object' && addr ? addr.port : o.port;
    const apiUrl = `http://127.0.0.1:${apiPort}`;

    // The event source mapping.
    const stats = { batches: 0, records: 0, failures: 0, deleted: 0 };
    const abort = new AbortController();
    let stopping = false;
    const receive = async (max: number, waitSeconds: number): Promise<Message[]> => {
      const r = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: Math.min(10, max), WaitTimeSeconds: waitSeconds, AttributeNames: ['All'] }),
        { abortSignal: abort.signal },
      );
      return r.Messages ?? [];
    };
    const poll = async () => {
      while (!stopping) {
        let batch: Message[];
        try {
          batch = await receive(batchSize, 20);
          const deadline = Date.now() + windowMs;
          while (!stopping && batch.length < batchSize && Date.now() < deadline) {
            const wait = Math.max(0, Math.min(20, Math.ceil((deadline - Date.now()) / 1000)));
            batch.push(...(await receive(batchSize - batch.length, wait)));
          }
        } catch (e) {
          if (stopping) break;
          log(JSON.stringify({ level: 'ERROR', msg: 'ReceiveMessage failed', error: errName(e), reason: (e as Error).message }));
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        if (batch.length === 0) continue;
        const records = batch.map((m) => toSqsRecord(m, queue.arn, region));
        let failed: Set<string>;
        try {
          const res = await ingest.handler({ Records: records });
          failed = new Set((res?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        } catch (e) {
          // A thrown handler error fails the whole batch.
          log(JSON.stringify({ level: 'ERROR', msg: 'ingest handler threw; the whole batch will be retried', reason: (e as Error).message }));
          failed = new Set(records.map((r) => r.messageId));
        }
        stats.batches++;
        stats.records += records.length;
        stats.failures += failed.size;
        const done = records.filter((r) => !failed.has(r.messageId));
        for (let i = 0; i < done.length; i += 10) {
          const chunk = done.slice(i, i + 10);
          try {
            await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queue.url, Entries: chunk.map((r, j) => ({ Id: String(j), ReceiptHandle: r.receiptHandle })) }));
            stats.deleted += chunk.length;
          } catch (e) {
            // Not deleted: the messages come back after the visibility timeout (ingest is idempotent).
            log(JSON.stringify({ level: 'ERROR', msg: 'DeleteMessageBatch failed', reason: (e as Error).message }));
          }
        }
      }
    };
    const polling = poll();

    let stopped: Promise<void> | undefined;
    const stop = () =>
      (stopped ??= (async () => {
        stopping = true;
        abort.abort();
        await polling.catch(() => undefined);
        await new Promise<void>((resolve) => server!.close(() => resolve()));
        server!.closeAllConnections?.();
        s3.destroy();
        sqs.destroy();
        await stopMoto();
        rmSync(cacheDir, { recursive: true, force: true });
      })());
    return { endpoint, bucket, region, apiUrl, queueUrl: queue.url, dlqUrl: dlq.url, startedMoto: moto !== undefined, env: { ...env, FLEETPROF_API: apiUrl }, stats, stop };
  } catch (e) {
    server?.close();
    s3.destroy();
    sqs.destroy();
    await stopMoto();
    rmSync(cacheDir, { recursive: true, force: true });
    throw e;
  }
}

/** `export NAME='value'` lines a POSIX shell can eval. */
export function exportLines(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n');
}

/** Route console.log (the handlers' JSON logs) to a sink, keeping stdout for the export lines. */
export function redirectConsoleLog(sink: (line: string) => void): void {
  console.log = (...args: unknown[]) => sink(format(...args));
}
