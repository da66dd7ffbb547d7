import { parseTime } from '../lib/model/time';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeS3Client, makeSesClient } from '../lib/aws/clients';
import { digestConfigFromEnv, runDigestJob, type DigestJobResult } from '../lib/aws/digest-job';
import { lambdaObservability } from '../lib/aws/observability';
import { ENV, PREFIXES } from '../lib/aws/resources';
import { lambdaDuckDbSettings } from '../lib/aws/runtime';
import { S3Store } from '../lib/aws/s3-store';

// EventBridge Scheduler -> the digest of the window ending now (or at the event's `now`, a time in
// lib/model/time.ts's grammar, for a re-run): archived under digests/ and mailed with SES. All logic in lib/aws/digest-job.ts.

const s3 = makeS3Client();
const ses = makeSesClient();
const obs = lambdaObservability('digest');

export interface DigestEvent {
  /** End of the window (default: the invocation time). */
  now?: string;
}

export async function handler(event: DigestEvent | undefined): Promise<DigestJobResult> {
  let nowUs = Date.now() * 1000;
  if (event?.now !== undefined) {
    try {
      nowUs = parseTime(String(event.now), nowUs);
    } catch (e) {
      throw new Error(`event.now: ${(e as Error).message}`);
    }
  }
  const cfg = digestConfigFromEnv();
  const store = new S3Store({ client: s3, bucket: cfg.bucket, prefix: PREFIXES.tables, cacheDir: process.env[ENV.cacheDir] || path.join(os.tmpdir(), 'fleetprof-cache') });
  try {
    return await runDigestJob(cfg, { s3, ses, store, settings: lambdaDuckDbSettings(), log: (e) => obs.log(e) }, nowUs);
  } catch (e) {
    obs.log({ level: 'ERROR', msg: 'digest failed', error: (e as Error).name, reason: (e as Error).message, stack: (e as Error).stack });
    throw e;
  } finally {
    obs.flush();
  }
}
