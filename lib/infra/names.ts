// Names and defaults of the stack. The prefixes, function and queue settings and environment
// variable names come from lib/aws/resources.ts, the one definition shared with the handlers and
// the moto end-to-end test; only what is infra-only (Athena results, retention) is defined here.

import { COMPACT_FUNCTION, COMPACT_WORKER_FUNCTION, DIGEST_FUNCTION, MERGE_FUNCTION, ENV as HANDLER_ENV, INGEST_FUNCTION, INGEST_QUEUE, PREFIXES, QUERY_FUNCTION } from '../aws/resources';

/** Uploads land here; ObjectCreated under this prefix (and only this one) triggers ingestion. */
export const RAW_PREFIX: string = PREFIXES.raw;
/** The store root (layout v2, lib/store/layout.ts): fresh/, compacted tables, athena/ symlinks. Never triggers ingestion. */
export const TABLES_PREFIX: string = PREFIXES.tables;
/** Inputs ingestion refused as malformed (poison), kept for inspection, expired by lifecycle. */
export const QUARANTINE_PREFIX: string = PREFIXES.quarantine;
/** Digest archive (JSON, HTML, the mail, attached profiles), written by the digest Lambda. */
export const DIGESTS_PREFIX: string = PREFIXES.digests;
/** Athena query results (workgroup output location), expired by lifecycle. Infra-only. */
export const ATHENA_RESULTS_PREFIX = 'athena-results/';

/** Environment variables the handlers read (lib/aws/resources.ts). */
export const ENV = HANDLER_ENV;

/** Tunables of the stack; every one can be set from cdk.json context or `-c key=value`. */
export interface FleetprofSettings {
  /** Days raw uploads are kept after ingestion had its chance (the source of truth for re-ingest). */
  readonly rawRetentionDays: number;
  /** Days quarantined (refused) inputs are kept. */
  readonly quarantineRetentionDays: number;
  /** Days Athena results are kept. */
  readonly athenaResultsRetentionDays: number;
  /** Days the S3 server access logs are kept. */
  readonly accessLogRetentionDays: number;
  /** Days Parquet tables are kept; 0 = forever. */
  readonly tablesRetentionDays: number;
  /** Object versioning on the data bucket (see docs/deploy.md: off by default). */
  readonly versioned: boolean;
  readonly ingestMemoryMb: number;
  readonly ingestTimeoutSeconds: number;
  /** Upper bound on concurrent ingest invocations (SQS event source maxConcurrency, 2-1000). */
  readonly ingestMaxConcurrency: number;
  readonly ingestBatchSize: number;
  readonly ingestBatchingWindowSeconds: number;
  readonly queryMemoryMb: number;
  readonly queryTimeoutSeconds: number;
  /**
   * Reserved concurrency of the query function; 0 (default) = none. Set it to cap what a flood of
   * signed query calls can cost, and to keep them from starving the account's other functions.
   */
  readonly queryReservedConcurrency: number;
  /** Ephemeral /tmp, MB (Parquet scratch, query cache, DuckDB spill). */
  readonly ingestEphemeralStorageMb: number;
  readonly queryEphemeralStorageMb: number;
  /** Receives before a message goes to the DLQ. */
  readonly maxReceiveCount: number;
  /** Glue database and Athena workgroup name. */
  readonly catalogName: string;
  /** Athena per-query scan cutoff, bytes. */
  readonly athenaBytesScannedCutoff: number;
  /** CloudWatch log retention of the functions, days. */
  readonly logRetentionDays: number;
  /** Optional SNS topic ARN the alarms notify. */
  readonly alarmTopicArn?: string;
  /** EventBridge Scheduler expression of the digest (cron(...) or rate(...)). */
  readonly digestSchedule: string;
  /** IANA time zone the digest schedule is evaluated in, e.g. Europe/Berlin. */
  readonly digestTimeZone: string;
  /** Digest window and baseline (e.g. 24h and 7d): the window ends at the invocation. */
  readonly digestWindow: string;
  readonly digestBaseline: string;
  /** Sender address (a verified SES identity); empty: archive only, no mail and no SES permission. */
  readonly digestFrom: string;
  /** Comma-separated recipients. */
  readonly digestTo: string;
  /** Mail an "all quiet" digest too (the archive is written either way). */
  readonly digestSendQuiet: boolean;
  /** EventBridge Scheduler expression of the compaction (UTC); default hourly at minute 7. */
  readonly compactSchedule: string;
  /** Planner and worker memory. */
  readonly compactMemoryMb: number;
  /** Compaction workers at once (the work queue's event source maxConcurrency, 2-1000): ~12 per 1,000 instances. */
  readonly compactWorkers: number;
  /** EventBridge Scheduler expression of the merge tier (UTC); default every minute. */
  readonly mergeSchedule: string;
}

export const DEFAULT_SETTINGS: FleetprofSettings = {
  rawRetentionDays: 14,
  quarantineRetentionDays: 30,
  athenaResultsRetentionDays: 7,
  accessLogRetentionDays: 90,
  tablesRetentionDays: 0,
  versioned: false,
  ingestMemoryMb: INGEST_FUNCTION.memoryMb,
  ingestTimeoutSeconds: INGEST_FUNCTION.timeoutSeconds,
  ingestMaxConcurrency: INGEST_FUNCTION.maxConcurrency,
  ingestBatchSize: INGEST_FUNCTION.batchSize,
  ingestBatchingWindowSeconds: INGEST_FUNCTION.maxBatchingWindowSeconds,
  ingestEphemeralStorageMb: INGEST_FUNCTION.ephemeralStorageMb,
  queryMemoryMb: QUERY_FUNCTION.memoryMb,
  queryTimeoutSeconds: QUERY_FUNCTION.timeoutSeconds,
  queryReservedConcurrency: 0,
  queryEphemeralStorageMb: QUERY_FUNCTION.ephemeralStorageMb,
  maxReceiveCount: INGEST_QUEUE.maxReceiveCount,
  catalogName: 'fleetprof',
  athenaBytesScannedCutoff: 100 * 1024 ** 3,
  logRetentionDays: 30,
  digestSchedule: DIGEST_FUNCTION.scheduleExpression,
  digestTimeZone: 'UTC',
  digestWindow: DIGEST_FUNCTION.window,
  digestBaseline: DIGEST_FUNCTION.baseline,
  digestFrom: '',
  digestTo: '',
  digestSendQuiet: true,
  compactSchedule: COMPACT_FUNCTION.scheduleExpression,
  compactMemoryMb: COMPACT_FUNCTION.memoryMb,
  compactWorkers: COMPACT_WORKER_FUNCTION.maxConcurrency,
  mergeSchedule: MERGE_FUNCTION.scheduleExpression,
};
