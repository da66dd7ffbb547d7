import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { COMPACT_FUNCTION } from '../aws/resources';
import { listUnder, objectsUnder } from './access';
import { DuckdbFunction } from './functions';
import { ENV, TABLES_PREFIX, type FleetprofSettings } from './names';

export interface CompactionProps {
  readonly bucket: s3.IBucket;
  readonly settings: FleetprofSettings;
}

/**
 * Scheduled compaction: an EventBridge Scheduler schedule (UTC) invokes the compaction Lambda with
 * its scheduled time, which merges the closed hours and days under tables/. Reserved concurrency 1
 * keeps runs from overlapping (a late run waits in Lambda's async queue and finds less to do);
 * each run is idempotent, so the scheduler's retries and a hand-run `fleetprof compact --bucket`
 * are safe.
 */
export class Compaction extends Construct {
  readonly fn: DuckdbFunction;
  readonly schedule: scheduler.CfnSchedule;

  constructor(scope: Construct, id: string, props: CompactionProps) {
    super(scope, id);
    const s = props.settings;
    this.fn = new DuckdbFunction(this, 'Compact', {
      entry: 'lambdas/compact.ts',
      description: 'fleetprof compaction: closed hours and days under tables/ -> one file per table (scheduled)',
      memoryMb: s.compactMemoryMb,
      timeout: Duration.seconds(COMPACT_FUNCTION.timeoutSeconds),
      ephemeralStorageMb: COMPACT_FUNCTION.ephemeralStorageMb,
      reservedConcurrency: 1,
      logRetentionDays: s.logRetentionDays,
      environment: { [ENV.bucket]: props.bucket.bucketName },
    });
    // A run that misses its hour is not worth replaying later: the next run compacts everything due.
    this.fn.fn.configureAsyncInvoke({ maxEventAge: Duration.hours(1), retryAttempts: 0 });
    for (const st of compactStatements(props.bucket)) this.fn.role.addToPrincipalPolicy(st);

    const invoker = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'fleetprof: lets the compaction schedule invoke the compaction function, nothing else',
    });
    invoker.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.fn.fn.functionArn] }));

    this.schedule = new scheduler.CfnSchedule(this, 'Schedule', {
      description: 'fleetprof compaction of closed hours and days',
      scheduleExpression: s.compactSchedule,
      scheduleExpressionTimezone: 'UTC',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: this.fn.fn.functionArn,
        roleArn: invoker.roleArn,
        // The event lambdas/compact.ts reads (CompactEvent): the run compacts as of its scheduled time.
        input: JSON.stringify(COMPACT_FUNCTION.scheduleInput),
        retryPolicy: { maximumRetryAttempts: 2 },
      },
    });
  }
}

/** Compaction: read, write and delete under tables/ (data files, manifests, Athena symlinks, the lease), list tables/. */
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
