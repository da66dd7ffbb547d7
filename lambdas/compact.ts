import { makeS3Client } from '../lib/aws/clients';
import { compactClock, compactLambdaOptions, runCompactPlanner, type CompactEvent, type PlannerResult } from '../lib/aws/compact-job';
import { compactQueueUrl, makeSqsClient, sqsSend } from '../lib/aws/compact-queue';
import type { LambdaContext } from '../lib/aws/events';
import { lambdaObservability } from '../lib/aws/observability';
import { COMPACT_FUNCTION } from '../lib/aws/resources';
import { tablesQuarantine } from '../lib/aws/quarantine';
import { tablesBucket, tablesStore, trimTablesCache } from '../lib/aws/tables-store';

// EventBridge Scheduler -> the compaction planner at the scheduled time (lib/infra/compaction.ts):
// deferred deletes, due hours and days planned as jobs, one message per unit to the compaction
// queue (lambdas/compact-worker.ts does the units). Reserved concurrency 1. All logic in
// lib/aws/compact-job.ts.

const s3 = makeS3Client();
const sqs = makeSqsClient();
const obs = lambdaObservability('compact');

export async function handler(event: CompactEvent | undefined, context?: LambdaContext): Promise<PlannerResult> {
  obs.start(context);
  try {
    const nowUs = compactClock(event, Date.now() * 1000);
    const bucket = tablesBucket();
    const store = tablesStore(s3, bucket);
    // Copies of inputs other invocations retired and deleted stay in this environment's /tmp: bounded here, with nothing in flight.
    await trimTablesCache(store, COMPACT_FUNCTION);
    const send = sqsSend(sqs, compactQueueUrl());
    // An unreadable fresh file of a closed hour is copied to quarantine/tables/<key> and skipped (lib/store/compact.ts).
    return await runCompactPlanner({ store, send, ...compactLambdaOptions(), quarantine: tablesQuarantine(s3, bucket), log: (e) => obs.log({ ...e, attempt: event?.attempt }) }, nowUs);
  } catch (e) {
    obs.log({ level: 'ERROR', msg: 'compaction planning failed', error: (e as Error).name, reason: (e as Error).message, stack: (e as Error).stack });
    throw e;
  } finally {
    obs.flush();
  }
}
