import { makeS3Client } from '../lib/aws/clients';
import { compactClock, runMergeJob, type CompactEvent, type MergeJobResult } from '../lib/aws/compact-job';
import type { LambdaContext } from '../lib/aws/events';
import { lambdaObservability } from '../lib/aws/observability';
import { MERGE_FUNCTION } from '../lib/aws/resources';
import { lambdaDuckDbSettings } from '../lib/aws/runtime';
import { tablesQuarantine } from '../lib/aws/quarantine';
import { tablesBucket, tablesStore, trimTablesCache } from '../lib/aws/tables-store';

// EventBridge Scheduler -> the merger every minute (lib/infra/merge.ts): the open hours' settled
// batch files merged into one file per table (lib/store/merge.ts). Reserved concurrency 1. All
// logic in lib/aws/compact-job.ts runMergeJob. A fresh file DuckDB cannot read is copied to
// quarantine/tables/<key> with <that>.reason.json beside it (as ingest quarantines an upload), then
// skipped by everyone: one bad file never blocks the hour's merge, reads or compaction.

const s3 = makeS3Client();
const obs = lambdaObservability('merge');

export async function handler(event: CompactEvent | undefined, context?: LambdaContext): Promise<MergeJobResult> {
  obs.start(context);
  try {
    // The scheduled time: a retried attempt merges as of the same minute (settledness is by batch age).
    const nowUs = compactClock(event, Date.now() * 1000);
    const bucket = tablesBucket();
    const quarantine = tablesQuarantine(s3, bucket);
    const store = tablesStore(s3, bucket);
    // Copies earlier invocations left (the merger forgets its inputs; other copies would pile up in /tmp).
    await trimTablesCache(store, MERGE_FUNCTION);
    return await runMergeJob({ store, settings: lambdaDuckDbSettings(), quarantine, log: (e) => obs.log({ ...e, attempt: event?.attempt }) }, nowUs);
  } catch (e) {
    obs.log({ level: 'ERROR', msg: 'merge failed', error: (e as Error).name, reason: (e as Error).message, stack: (e as Error).stack });
    throw e;
  } finally {
    obs.flush();
  }
}
