import { CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { AccessPolicies, ingestStatements, queryStatements } from './access';
import { Catalog } from './catalog';
import { Compaction } from './compaction';
import { Digest } from './digest';
import { Merge } from './merge';
import { DuckdbFunction } from './functions';
import { DEFAULT_SETTINGS, ENV, FleetprofSettings } from './names';
import { suppressFindings } from './nag';
import { Storage } from './storage';

export interface FleetprofStackProps extends StackProps {
  readonly settings?: Partial<FleetprofSettings>;
}

/** The whole AWS side of fleetprof: upload bucket -> queue -> ingest Lambda -> Parquet -> query Lambda / Athena. */
export class FleetprofStack extends Stack {
  readonly settings: FleetprofSettings;
  readonly storage: Storage;
  readonly ingest: DuckdbFunction;
  readonly query: DuckdbFunction;
  readonly queryUrl: lambda.FunctionUrl;
  readonly catalog: Catalog;
  readonly access: AccessPolicies;
  readonly alarms: cloudwatch.Alarm[];
  readonly digest: Digest;
  readonly compaction: Compaction;
  readonly merge: Merge;

  constructor(scope: Construct, id: string, props: FleetprofStackProps = {}) {
    super(scope, id, props);
    // Access-log delivery through a bucket policy (logging.s3.amazonaws.com) rather than the legacy
    // LogDeliveryWrite ACL, which BUCKET_OWNER_ENFORCED (ACLs off) forbids. Set here, not only in
    // cdk.json, so the stack is the same whichever app (or test) creates it.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const s = (this.settings = { ...DEFAULT_SETTINGS, ...props.settings });
    validate(s);

    const ingestTimeout = Duration.seconds(s.ingestTimeoutSeconds);
    this.storage = new Storage(this, 'Storage', { settings: s, consumerTimeout: ingestTimeout });
    const { bucket, queue, dlq } = this.storage;

    this.ingest = new DuckdbFunction(this, 'Ingest', {
      entry: 'lambdas/ingest.ts',
      description: 'fleetprof ingest: raw/ uploads (via SQS) -> Parquet under tables/',
      memoryMb: s.ingestMemoryMb,
      timeout: ingestTimeout,
      ephemeralStorageMb: s.ingestEphemeralStorageMb,
      logRetentionDays: s.logRetentionDays,
      environment: { [ENV.bucket]: bucket.bucketName },
    });
    for (const st of ingestStatements(bucket)) this.ingest.role.addToPrincipalPolicy(st);
    this.ingest.fn.addEventSource(
      new SqsEventSource(queue, {
        batchSize: s.ingestBatchSize,
        maxBatchingWindow: s.ingestBatchingWindowSeconds > 0 ? Duration.seconds(s.ingestBatchingWindowSeconds) : undefined,
        maxConcurrency: s.ingestMaxConcurrency,
        reportBatchItemFailures: true,
      }),
    );

    this.query = new DuckdbFunction(this, 'Query', {
      entry: 'lambdas/query.ts',
      description: 'fleetprof query: top / export / SQL over tables/ (Function URL, AWS_IAM)',
      memoryMb: s.queryMemoryMb,
      timeout: Duration.seconds(s.queryTimeoutSeconds),
      reservedConcurrency: s.queryReservedConcurrency > 0 ? s.queryReservedConcurrency : undefined,
      ephemeralStorageMb: s.queryEphemeralStorageMb,
      logRetentionDays: s.logRetentionDays,
      environment: { [ENV.bucket]: bucket.bucketName },
    });
    for (const st of queryStatements(bucket)) this.query.role.addToPrincipalPolicy(st);
    this.queryUrl = this.query.fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });

    this.catalog = new Catalog(this, 'Catalog', { bucket, settings: s });
    this.digest = new Digest(this, 'Digest', { bucket, dlq, settings: s });
    this.compaction = new Compaction(this, 'Compaction', { bucket, settings: s });
    this.merge = new Merge(this, 'Merge', { bucket, settings: s });
    this.access = new AccessPolicies(this, 'Access', { bucket, queryFunction: this.query.fn, catalog: this.catalog });

    this.alarms = [
      new cloudwatch.Alarm(this, 'DlqNotEmpty', {
        alarmDescription: 'fleetprof: uploads failed ingestion 5 times and sit in the DLQ (see docs/deploy.md to redrive)',
        metric: dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'IngestErrors', {
        alarmDescription: 'fleetprof: the ingest function failed (whole invocations; per-record failures are retried)',
        metric: this.ingest.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'IngestBacklogAge', {
        alarmDescription: 'fleetprof: the oldest upload waiting for ingestion is older than 30 minutes',
        metric: queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: 'Maximum' }),
        threshold: 30 * 60,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'DigestErrors', {
        alarmDescription: 'fleetprof: the scheduled digest failed',
        metric: this.digest.fn.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'CompactionErrors', {
        alarmDescription: 'fleetprof: a scheduled compaction failed (small files accumulate until one succeeds)',
        metric: this.compaction.fn.fn.metricErrors({ period: Duration.hours(1), statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'MergeErrors', {
        alarmDescription: 'fleetprof: merges keep failing (the fresh hour stays in batch files: queries over it slow down, nothing is lost)',
        metric: this.merge.fn.fn.metricErrors({ period: Duration.minutes(15), statistic: 'Sum' }),
        threshold: 5,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'CompactionDlqNotEmpty', {
        alarmDescription: 'fleetprof: a compaction unit failed 3 times and sits in the compaction DLQ (the next planning run re-sends it; its error is in the worker log)',
        metric: this.compaction.dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'QueryErrors', {
        alarmDescription: 'fleetprof: the query function failed',
        metric: this.query.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    if (s.alarmTopicArn) {
      const topic = sns.Topic.fromTopicArn(this, 'AlarmTopic', s.alarmTopicArn);
      for (const a of this.alarms) a.addAlarmAction(new cwActions.SnsAction(topic));
    }

    const out = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    out('BucketName', bucket.bucketName, 'Upload under raw/; Parquet under tables/');
    out('QueueUrl', queue.queueUrl, 'Ingest queue (S3 ObjectCreated on raw/)');
    out('DeadLetterQueueUrl', dlq.queueUrl, 'Uploads that failed ingestion maxReceiveCount times');
    out('QueryUrl', this.queryUrl.url, 'Query Function URL (SigV4, AWS_IAM)');
    out('AgentPolicyArn', this.access.agent.managedPolicyArn, 'Attach to agent roles: s3:PutObject on raw/* only');
    out('AgentPerServicePolicyArn', this.access.agentPerService.managedPolicyArn, 'Attach to agent roles tagged fleetprof-service=<service>: s3:PutObject on raw/<service>/* only');
    out('QueryCallerPolicyArn', this.access.queryCaller.managedPolicyArn, 'Attach to callers of the query URL');
    out('AthenaUserPolicyArn', this.access.athenaUser.managedPolicyArn, 'Attach to Athena users of the workgroup');
    out('GlueDatabase', this.catalog.databaseName, 'Glue database of the Parquet tables');
    out('AthenaWorkgroup', this.catalog.workgroupName, 'Athena workgroup (encrypted results, enforced)');

    suppressFindings(this);
  }
}

function validate(s: FleetprofSettings): void {
  const fail = (m: string) => {
    throw new Error(`fleetprof settings: ${m}`);
  };
  if (!/^[a-z0-9_]{1,64}$/.test(s.catalogName)) fail(`catalogName must match [a-z0-9_]{1,64}, got ${s.catalogName}`);
  if (s.ingestTimeoutSeconds * 6 > 43200) fail('ingestTimeoutSeconds x 6 exceeds the 12 h SQS visibility timeout limit');
  if (s.maxReceiveCount < 1 || s.maxReceiveCount > 1000) fail('maxReceiveCount must be 1..1000');
  if (!Number.isInteger(s.queryReservedConcurrency) || s.queryReservedConcurrency < 0 || s.queryReservedConcurrency > 1000) fail('queryReservedConcurrency must be 0..1000 (0 = none)');
  if (s.ingestMaxConcurrency < 2 || s.ingestMaxConcurrency > 1000) fail('ingestMaxConcurrency must be 2..1000');
  if (s.ingestBatchingWindowSeconds === 0 && s.ingestBatchSize > 10) fail('ingestBatchSize > 10 needs ingestBatchingWindowSeconds > 0');
  if (s.digestFrom && !/^[^@\s,]+@[^@\s,]+$/.test(s.digestFrom)) fail(`digestFrom must be one e-mail address, got ${s.digestFrom}`);
  if (s.digestFrom && !s.digestTo.trim()) fail('digestTo is required when digestFrom is set');
  if (!/^(cron|rate)\(.+\)$/.test(s.mergeSchedule)) fail(`mergeSchedule must be cron(...) or rate(...), got ${s.mergeSchedule}`);
  if (!/^(cron|rate)\(.+\)$/.test(s.compactSchedule)) fail(`compactSchedule must be cron(...) or rate(...), got ${s.compactSchedule}`);
  if (!(s.compactMemoryMb >= 1024 && s.compactMemoryMb <= 10240)) fail('compactMemoryMb must be 1024..10240');
  if (!(Number.isInteger(s.compactWorkers) && s.compactWorkers >= 2 && s.compactWorkers <= 1000)) fail('compactWorkers must be 2..1000');
  if (!/^(cron|rate|at)\(.+\)$/.test(s.digestSchedule)) fail(`digestSchedule must be cron(...), rate(...) or at(...), got ${s.digestSchedule}`);
  for (const k of ['rawRetentionDays', 'quarantineRetentionDays', 'athenaResultsRetentionDays', 'accessLogRetentionDays'] as const) {
    if (!(s[k] >= 1)) fail(`${k} must be >= 1`);
  }
}
