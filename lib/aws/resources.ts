import { DIGESTS_PREFIX } from '../render/digest-archive';
// The one definition of the pipeline's AWS resources and their settings, shared by the CDK stack
// (lib/infra/), the Lambda handlers and the end-to-end test against moto, so they cannot drift.
// Plain data only: no aws-cdk-lib or SDK imports here.

import { QUARANTINE_PREFIX, UPLOAD_PREFIX } from '../model/upload-key';

/** Key prefixes inside the one bucket. */
export const PREFIXES = {
  /** Uploads (docs/upload-contract.md); the only prefix that notifies the ingest queue. */
  raw: UPLOAD_PREFIX,
  /** Parquet tables (Hive layout, lib/store/layout.ts) under this prefix. */
  tables: 'tables/',
  /** Poison uploads, copied with a `<key>.reason.json` next to them. */
  quarantine: QUARANTINE_PREFIX,
  /** Digest archive: digests/<YYYY-MM-DD>/<window end>/{digest.json,digest.html,digest.eml,profiles/*.pb.gz}. */
  digests: DIGESTS_PREFIX,
} as const;

/** Ingest Lambda settings; the queue's visibility timeout derives from its timeout. */
export const INGEST_FUNCTION = {
  timeoutSeconds: 120,
  /**
   * One full vCPU (Lambda gives 1 vCPU at 1,769 MB, ~1.16 at 2,048). The handler is CPU-bound on
   * one JS thread and one DuckDB thread that take turns (DuckDB runs on one thread, the JS thread
   * waits for each COPY), plus V8's GC helpers: billed wall time at 1,769 MB is its CPU time, at
   * 2,048 at best CPU / 1.16 if every thread overlapped, so 1,769 costs at most 0.3% more per
   * bundle and up to 14% less (docs/performance.md, "Cost model"; not measured on Lambda). Memory:
   * the worst input measured peaks ~390 MB (bench:hostile), DuckDB is limited to 60% of this.
   */
  memoryMb: 1769,
  ephemeralStorageMb: 2048,
  /**
   * SQS event source: batch size and window, partial batch responses on. No batching window: an
   * upload is queryable in under a second (docs/performance.md: p50 839 ms on layout v2 at 0 s,
   * 5.6 s at 5 s); a window of even 1 s (the smallest) would put a lone upload past the 1 s target.
   * Concurrency 30: 1,000 instances at the agent's defaults send 16.7 bundles/s; the slowest
   * measured handler (457 ms per bundle in batches of 10, on a loaded 2-core VM) gives 30 x 10 /
   * 4.57 s = 66 bundles/s, 3.9x that (20 gave 2.6x). Concurrency costs nothing idle.
   */
  batchSize: 10,
  maxBatchingWindowSeconds: 0,
  reportBatchItemFailures: true,
  maxConcurrency: 30,
} as const;

export const QUERY_FUNCTION = {
  timeoutSeconds: 60,
  memoryMb: 3008,
  ephemeralStorageMb: 4096,
} as const;

/**
 * Digest Lambda (lambdas/digest.ts), invoked by an EventBridge Scheduler schedule. It downloads the
 * window's and baseline's Parquet into /tmp (hence the large ephemeral storage) and runs DuckDB.
 */
export const DIGEST_FUNCTION = {
  timeoutSeconds: 900,
  memoryMb: 3008,
  ephemeralStorageMb: 10240,
  /** The schedule: daily at 07:00 UTC, a 24 h window against the 7 days before it. */
  scheduleExpression: 'cron(0 7 * * ? *)',
  window: '24h',
  baseline: '7d',
} as const;

/**
 * Compaction planner Lambda (lambdas/compact.ts), invoked by an EventBridge Scheduler schedule:
 * deferred deletes, closed hours (and days) planned as jobs of units, one message per unit to the
 * compaction queue (lib/store/compact-jobs.ts). Reserved concurrency 1: two plans never overlap
 * (they would be safe, but each would plan the same hours).
 */
export const COMPACT_FUNCTION = {
  timeoutSeconds: 900,
  /**
   * One vCPU (the stack's `compactMemoryMb`, planner and workers alike). Every role of an hour of
   * 1,000 instances ran at this size's settings (DuckDB 60%, one thread, 2.35M-row units:
   * lib/aws/compact-job.ts compactLambdaOptions) with a margin under it, at fewer GB-seconds than at
   * 3,008 MB (docs/performance.md "Cost model", "Fan-out").
   */
  memoryMb: 1769,
  ephemeralStorageMb: 10240,
  /** Hourly, a few minutes after the hour closes (ingest of the hour's last uploads has finished). */
  scheduleExpression: 'cron(7 * * * ? *)',
  /**
   * The schedule's target input (lambdas/compact.ts reads it as CompactEvent): EventBridge Scheduler
   * replaces the context attributes, so every attempt of one run compacts as of the same time.
   */
  scheduleInput: { scheduledTime: '<aws.scheduler.scheduled-time>', attempt: '<aws.scheduler.attempt-number>' },
  /**
   * A job planned at least this long ago whose outputs are still missing gets its units sent again
   * (a message that went to the DLQ, or a planner that crashed between the job and its messages).
   * Longer than a worker's timeout, so a unit still running is not sent twice.
   */
  resendAfterSeconds: 30 * 60,
} as const;

/**
 * The merger (lambdas/merge.ts, lib/store/merge.ts): every minute, the open hours' settled batch
 * files -> one file per table. A minute of 1,000 instances is ~100 batch files per table (a few
 * M rows): seconds of one vCPU, far under the timeout; reserved concurrency 1, so a slow run makes
 * the next one wait instead of racing it (racing is safe, only wasted).
 */
export const MERGE_FUNCTION = {
  timeoutSeconds: 300,
  // One full vCPU, so billed time ~ CPU time. A minute of 1,000 instances (500 batch files of five
  // tables, 2.3M rows) peaked at 1,530 MB RSS with DuckDB at this size's settings (1,061 MB limit,
  // 2 threads), 11.3-13.5 CPU-s per run, as at 3,008 MB (bench/fresh-merge.ts, 2026-12-03;
  // docs/performance.md "With the merge tier and pre-sums"). DuckDB spills past its limit; what is
  // outside it (Node, the SDK, the listings) is what the other ~240 MB must hold.
  memoryMb: 1769,
  ephemeralStorageMb: 2048,
  scheduleExpression: 'rate(1 minute)',
  scheduleInput: { scheduledTime: '<aws.scheduler.scheduled-time>', attempt: '<aws.scheduler.attempt-number>' },
} as const;

/**
 * Compaction worker Lambda (lambdas/compact-worker.ts): one work message per invocation (a split
 * group, a unit of up to 2.35M rows at 1,769 MB read, sorted and written, or one rollup table of
 * an hour). Concurrency from the measured cost: a whole hour of 1,000 instances through the roles
 * at 1,769 MB's settings is 73 invocations, the longest ~2.4 min of CPU (a stacks split group);
 * list-scheduled on 12 workers with the stack's dependencies it ends in ~5.5 min of one vCPU each
 * (<= 10 min; docs/performance.md "One hour of 1,000 instances as a whole"): raise
 * `compactWorkers` with the fleet (~12 per 1,000 instances).
 */
export const COMPACT_WORKER_FUNCTION = {
  timeoutSeconds: 900,
  /** The planner's: the planner packs the units the workers run from this memory (lib/infra/compaction.ts `compactMemoryMb`). */
  memoryMb: COMPACT_FUNCTION.memoryMb,
  ephemeralStorageMb: 10240,
  /** One message per invocation: a unit takes minutes; a batch of them could exceed the 15 min limit. */
  batchSize: 1,
  maxConcurrency: 12,
} as const;

/** The compaction work queue (planner -> workers) and its dead-letter queue. */
export const COMPACT_QUEUE = {
  name: 'fleetprof-compact',
  dlqName: 'fleetprof-compact-dlq',
  /** AWS: at least 6x the consuming function's timeout. */
  visibilityTimeoutSeconds: 6 * COMPACT_WORKER_FUNCTION.timeoutSeconds,
  /** A unit that fails 3 times is parked (the planner re-sends it after resendAfterSeconds, the DLQ alarm says so). */
  maxReceiveCount: 3,
  retentionSeconds: 4 * 24 * 3600,
  dlqRetentionSeconds: 14 * 24 * 3600,
} as const;

/** The ingest queue and its dead-letter queue. */
export const INGEST_QUEUE = {
  /** Base names; a stack may prefix them (physical names are optional in CDK). */
  name: 'fleetprof-ingest',
  dlqName: 'fleetprof-ingest-dlq',
  /** AWS: at least 6x the function timeout. */
  visibilityTimeoutSeconds: 6 * INGEST_FUNCTION.timeoutSeconds,
  /** Receives before a message moves to the DLQ (AWS recommends >= 5). */
  maxReceiveCount: 5,
  retentionSeconds: 4 * 24 * 3600,
  dlqRetentionSeconds: 14 * 24 * 3600,
} as const;

/** S3 -> SQS notification: every ObjectCreated event under raw/. */
export const UPLOAD_NOTIFICATION = {
  id: 'fleetprof-raw-to-ingest',
  events: ['s3:ObjectCreated:*'] as const,
  prefix: UPLOAD_PREFIX,
} as const;

/** Environment variables the handlers read. */
export const ENV = {
  /** Bucket holding tables/ (default: the bucket of each event). */
  bucket: 'FLEETPROF_BUCKET',
  /** Largest upload the ingest Lambda accepts, bytes (bigger: quarantined). */
  maxObjectBytes: 'FLEETPROF_MAX_OBJECT_BYTES',
  /** Largest decompressed input, bytes. */
  maxDecompressedBytes: 'FLEETPROF_MAX_DECOMPRESSED_BYTES',
  /** Query Lambda: SQL time limit (ms) and row limit. */
  sqlTimeoutMs: 'FLEETPROF_SQL_TIMEOUT_MS',
  sqlMaxRows: 'FLEETPROF_SQL_MAX_ROWS',
  /** Local cache of downloaded Parquet (default /tmp/fleetprof-cache). */
  cacheDir: 'FLEETPROF_CACHE_DIR',
  /** Digest Lambda: sender (an SES-verified identity) and recipients (comma list). */
  digestFrom: 'FLEETPROF_DIGEST_FROM',
  digestTo: 'FLEETPROF_DIGEST_TO',
  /** Digest window and baseline lengths (30s, 5m, 1h, 1d; defaults DIGEST_FUNCTION.window/baseline). */
  digestWindow: 'FLEETPROF_DIGEST_WINDOW',
  digestBaseline: 'FLEETPROF_DIGEST_BASELINE',
  /** "true" (default): mail an "all quiet" digest too; "false": skip the mail (the archive is still written). */
  digestSendQuiet: 'FLEETPROF_DIGEST_SEND_QUIET',
  /** Largest total size of attached profiles, bytes (default 7 MiB); bigger ones are linked. */
  digestMaxAttachBytes: 'FLEETPROF_DIGEST_MAX_ATTACH_BYTES',
  /** Optional SES configuration set for the digest mail. */
  sesConfigurationSet: 'FLEETPROF_SES_CONFIGURATION_SET',
  /** Optional TTF/OTF files (comma list) for the chart text (the Lambda image has no fonts). */
  fontFiles: 'FLEETPROF_FONT_FILES',
  /** The digest reads the ingest dead-letter queue's message count (a finding when > 0). */
  ingestDlqUrl: 'FLEETPROF_INGEST_DLQ_URL',
  /** The compaction work queue the planner and workers send to (lib/aws/compact-queue.ts). */
  compactQueueUrl: 'FLEETPROF_COMPACT_QUEUE_URL',
  /** Rows per compaction unit (default UNIT_ROWS, lib/store/compact-hour.ts): smaller bounds a worker's sort further, more units. */
  compactUnitRows: 'FLEETPROF_COMPACT_UNIT_ROWS',
  compactSplitMinUnits: 'FLEETPROF_COMPACT_SPLIT_MIN_UNITS',
  /** Base URL of the HTTP API the digest cards link to (flame graph, diff); unset: commands only. */
  digestLinkBase: 'FLEETPROF_DIGEST_LINK_BASE',
} as const;

export const DEFAULT_MAX_OBJECT_BYTES = 64 * 1024 * 1024;

/**
 * The bucket notification as the S3 API (PutBucketNotificationConfiguration) takes it, for a queue
 * ARN. CDK renders the same thing from `bucket.addEventNotification(EventType.OBJECT_CREATED,
 * new SqsDestination(queue), { prefix: UPLOAD_NOTIFICATION.prefix })`.
 */
export function notificationConfiguration(queueArn: string) {
  return {
    QueueConfigurations: [
      {
        Id: UPLOAD_NOTIFICATION.id,
        QueueArn: queueArn,
        Events: [...UPLOAD_NOTIFICATION.events],
        Filter: { Key: { FilterRules: [{ Name: 'prefix' as const, Value: UPLOAD_NOTIFICATION.prefix }] } },
      },
    ],
  };
}

/** SQS queue attributes (CreateQueue) for the ingest queue, given the DLQ's ARN. */
export function ingestQueueAttributes(dlqArn: string): Record<string, string> {
  return {
    VisibilityTimeout: String(INGEST_QUEUE.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(INGEST_QUEUE.retentionSeconds),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: INGEST_QUEUE.maxReceiveCount }),
  };
}

export function dlqAttributes(): Record<string, string> {
  return { MessageRetentionPeriod: String(INGEST_QUEUE.dlqRetentionSeconds) };
}
