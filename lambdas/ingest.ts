import type { DuckDBInstance } from '@duckdb/node-api';
import { makeS3Client } from '../lib/aws/clients';
import type { LambdaContext, SQSBatchResponse, SQSEvent } from '../lib/aws/events';
import { ingestSqsBatch } from '../lib/aws/ingest-object';
import { lambdaObservability } from '../lib/aws/observability';
import { DEFAULT_MAX_OBJECT_BYTES, ENV } from '../lib/aws/resources';
import { envInt, lambdaDuckDbSettings } from '../lib/aws/runtime';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { tablesBucket, tablesStore } from '../lib/aws/tables-store';

// SQS (S3 ObjectCreated under raw/) -> decode -> Parquet under tables/. Partial batch responses:
// only records that failed transiently are retried. All logic lives in lib/aws/ingest-object.ts.

const s3 = makeS3Client();
const obs = lambdaObservability('ingest');
let ready: Promise<{ instance: DuckDBInstance; writer: ParquetWriter }> | undefined;

function init(): Promise<{ instance: DuckDBInstance; writer: ParquetWriter }> {
  // Module scope: created once per execution environment, reused by warm invocations.
  ready ??= (async () => {
    // One DuckDB thread for the whole instance: the handler's COPYs are small (ParquetWriter.write
    // runs them on one thread anyway); without the per-COPY thread switches the handler spent
    // 6.0 CPU ms per profile over bundles against 8.2-10.6 (bench/ingest-ab.ts, load 23-29).
    const instance = await openDuckDb({ ...lambdaDuckDbSettings(), threads: 1 });
    return { instance, writer: await ParquetWriter.create(instance) };
  })();
  return ready;
}

export async function handler(event: SQSEvent, context?: LambdaContext): Promise<SQSBatchResponse> {
  obs.start(context);
  const { writer } = await init();
  try {
    return await ingestSqsBatch(
      {
        s3,
        context: (bucket) => ({ store: tablesStore(s3, tablesBucket(process.env, bucket)), writer }),
        maxObjectBytes: envInt(process.env, ENV.maxObjectBytes, DEFAULT_MAX_OBJECT_BYTES),
        maxDecompressedBytes: process.env[ENV.maxDecompressedBytes] ? envInt(process.env, ENV.maxDecompressedBytes, 1) : undefined,
        log: (e) => obs.log(e),
        onOutcome: (outcome, ms) => obs.countObject(outcome, ms),
      },
      event.Records ?? [],
    );
  } finally {
    obs.flush();
  }
}
