// moto (`moto_server`) for tests and benchmarks: started on a free loopback port (the one starter,
// lib/aws/local-stack.ts startMotoServer), the environment the Lambda handlers read pointed at it,
// a bucket, and SQS records as the event source mapping hands them to the ingest handler.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { SQSRecord } from '../../lib/aws/events';
import { freePort, startMotoServer } from '../../lib/aws/local-stack';
import { INGEST_FUNCTION } from '../../lib/aws/resources';

export function motoAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' }).status === 0;
}

export interface Moto {
  endpoint: string;
  stop: () => Promise<void>;
}

export async function startMoto(timeoutMs = 30_000): Promise<Moto> {
  const { endpoint, child } = await startMotoServer(await freePort(), timeoutMs);
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * The environment the Lambda handlers read, pointed at moto: endpoint, dummy credentials, the
 * bucket and a download cache. Tests spread their own extra variables over it.
 */
export function lambdaEnv(moto: Pick<Moto, 'endpoint'>, o: { region: string; bucket: string; cacheDir: string }): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: o.region,
    FLEETPROF_BUCKET: o.bucket,
    FLEETPROF_CACHE_DIR: o.cacheDir,
  };
}

/** An S3 client for moto (path-style, dummy credentials) and the bucket, created. */
export async function motoBucket(moto: Pick<Moto, 'endpoint'>, region: string, bucket: string): Promise<S3Client> {
  const s3 = new S3Client({ region, endpoint: moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return s3;
}

/** One test file's moto (motoSandbox): the server, an S3 client of its bucket, a temp directory. */
export interface MotoSandbox {
  readonly moto: Moto;
  readonly s3: S3Client;
  readonly tmp: string;
  /** Stops moto, removes the temp directory and restores the environment. */
  close(): Promise<void>;
}

/**
 * The moto setup the S3 tests share: moto started, `bucket` created, a temp directory
 * (`tmpPrefix`), and with `env` the handlers' environment set in this process (lambdaEnv, the
 * download cache at <tmp>/cache, and `env`'s extra variables when it is an object).
 */
export async function motoSandbox(o: { bucket: string; tmpPrefix: string; region?: string; env?: boolean | Record<string, string> }): Promise<MotoSandbox> {
  const region = o.region ?? 'us-east-1';
  const saved = { ...process.env };
  const moto = await startMoto();
  const tmp = mkdtempSync(path.join(os.tmpdir(), o.tmpPrefix));
  const restore = () => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  };
  let s3: S3Client;
  try {
    if (o.env) Object.assign(process.env, lambdaEnv(moto, { region, bucket: o.bucket, cacheDir: path.join(tmp, 'cache') }), o.env === true ? {} : o.env);
    s3 = await motoBucket(moto, region, o.bucket);
  } catch (e) {
    restore();
    await moto.stop();
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return {
    moto,
    s3,
    tmp,
    close: async () => {
      s3.destroy();
      await moto.stop();
      rmSync(tmp, { recursive: true, force: true });
      restore();
    },
  };
}

/** The SQS record of an S3 ObjectCreated notification for `key`, as the ingest handler receives it. */
export function s3EventRecord(bucket: string, key: string, i: number, region = 'us-east-1'): SQSRecord {
  return {
    messageId: `m-${i}`,
    receiptHandle: `r-${i}`,
    body: JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: bucket }, object: { key: encodeURIComponent(key) } } }] }),
    attributes: { ApproximateReceiveCount: '1' },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:${region}:000000000000:q`,
    awsRegion: region,
  };
}

/** moto with the handlers' environment set in this process (memory as the stack's ingest function) and the bucket created: the ingest benchmarks' S3. */
export interface MotoS3 {
  endpoint: string;
  s3: S3Client;
  /** moto's process id (the benchmarks read its CPU time). */
  pid: number | undefined;
  stop: () => void;
}

export async function startMotoS3(o: { region: string; bucket: string; cacheDir: string }): Promise<MotoS3> {
  const moto = await startMotoServer(await freePort());
  Object.assign(process.env, lambdaEnv(moto, o), {
    AWS_ENDPOINT_URL_S3: moto.endpoint,
    // DuckDB gets its share of memory and threads as on Lambda.
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(INGEST_FUNCTION.memoryMb),
  });
  const s3 = await motoBucket(moto, o.region, o.bucket);
  return { endpoint: moto.endpoint, s3, pid: moto.child.pid, stop: () => (s3.destroy(), moto.child.kill()) };
}

/** Parquet objects under `prefix` in the bucket, every page listed (what the stack's jobs wrote or left). */
export async function countParquetObjects(s3: S3Client, bucket: string, prefix = 'tables/'): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    n += (r.Contents ?? []).filter((o) => o.Key!.endsWith('.parquet')).length;
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return n;
}
