import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { makeS3Client } from '../lib/aws/clients';
import type { SQSBatchResponse, SQSEvent } from '../lib/aws/events';
import { ingestSqsBatch } from '../lib/aws/ingest-object';
import { lambdaObservability } from '../lib/aws/observability';
import { DEFAULT_MAX_OBJECT_BYTES, ENV, PREFIXES } from '../lib/aws/resources';
import { envInt, lambdaDuckDbSettings } from '../lib/aws/runtime';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { S3Store } from '../lib/aws/s3-store';

// SQS (S3 ObjectCreated under raw/) -> decode -> Parquet under tables/. Partial batch responses:
// only records that failed transiently are retried. All logic lives in lib/aws/ingest-object.ts.

const s3 = makeS3Client();
const obs = lambdaObservability('ingest');
let ready: Promise<{ instance: DuckDBInstance; writer: ParquetWriter }> | undefined;
const stores = new Map<string, S3Store>();

function init(): Promise<{ instance: DuckDBInstance; writer: ParquetWriter }> {
  // Module scope: created once per execution environment, reused by warm invocations.
  ready ??= (async () => {
    const instance = await openDuckDb(lambdaDuckDbSettings());
    return { instance, writer: await ParquetWriter.create(instance) };
  })();
  return ready;
}

function storeFor(bucket: string): S3Store {
  const b = process.env[ENV.bucket] || bucket;
  let s = stores.get(b);
  if (!s) {
    s = new S3Store({
      client: s3,
      bucket: b,
      prefix: PREFIXES.tables,
      cacheDir: process.env[ENV.cacheDir] || path.join(os.tmpdir(), 'fleetprof-cache'),
    });
    stores.set(b, s);
  }
  return s;
}

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const { writer } = await init();
  try {
    return await ingestSqsBatch(
      {
        s3,
        context: (bucket) => ({ store: storeFor(bucket), writer }),
        maxObjectBytes: envInt(process.env, ENV.maxObjectBytes, DEFAULT_MAX_OBJECT_BYTES),
        maxDecompressedBytes: process.env[ENV.maxDecompressedBytes] ? envInt(process.env, ENV.maxDecompressedBytes, 1) : undefined,
        log: (e) => obs.log(e),
      },
      event.Records ?? [],
    );
  } finally {
    obs.flush();
  }
}
