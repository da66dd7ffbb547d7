import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { COMPACT_FUNCTION, COMPACT_QUEUE, COMPACT_WORKER_FUNCTION } from '../aws/resources';
import { FRESH_PREFIX } from '../store/layout';
import { listUnder, objectsUnder } from './access';
import { DuckdbFunction } from './functions';
import { ENV, QUARANTINE_PREFIX, TABLES_PREFIX, type FleetprofSettings } from './names';

export interface CompactionProps {
  readonly bucket: s3.IBucket;
  readonly settings: FleetprofSettings;
}

/**
 * Compaction in two roles (lib/store/compact-jobs.ts): an EventBridge Scheduler schedule (UTC)
 * invokes the PLANNER with its scheduled time; it plans the due hours and days as jobs of units
 * and sends one message per unit to the work QUEUE; WORKERS (its event source, one message per
 * invocation, at most `compactWorkers` at once) write the units, and the worker that completes a
 * job makes it live in one manifest swap. The planner has reserved concurrency 1 (a late run waits
 * in Lambda's async queue and finds less to do); everything is idempotent, so the scheduler's
 * retries, the queue's redeliveries and a hand-run `fleetprof compact --bucket` are safe.
 */
export class Compaction extends Construct {
  /** The planner. */
  readonly fn: DuckdbFunction;
  readonly worker: DuckdbFunction;
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
  readonly schedule: scheduler.CfnSchedule;

  constructor(scope: Construct, id: string, props: CompactionProps) {
    super(scope, id);
    const s = props.settings;
    this.dlq = new sqs.Queue(this, 'WorkDlq', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(COMPACT_QUEUE.dlqRetentionSeconds),
    });
    this.queue = new sqs.Queue(this, 'WorkQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(COMPACT_QUEUE.visibilityTimeoutSeconds),
      retentionPeriod: Duration.seconds(COMPACT_QUEUE.retentionSeconds),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: COMPACT_QUEUE.maxReceiveCount },
    });
    const environment = { [ENV.bucket]: props.bucket.bucketName, [ENV.compactQueueUrl]: this.queue.queueUrl };

    this.fn = new DuckdbFunction(this, 'Compact', {
      entry: 'lambdas/compact.ts',
      description: 'fleetprof compaction planner: due hours and days under tables/ -> jobs, one queue message per unit (scheduled)',
      memoryMb: s.compactMemoryMb,
      timeout: Duration.seconds(COMPACT_FUNCTION.timeoutSeconds),
      ephemeralStorageMb: COMPACT_FUNCTION.ephemeralStorageMb,
      reservedConcurrency: 1,
      logRetentionDays: s.logRetentionDays,
      environment,
    });
    // A run that misses its hour is not worth replaying later: the next run plans everything due.
    this.fn.fn.configureAsyncInvoke({ maxEventAge: Duration.hours(1), retryAttempts: 0 });

    this.worker = new DuckdbFunction(this, 'Worker', {
      entry: 'lambdas/compact-worker.ts',
      description: 'fleetprof compaction worker: one unit of a job (or a day of rollups) per queue message',
      memoryMb: s.compactMemoryMb,
      timeout: Duration.seconds(COMPACT_WORKER_FUNCTION.timeoutSeconds),
      ephemeralStorageMb: COMPACT_WORKER_FUNCTION.ephemeralStorageMb,
      logRetentionDays: s.logRetentionDays,
      environment,
    });
    // maxConcurrency on the event source (not reserved concurrency) bounds the workers without throttling them.
    this.worker.fn.addEventSource(
      new SqsEventSource(this.queue, { batchSize: COMPACT_WORKER_FUNCTION.batchSize, maxConcurrency: s.compactWorkers, reportBatchItemFailures: true }),
    );
    for (const role of [this.fn.role, this.worker.role]) {
      for (const st of compactStatements(props.bucket)) role.addToPrincipalPolicy(st);
      // Units (planner) and a dt's rollups (the worker that finalizes its last job) go to the queue.
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'SendWork', actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }));
    }
    // The planner copies an unreadable fresh file of a closed hour aside with its reason (lambdas/compact.ts), as the merger does.
    this.fn.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'QuarantineFresh', actions: ['s3:PutObject'], resources: [objectsUnder(props.bucket, `${QUARANTINE_PREFIX}${TABLES_PREFIX}${FRESH_PREFIX}`)] }));

    const invoker = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'fleetprof: lets the compaction schedule invoke the compaction planner, nothing else',
    });
    invoker.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.fn.fn.functionArn] }));

    this.schedule = new scheduler.CfnSchedule(this, 'Schedule', {
      description: 'fleetprof compaction planning of closed hours and days',
      scheduleExpression: s.compactSchedule,
      scheduleExpressionTimezone: 'UTC',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: this.fn.fn.functionArn,
        roleArn: invoker.roleArn,
        // The event lambdas/compact.ts reads (CompactEvent): the run plans as of its scheduled time.
        input: JSON.stringify(COMPACT_FUNCTION.scheduleInput),
        retryPolicy: { maximumRetryAttempts: 2 },
      },
    });
  }
}

/** Compaction: read, write and delete under tables/ (data files, manifests, Athena symlinks, jobs), list tables/. */
export function compactStatements(bucket: s3.IBucket): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'ReadWriteTables',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resources: [objectsUnder(bucket, TABLES_PREFIX)],
    }),
    listUnder(bucket, TABLES_PREFIX),
  ];
}
