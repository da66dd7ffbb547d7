import type { Command } from 'commander';
import { INGEST_FUNCTION, INGEST_QUEUE } from '../../lib/aws/resources';
import { positiveInt } from './options';
import { action } from './run';

// `fleetprof local`: the serverless pipeline on this machine (lib/aws/local-stack.ts, loaded only
// for this command: it pulls in the AWS SDK and the Lambda handlers).

export interface LocalOptions {
  port: number;
  motoPort?: number;
  bucket?: string;
  visibilityTimeout?: number;
  batchSize?: number;
  batchWindow?: number;
  maxReceiveCount?: number;
  exportsFile?: string;
}

export function register(program: Command): void {
  program
    .command('local')
    .description('run the serverless pipeline locally: moto_server (S3 + SQS) with the stack\'s bucket, queues and notification, the ingest Lambda fed like its SQS event source mapping, the query Lambda on 127.0.0.1; prints export lines for upload/query clients')
    .option('--port <n>', 'query API port (0 = any free port)', positiveInt, 8787)
    .option('--moto-port <n>', 'moto_server port (default: any free port; not used when AWS_ENDPOINT_URL is set)', positiveInt)
    .option('--bucket <name>', 'bucket name', 'fleetprof-local')
    .option('--visibility-timeout <s>', `ingest queue visibility timeout, seconds (default: the stack's, ${INGEST_QUEUE.visibilityTimeoutSeconds})`, positiveInt)
    .option('--batch-size <n>', `event source batch size (default: the stack's, ${INGEST_FUNCTION.batchSize})`, positiveInt)
    .option('--batch-window <s>', `event source batching window, seconds (default: the stack's, ${INGEST_FUNCTION.maxBatchingWindowSeconds})`, positiveInt)
    .option('--max-receive-count <n>', `receives before a message moves to the DLQ (default: the stack's, ${INGEST_QUEUE.maxReceiveCount})`, positiveInt)
    .option('--exports-file <path>', 'also write the export lines to this file')
    .action(async (opts: LocalOptions) => {
      await action('local', runLocal)(opts);
      // Handler clients and DuckDB may keep the loop alive; everything has been stopped.
      process.exit(process.exitCode);
    });
}

export async function runLocal(o: LocalOptions): Promise<number> {
  const { startLocalStack, exportLines, redirectConsoleLog } = await import('../../lib/aws/local-stack');
  const { writeFileSync } = await import('node:fs');
  const err = (line: string) => void process.stderr.write(line + '\n');
  // stdout carries only the export lines. Everything else the handlers print (Powertools Logger
  // and EMF metrics write to process.stdout, console.log) goes to stderr.
  const stdout = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  redirectConsoleLog(err);
  let stack;
  try {
    stack = await startLocalStack({
      port: o.port,
      motoPort: o.motoPort,
      bucket: o.bucket,
      visibilityTimeoutSeconds: o.visibilityTimeout,
      batchSize: o.batchSize,
      batchWindowSeconds: o.batchWindow,
      maxReceiveCount: o.maxReceiveCount,
      log: err,
    });
  } catch (e) {
    err(`fleetprof local: ${(e as Error).message}`);
    return 1;
  }
  const lines = exportLines(stack.env);
  if (o.exportsFile) writeFileSync(o.exportsFile, lines + '\n');
  stdout(lines + '\n');
  err(
    `fleetprof local: ${stack.startedMoto ? 'moto_server' : 'endpoint'} ${stack.endpoint}, bucket ${stack.bucket}, queue ${stack.queueUrl} (DLQ ${stack.dlqUrl}); ` +
      `query API ${stack.env.FLEETPROF_API}. Ctrl-C stops.`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  err('fleetprof local: stopping');
  await stack.stop();
  err(`fleetprof local: stopped (${stack.stats.batches} batches, ${stack.stats.records} records, ${stack.stats.failures} retried)`);
  return 0;
}
