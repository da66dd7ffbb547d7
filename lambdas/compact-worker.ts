import { makeS3Client } from '../lib/aws/clients';
import { compactLambdaOptions, runCompactWorker } from '../lib/aws/compact-job';
import { compactQueueUrl, makeSqsClient, sqsSend } from '../lib/aws/compact-queue';
import type { LambdaContext, SQSBatchResponse, SQSEvent } from '../lib/aws/events';
import { lambdaObservability } from '../lib/aws/observability';
import { COMPACT_WORKER_FUNCTION } from '../lib/aws/resources';
import { tablesBucket, tablesStore, trimTablesCache } from '../lib/aws/tables-store';

// The compaction queue -> one work message per invocation (a unit of a job, or a dt's rollups;
// lib/store/compact-jobs.ts). A failed message is reported in batchItemFailures: SQS redelivers it
// (maxReceiveCount times, then the DLQ); everything a message does is safe to repeat. All logic in
// lib/aws/compact-job.ts.

const s3 = makeS3Client();
const sqs = makeSqsClient();
const obs = lambdaObservability('compact-worker');

export async function handler(event: SQSEvent, context?: LambdaContext): Promise<SQSBatchResponse> {
  obs.start(context);
  try {
    const store = tablesStore(s3, tablesBucket());
    // Copies of inputs other invocations retired and deleted stay in this environment's /tmp: bounded here, with nothing in flight.
    await trimTablesCache(store, COMPACT_WORKER_FUNCTION);
    const send = sqsSend(sqs, compactQueueUrl());
    const records = event.Records ?? [];
    const r = await runCompactWorker({ store, send, ...compactLambdaOptions(), log: (e) => obs.log(e) }, records.map((x) => x.body), Date.now() * 1000);
    return { batchItemFailures: r.failed.map((i) => ({ itemIdentifier: records[i].messageId })) };
  } finally {
    obs.flush();
  }
}
