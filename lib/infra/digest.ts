import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DIGEST_FUNCTION } from '../aws/resources';
import { listUnder, objectsUnder } from './access';
import { DuckdbFunction } from './functions';
import { DIGESTS_PREFIX, ENV, QUARANTINE_PREFIX, TABLES_PREFIX, type FleetprofSettings } from './names';

export interface DigestProps {
  readonly bucket: s3.IBucket;
  /** The ingest dead-letter queue: the digest reports its messages (a digest is never "all quiet" while ingestion fails). */
  readonly dlq?: sqs.IQueue;
  readonly settings: FleetprofSettings;
}

/**
 * The anomaly digest: an EventBridge Scheduler schedule (cron and time zone from the settings)
 * invokes the digest Lambda, which reads tables/, archives under digests/ and mails through SES.
 */
export class Digest extends Construct {
  readonly fn: DuckdbFunction;
  readonly schedule: scheduler.CfnSchedule;

  constructor(scope: Construct, id: string, props: DigestProps) {
    super(scope, id);
    const s = props.settings;
    this.fn = new DuckdbFunction(this, 'Digest', {
      entry: 'lambdas/digest.ts',
      description: 'fleetprof digest: detectors over tables/ -> archive under digests/ and mail (SES)',
      memoryMb: DIGEST_FUNCTION.memoryMb,
      timeout: Duration.seconds(DIGEST_FUNCTION.timeoutSeconds),
      ephemeralStorageMb: DIGEST_FUNCTION.ephemeralStorageMb,
      logRetentionDays: s.logRetentionDays,
      // The charts are SVG rasterized to PNG by resvg, a native addon like DuckDB.
      nativePackages: ['@resvg/resvg-js', '@resvg/resvg-js-linux-x64-gnu'],
      // The chart font (the image has none): found by lib/render/email.ts shippedFont next to the bundle.
      assets: ['assets/fonts/DejaVuSans.ttf', 'assets/fonts/LICENSE-DejaVu.txt'],
      environment: {
        [ENV.bucket]: props.bucket.bucketName,
        [ENV.digestWindow]: s.digestWindow,
        [ENV.digestBaseline]: s.digestBaseline,
        [ENV.digestSendQuiet]: String(s.digestSendQuiet),
        ...(s.digestFrom ? { [ENV.digestFrom]: s.digestFrom, [ENV.digestTo]: s.digestTo } : {}),
        ...(props.dlq ? { [ENV.ingestDlqUrl]: props.dlq.queueUrl } : {}),
      },
    });
    for (const st of digestStatements(props.bucket, s.digestFrom)) this.fn.role.addToPrincipalPolicy(st);
    if (props.dlq) {
      this.fn.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadDlqDepth', actions: ['sqs:GetQueueAttributes'], resources: [props.dlq.queueArn] }));
    }

    const invoker = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'fleetprof: lets the digest schedule invoke the digest function, nothing else',
    });
    invoker.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.fn.fn.functionArn] }));

    this.schedule = new scheduler.CfnSchedule(this, 'Schedule', {
      description: 'fleetprof anomaly digest',
      scheduleExpression: s.digestSchedule,
      scheduleExpressionTimezone: s.digestTimeZone,
      flexibleTimeWindow: { mode: 'OFF' },
      target: { arn: this.fn.fn.functionArn, roleArn: invoker.roleArn, retryPolicy: { maximumRetryAttempts: 2 } },
    });
  }
}

/** Digest: read tables/, write the archive under digests/, send from one SES identity. */
export function digestStatements(bucket: s3.IBucket, from: string): iam.PolicyStatement[] {
  const out = [
    new iam.PolicyStatement({ sid: 'ReadTables', actions: ['s3:GetObject'], resources: [objectsUnder(bucket, TABLES_PREFIX)] }),
    // quarantine/: the digest counts (and quotes the reasons of) uploads refused during the window.
    listUnder(bucket, TABLES_PREFIX, QUARANTINE_PREFIX),
    new iam.PolicyStatement({ sid: 'ReadQuarantineReasons', actions: ['s3:GetObject'], resources: [bucket.arnForObjects(`${QUARANTINE_PREFIX}*.reason.json`)] }),
    new iam.PolicyStatement({ sid: 'WriteDigests', actions: ['s3:PutObject'], resources: [objectsUnder(bucket, DIGESTS_PREFIX)] }),
  ];
  if (from) {
    const stack = Stack.of(bucket);
    const domain = from.slice(from.lastIndexOf('@') + 1);
    // SES authorizes a send against the sender's identity: the address or its domain.
    const identity = (name: string) => stack.formatArn({ service: 'ses', resource: 'identity', resourceName: name });
    out.push(new iam.PolicyStatement({ sid: 'SendDigest', actions: ['ses:SendEmail', 'ses:SendRawEmail'], resources: [identity(from), identity(domain)] }));
  }
  return out;
}
