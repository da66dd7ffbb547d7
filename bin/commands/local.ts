import * as path from 'node:path';
import { LocalStore } from '../../lib/store/local';
import { openDuckDb, ParquetWriter } from '../../lib/store/parquet';
import { openEngine } from '../../lib/query/open';
import type { QueryEngine } from '../../lib/query/engine';
import type { PartitionFilter } from '../../lib/store/layout';

// The embedded default: a directory is the store, DuckDB runs in-process.

export async function openLocalWriter(dir: string): Promise<{ store: LocalStore; writer: ParquetWriter; close: () => Promise<void> }> {
  const store = new LocalStore(dir);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  return {
    store,
    writer,
    close: async () => {
      writer.close();
      instance.closeSync();
    },
  };
}

export async function openLocalEngine(dir: string, filter: PartitionFilter = {}): Promise<QueryEngine> {
  const store = new LocalStore(dir);
  return openEngine(store, filter, [path.resolve(dir)]);
}

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
