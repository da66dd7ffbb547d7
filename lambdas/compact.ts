import { makeS3Client } from '../lib/aws/clients';
import { compactClock, runCompactJob, type CompactEvent, type CompactJobResult } from '../lib/aws/compact-job';
import type { LambdaContext } from '../lib/aws/events';
import { lambdaObservability } from '../lib/aws/observability';
import { lambdaDuckDbSettings } from '../lib/aws/runtime';
import { tablesBucket, tablesStore } from '../lib/aws/tables-store';

// EventBridge Scheduler -> compaction of tables/ at the scheduled time (lib/infra/compaction.ts).
// Reserved concurrency 1: never two runs of the schedule at once. All logic in lib/aws/compact-job.ts.

const s3 = makeS3Client();
const obs = lambdaObservability('compact');

export async function handler(event: CompactEvent | undefined, context?: LambdaContext): Promise<CompactJobResult> {
  obs.start(context);
  try {
    const nowUs = compactClock(event, Date.now() * 1000);
    const store = tablesStore(s3, tablesBucket());
    return await runCompactJob({ store, settings: lambdaDuckDbSettings(), log: (e) => obs.log({ ...e, attempt: event?.attempt }) }, nowUs);
  } catch (e) {
    obs.log({ level: 'ERROR', msg: 'compaction failed', error: (e as Error).name, reason: (e as Error).message, stack: (e as Error).stack });
    throw e;
  } finally {
    obs.flush();
  }
}
