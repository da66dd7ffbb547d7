import { parseTime } from '../lib/model/time';
import { makeS3Client, makeSesClient } from '../lib/aws/clients';
import { digestConfigFromEnv, runDigestJob, type DigestJobResult } from '../lib/aws/digest-job';
import { lambdaObservability } from '../lib/aws/observability';
import { lambdaDuckDbSettings } from '../lib/aws/runtime';
import { tablesStore } from '../lib/aws/tables-store';
import type { LambdaContext } from '../lib/aws/events';

// EventBridge Scheduler -> the digest of the window ending now (or at the event's `now`, a time in
// lib/model/time.ts's grammar, for a re-run): archived under digests/ and mailed with SES. All logic in lib/aws/digest-job.ts.

const s3 = makeS3Client();
const ses = makeSesClient();
const obs = lambdaObservability('digest');

export interface DigestEvent {
  /** End of the window (default: the invocation time). */
  now?: string;
}

export async function handler(event: DigestEvent | undefined, context?: LambdaContext): Promise<DigestJobResult> {
  obs.start(context);
  let nowUs = Date.now() * 1000;
  if (event?.now !== undefined) {
    try {
      nowUs = parseTime(String(event.now), nowUs);
    } catch (e) {
      throw new Error(`event.now: ${(e as Error).message}`, { cause: e });
    }
  }
  const cfg = digestConfigFromEnv();
  const store = tablesStore(s3, cfg.bucket);
  try {
    return await runDigestJob(cfg, { s3, ses, store, settings: lambdaDuckDbSettings(), log: (e) => obs.log(e) }, nowUs);
  } catch (e) {
    obs.log({ level: 'ERROR', msg: 'digest failed', error: (e as Error).name, reason: (e as Error).message, stack: (e as Error).stack });
    throw e;
  } finally {
    obs.flush();
  }
}
