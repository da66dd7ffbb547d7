import * as os from 'node:os';
import * as path from 'node:path';
import { makeS3Client, makeSesClient } from '../lib/aws/clients';
import { digestConfigFromEnv, runDigestJob, type DigestJobResult } from '../lib/aws/digest-job';
import { lambdaObservability } from '../lib/aws/observability';
import { ENV, PREFIXES } from '../lib/aws/resources';
import { lambdaDuckDbSettings } from '../lib/aws/runtime';
import { S3Store } from '../lib/aws/s3-store';

// EventBridge Scheduler -> the digest of the window ending now (or at the event's `now`, ISO-8601,
// for a re-run): archived under digests/ and mailed with SES. All logic in lib/aws/digest-job.ts.

const s3 = makeS3Client();
const ses = makeSesClient();
const obs = lambdaObservability('digest');

export interface DigestEvent {
  /** End of the window (default: the invocation time). */
  now?: string;
}

export async function handler(event: DigestEvent | undefined): Promise<DigestJobResult> {
  const cfg = digestConfigFromEnv();
  const store = new S3Store({ client: s3, bucket: cfg.bucket, prefix: PREFIXES.tables, cacheDir: process.env[ENV.cacheDir] || path.join(os.tmpdir(), 'fleetprof-cache') });
  let nowMs = Date.now();
  if (event?.now !== undefined) {
    nowMs = Date.parse(event.now);
    if (Number.isNaN(nowMs)) throw new Error(`event.now is not an ISO-8601 time: "${event.now}"`);
  }
  try {
    return await runDigestJob(cfg, { s3, ses, store, settings: lambdaDuckDbSettings(), log: (e) => obs.log(e) }, nowMs * 1000);
  } catch (e) {
    obs.log({ level: 'ERROR', msg: 'digest failed', error: (e as Error).name, reason: (e as Error).message, stack: (e as Error).stack });
    throw e;
  } finally {
    obs.flush();
  }
}
