// The ingest Lambda's handler (lambdas/ingest.ts) against moto for one test file: registers the
// file's beforeAll/afterAll (moto up, the Lambda environment set and restored, a bucket, the
// handler loaded after the environment is set, its logs kept out of the test output).
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSBatchResponse, SQSEvent } from '../../lib/aws/events';
import { INGEST_FUNCTION } from '../../lib/aws/resources';
import { lambdaEnv, motoBucket, startMoto, type Moto } from './moto';

export interface IngestHandlerOnMoto {
  readonly s3: S3Client;
  readonly ingest: (e: SQSEvent) => Promise<SQSBatchResponse>;
}

export function ingestHandlerOnMoto(o: { bucket: string; region: string }): IngestHandlerOnMoto {
  const h = {} as { s3: S3Client; ingest: (e: SQSEvent) => Promise<SQSBatchResponse> };
  let moto: Moto | undefined;
  let tmp: string | undefined;
  const saved = { ...process.env };
  beforeAll(async () => {
    for (const stream of [process.stdout, process.stderr]) jest.spyOn(stream, 'write').mockImplementation(() => true);
    moto = await startMoto();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-handler-'));
    Object.assign(process.env, {
      ...lambdaEnv(moto, { region: o.region, bucket: o.bucket, cacheDir: path.join(tmp, 'cache') }),
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(INGEST_FUNCTION.memoryMb),
    });
    h.s3 = await motoBucket(moto, o.region, o.bucket);
    h.ingest = (await import('../../lambdas/ingest')).handler;
  }, 120_000);
  afterAll(async () => {
    jest.restoreAllMocks();
    h.s3?.destroy();
    await moto?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });
  return h;
}
