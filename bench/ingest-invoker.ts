// One "Lambda invocation stream" for bench/ingest.ts: a child process that loads an ingest handler
// (this build's or OLD's dist/lambdas/ingest.js), warms it with one batch, says ready, and on "go"
// calls it over its share of the keys in SQS batches, then reports its wall and CPU time. Two of
// them side by side against one moto are what two concurrent Lambda invocations are on this
// machine. The moto environment comes from the parent (test/helpers/moto.ts startMotoS3).
import type { SQSEvent } from '../lib/aws/events';
import { s3EventRecord } from '../test/helpers/moto';

type Handler = (e: SQSEvent) => Promise<{ batchItemFailures: unknown[] }>;

interface Job {
  handler: string;
  bucket: string;
  region: string;
  keys: string[];
  warm: string[];
  batch: number;
}

export interface InvokerReport {
  wallMs: number;
  cpuMs: number;
  failures: number;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.FLEETPROF_INVOKER_JOB ?? '') as Job;
  // The handler logs a line per object (Powertools, stdout): not the bench's business.
  process.stdout.write = (() => true) as typeof process.stdout.write;
  const { handler } = require(job.handler) as { handler: Handler };
  const record = (k: string, i: number) => s3EventRecord(job.bucket, k, i, job.region);
  await handler({ Records: job.warm.map((k, i) => record(k, -1 - i)) });
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send!('ready');
  });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let failures = 0;
  for (let i = 0; i < job.keys.length; i += job.batch) {
    const r = await handler({ Records: job.keys.slice(i, i + job.batch).map((k, j) => record(k, i + j)) });
    failures += r.batchItemFailures.length;
  }
  const c = process.cpuUsage(c0);
  const report: InvokerReport = { wallMs: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, failures };
  process.send!(report, () => process.exit(0));
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
