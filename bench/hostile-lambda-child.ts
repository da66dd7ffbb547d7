// One object through a build's real ingest Lambda handler (bench/hostile.ts --lambda), in a process
// of its own so its peak RSS (bench/hwm-hook.ts, preloaded) is the handler's: the environment
// (moto endpoint, limits) comes from the parent. Prints one line `RESULT <json>`: the batch's
// retried messages and, when the object was quarantined, the reason stored next to it.
//
//   node --require dist/bench/hwm-hook.js dist/bench/hostile-lambda-child.js <handler.js> <bucket> <key>
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SQSBatchResponse, SQSEvent } from '../lib/aws/events';
import { quarantineKey } from '../lib/aws/quarantine';
import { s3EventRecord } from '../test/helpers/moto';

async function main(): Promise<void> {
  const [handlerPath, bucket, key] = process.argv.slice(2);
  const region = process.env.AWS_REGION ?? 'us-east-1';
  // The handler's own logs go to stdout; only the RESULT line is this script's.
  const { handler } = (await import(handlerPath)) as { handler: (e: SQSEvent) => Promise<SQSBatchResponse> };
  const res = await handler({ Records: [s3EventRecord(bucket, key, 1, region)] });
  const s3 = new S3Client({ region, endpoint: process.env.AWS_ENDPOINT_URL, forcePathStyle: true });
  let reason: string | undefined;
  try {
    const q = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${quarantineKey(key)}.reason.json` }));
    reason = (JSON.parse(await q.Body!.transformToString()) as { reason: string }).reason;
  } catch {
    /* not quarantined */
  }
  s3.destroy();
  process.stdout.write(`RESULT ${JSON.stringify({ retried: res.batchItemFailures.length, reason })}\n`);
  // The handler's DuckDB and S3 client keep the loop alive (a Lambda is frozen, not ended).
  process.exit(0);
}

void main();
