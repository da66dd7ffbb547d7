import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ATHENA_RESULTS_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX, TABLES_PREFIX } from './names';
import type { Catalog } from './catalog';

/** Object ARN pattern for every key under `prefix` (e.g. arn:aws:s3:::bucket/raw/*). */
export function objectsUnder(bucket: s3.IBucket, prefix: string): string {
  return bucket.arnForObjects(`${prefix}*`);
}

/** s3:ListBucket on the bucket, limited to keys under the given prefixes. */
export function listUnder(bucket: s3.IBucket, ...prefixes: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'ListOwnPrefixes',
    actions: ['s3:ListBucket'],
    resources: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': prefixes.flatMap((p) => [p, `${p}*`]) } },
  });
}

/** Ingest: read raw/, read-write tables/ (incl. compaction deletes and manifests), write quarantine/. */
export function ingestStatements(bucket: s3.IBucket): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({ sid: 'ReadRaw', actions: ['s3:GetObject'], resources: [objectsUnder(bucket, RAW_PREFIX)] }),
    new iam.PolicyStatement({
      sid: 'ReadWriteTables',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resources: [objectsUnder(bucket, TABLES_PREFIX)],
    }),
    listUnder(bucket, TABLES_PREFIX),
    new iam.PolicyStatement({ sid: 'WriteQuarantine', actions: ['s3:PutObject'], resources: [objectsUnder(bucket, QUARANTINE_PREFIX)] }),
  ];
}

/** Query: read tables/ only. */
export function queryStatements(bucket: s3.IBucket): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({ sid: 'ReadTables', actions: ['s3:GetObject'], resources: [objectsUnder(bucket, TABLES_PREFIX)] }),
    listUnder(bucket, TABLES_PREFIX),
  ];
}

export interface AccessPoliciesProps {
  readonly bucket: s3.IBucket;
  readonly queryFunction: lambda.IFunction;
  readonly catalog: Catalog;
}

/**
 * The principal tag naming the one service an agent may upload for (AgentPerService). Upload keys
 * start with raw/<service>/ (docs/upload-contract.md), so an IAM policy variable on the tag pins a
 * role to its own service's prefix: a compromised agent cannot write other services' data, nor set
 * the versions their suggestions quote.
 */
export const AGENT_SERVICE_TAG = 'fleetprof-service';

/** Customer-managed policies for the three kinds of principals outside the stack. */
export class AccessPolicies extends Construct {
  /** Agents (ECS task roles, EKS pods, EC2 instances): upload under raw/ and nothing else. */
  readonly agent: iam.ManagedPolicy;
  /**
   * Agents scoped to one service: upload under raw/<the role's fleetprof-service tag>/ only.
   * Roles without the tag get nothing (an unset policy variable matches no key anyway; the Null
   * condition says so explicitly).
   */
  readonly agentPerService: iam.ManagedPolicy;
  /** Clients of the query Function URL (SigV4-signed requests). */
  readonly queryCaller: iam.ManagedPolicy;
  /** Analysts running Athena in the fleetprof workgroup. */
  readonly athenaUser: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: AccessPoliciesProps) {
    super(scope, id);
    const { bucket, queryFunction, catalog } = props;

    this.agent = new iam.ManagedPolicy(this, 'Agent', {
      description: 'fleetprof agents: upload profiles and logs under raw/ (no read, list or delete)',
      statements: [
        new iam.PolicyStatement({ sid: 'UploadRaw', actions: ['s3:PutObject'], resources: [objectsUnder(bucket, RAW_PREFIX)] }),
      ],
    });

    this.agentPerService = new iam.ManagedPolicy(this, 'AgentPerService', {
      description: `fleetprof agents scoped to one service: upload under raw/<principal tag ${AGENT_SERVICE_TAG}>/ only (no read, list or delete)`,
      statements: [
        new iam.PolicyStatement({
          sid: 'UploadOwnServiceRaw',
          actions: ['s3:PutObject'],
          resources: [objectsUnder(bucket, `${RAW_PREFIX}\${aws:PrincipalTag/${AGENT_SERVICE_TAG}}/`)],
          conditions: { Null: { [`aws:PrincipalTag/${AGENT_SERVICE_TAG}`]: 'false' } },
        }),
      ],
    });

    this.queryCaller = new iam.ManagedPolicy(this, 'QueryCaller', {
      description: 'fleetprof: call the query Function URL (AWS_IAM auth)',
      statements: [
        new iam.PolicyStatement({
          sid: 'InvokeQueryUrl',
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [queryFunction.functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        new iam.PolicyStatement({
          sid: 'InvokeQueryViaUrl',
          actions: ['lambda:InvokeFunction'],
          resources: [queryFunction.functionArn],
          conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
        }),
      ],
    });

    this.athenaUser = new iam.ManagedPolicy(this, 'AthenaUser', {
      description: 'fleetprof: run Athena queries in the fleetprof workgroup over the Parquet tables',
      statements: [
        new iam.PolicyStatement({
          sid: 'UseWorkgroup',
          actions: [
            'athena:StartQueryExecution',
            'athena:StopQueryExecution',
            'athena:GetQueryExecution',
            'athena:GetQueryResults',
            'athena:GetQueryResultsStream',
            'athena:ListQueryExecutions',
            'athena:BatchGetQueryExecution',
            'athena:GetWorkGroup',
          ],
          resources: [catalog.workgroupArn()],
        }),
        new iam.PolicyStatement({
          sid: 'ReadCatalog',
          actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions'],
          resources: catalog.glueArns(),
        }),
        new iam.PolicyStatement({ sid: 'ReadTables', actions: ['s3:GetObject'], resources: [objectsUnder(bucket, TABLES_PREFIX)] }),
        new iam.PolicyStatement({
          sid: 'ReadWriteResults',
          actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
          resources: [objectsUnder(bucket, ATHENA_RESULTS_PREFIX)],
        }),
        new iam.PolicyStatement({ sid: 'BucketLocation', actions: ['s3:GetBucketLocation'], resources: [bucket.bucketArn] }),
        listUnder(bucket, TABLES_PREFIX, ATHENA_RESULTS_PREFIX),
      ],
    });
  }
}
