// The compaction side of the stack on moto, as the moto suites drive it: moto started, the bucket
// and the work queue (with its DLQ redrive) created, the Lambda environment the stack sets, and the
// real planner and worker handlers imported after it (they read the environment at load). One home
// for that setup, which compact-lambda, compact-fanout and rollup-fanout each carried a copy of.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { COMPACT_FUNCTION } from '../../lib/aws/resources';
import { S3Store } from '../../lib/aws/s3-store';
import { createWorkQueue, type WorkerHandler, type WorkQueue } from './compact-queue';
import { lambdaEnv, motoBucket, startMoto, type Moto } from './moto';

export type PlannerHandler = (typeof import('../../lambdas/compact'))['handler'];

export interface CompactStack {
  moto: Moto;
  /** A temporary directory removed by stop(): the Lambdas' cache under `cache/`, the test's own S3Store under `test-cache/` and `scratch/`. */
  tmp: string;
  s3: S3Client;
  /** The test's own view of the bucket's `tables/` (a separate cache from the handlers'). */
  store: S3Store;
  queue: WorkQueue;
  planner: PlannerHandler;
  worker: WorkerHandler;
  /** Stops moto, removes `tmp`, restores process.env and the stdout spy. */
  stop(): Promise<void>;
}

export interface CompactStackOptions {
  bucket: string;
  region: string;
  /** Names the temporary directory (fleetprof-<name>-XXXX). */
  name: string;
  /** Extra environment for the handlers (unit sizes and the like), set before they load. */
  env?: Record<string, string>;
}

export async function startCompactStack(o: CompactStackOptions): Promise<CompactStack> {
  const saved = { ...process.env };
  const moto = await startMoto();
  const tmp = mkdtempSync(path.join(os.tmpdir(), `fleetprof-${o.name}-`));
  try {
    return await setUp(o, moto, tmp, saved);
  } catch (e) {
    await moto.stop();
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

async function setUp(o: CompactStackOptions, moto: Moto, tmp: string, saved: NodeJS.ProcessEnv): Promise<CompactStack> {
  const queue = await createWorkQueue(moto.endpoint, o.region);
  Object.assign(process.env, {
    ...lambdaEnv(moto, { region: o.region, bucket: o.bucket, cacheDir: path.join(tmp, 'cache') }),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(COMPACT_FUNCTION.memoryMb),
    FLEETPROF_COMPACT_QUEUE_URL: queue.url,
    ...o.env,
  });
  const s3 = await motoBucket(moto, o.region, o.bucket);
  const store = new S3Store({ client: s3, bucket: o.bucket, prefix: 'tables/', cacheDir: path.join(tmp, 'test-cache'), scratchDir: path.join(tmp, 'scratch') });
  jest.spyOn(process.stdout, 'write').mockImplementation(() => true); // Powertools JSON logs
  const planner = (await import('../../lambdas/compact')).handler;
  const worker = (await import('../../lambdas/compact-worker')).handler;
  return {
    moto,
    tmp,
    s3,
    store,
    queue,
    planner,
    worker,
    async stop() {
      jest.restoreAllMocks();
      s3.destroy();
      queue.sqs.destroy();
      await moto.stop();
      rmSync(tmp, { recursive: true, force: true });
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    },
  };
}
