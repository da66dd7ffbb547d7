import { Stack, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { MERGE_FUNCTION } from '../aws/resources';
import { FRESH_PREFIX } from '../store/layout';
import { listUnder, objectsUnder } from './access';
import { DuckdbFunction } from './functions';
import { ENV, QUARANTINE_PREFIX, TABLES_PREFIX, type FleetprofSettings } from './names';

export interface MergeProps {
  readonly bucket: s3.IBucket;
  readonly settings: FleetprofSettings;
}

/**
 * The merge tier (lib/store/merge.ts): an EventBridge Scheduler schedule every minute (UTC)
 * invokes the MERGER with its scheduled time; it merges the open hours' settled batch files into
 * one file per table and swaps the manifests. Reserved concurrency 1; a missed minute is not
 * replayed (the next run merges what the missed one would have).
 */
export class Merge extends Construct {
  readonly fn: DuckdbFunction;
  readonly schedule: scheduler.CfnSchedule;

  constructor(scope: Construct, id: string, props: MergeProps) {
    super(scope, id);
    this.fn = new DuckdbFunction(this, 'Merge', {
      entry: 'lambdas/merge.ts',
      description: "fleetprof merger: the open hours' batch files under tables/fresh/ -> one file per table per minute (scheduled)",
      memoryMb: MERGE_FUNCTION.memoryMb,
      timeout: Duration.seconds(MERGE_FUNCTION.timeoutSeconds),
      ephemeralStorageMb: MERGE_FUNCTION.ephemeralStorageMb,
      reservedConcurrency: 1,
      logRetentionDays: props.settings.logRetentionDays,
      environment: { [ENV.bucket]: props.bucket.bucketName },
    });
    this.fn.fn.configureAsyncInvoke({ maxEventAge: Duration.minutes(5), retryAttempts: 0 });
    for (const st of mergeStatements(props.bucket)) this.fn.role.addToPrincipalPolicy(st);

    const invoker = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'fleetprof: lets the merge schedule invoke the merger, nothing else',
    });
    invoker.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.fn.fn.functionArn] }));
    this.schedule = new scheduler.CfnSchedule(this, 'Schedule', {
      description: "fleetprof merge of the open hours' fresh batch files",
      scheduleExpression: props.settings.mergeSchedule,
      scheduleExpressionTimezone: 'UTC',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: this.fn.fn.functionArn,
        roleArn: invoker.roleArn,
        input: JSON.stringify(MERGE_FUNCTION.scheduleInput),
        retryPolicy: { maximumRetryAttempts: 0 },
      },
    });
  }
}

/**
 * The merger: reads tables/ (fresh files and manifests), writes and deletes only fresh files
 * (outputs; inputs deleted after the grace) and writes only manifests among the compacted tier's
 * keys (never a compacted data file, a job or an Athena symlink), lists tables/, and copies an
 * unreadable fresh file to quarantine/tables/fresh/.
 */
export function mergeStatements(bucket: s3.IBucket): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({ sid: 'ReadTables', actions: ['s3:GetObject'], resources: [objectsUnder(bucket, TABLES_PREFIX)] }),
    new iam.PolicyStatement({ sid: 'WriteDeleteFresh', actions: ['s3:PutObject', 's3:DeleteObject'], resources: [objectsUnder(bucket, `${TABLES_PREFIX}${FRESH_PREFIX}`)] }),
    new iam.PolicyStatement({ sid: 'SwapManifests', actions: ['s3:PutObject'], resources: [bucket.arnForObjects(`${TABLES_PREFIX}*/_manifest.json`)] }),
    // An unreadable fresh file is copied aside with its reason (lambdas/merge.ts).
    new iam.PolicyStatement({ sid: 'QuarantineFresh', actions: ['s3:PutObject'], resources: [objectsUnder(bucket, `${QUARANTINE_PREFIX}${TABLES_PREFIX}${FRESH_PREFIX}`)] }),
    listUnder(bucket, TABLES_PREFIX),
  ];
}
