import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { INGEST_QUEUE } from '../aws/resources';
import { ATHENA_RESULTS_PREFIX, FleetprofSettings, QUARANTINE_PREFIX, RAW_PREFIX, TABLES_PREFIX } from './names';

export interface StorageProps {
  readonly settings: FleetprofSettings;
  /** Timeout of the function consuming the queue: the queue's visibility timeout is 6x this. */
  readonly consumerTimeout: Duration;
}

/**
 * The data bucket (raw uploads, Parquet tables, quarantine, Athena results), its access-log bucket,
 * and the ingest queue with its dead-letter queue. ObjectCreated under raw/ (only) goes to the queue,
 * so the Parquet written under tables/ never re-triggers ingestion.
 */
export class Storage extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const s = props.settings;

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED, // server access log delivery supports SSE-S3 only
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(s.accessLogRetentionDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const lifecycleRules: s3.LifecycleRule[] = [
      { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      { id: 'expire-raw', prefix: RAW_PREFIX, expiration: Duration.days(s.rawRetentionDays) },
      { id: 'expire-quarantine', prefix: QUARANTINE_PREFIX, expiration: Duration.days(s.quarantineRetentionDays) },
      { id: 'expire-athena-results', prefix: ATHENA_RESULTS_PREFIX, expiration: Duration.days(s.athenaResultsRetentionDays) },
    ];
    if (s.tablesRetentionDays > 0) {
      lifecycleRules.push({ id: 'expire-tables', prefix: TABLES_PREFIX, expiration: Duration.days(s.tablesRetentionDays) });
    }
    if (s.versioned) {
      // Overwrites (re-ingest) and compaction deletes would otherwise keep every old Parquet file forever.
      lifecycleRules.push({
        id: 'expire-noncurrent',
        noncurrentVersionExpiration: Duration.days(7),
        expiredObjectDeleteMarker: true,
      });
    }

    this.bucket = new s3.Bucket(this, 'Data', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: s.versioned,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'data/',
      lifecycleRules,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.dlq = new sqs.Queue(this, 'IngestDlq', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(INGEST_QUEUE.dlqRetentionSeconds),
    });
    // SQS-managed SSE, not KMS_MANAGED: S3 cannot send notifications to a queue under the AWS-managed
    // aws/sqs key (its key policy cannot grant s3.amazonaws.com).
    this.queue = new sqs.Queue(this, 'IngestQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(6 * props.consumerTimeout.toSeconds()),
      retentionPeriod: Duration.seconds(INGEST_QUEUE.retentionSeconds),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: s.maxReceiveCount },
    });

    this.bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.SqsDestination(this.queue), {
      prefix: RAW_PREFIX,
    });
  }
}
