import { Aspects, CfnResource, type Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NagSuppressions } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { ATHENA_RESULTS_PREFIX, DIGESTS_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX, TABLES_PREFIX } from './names';
import type { AccessPolicies } from './access';
import type { Catalog } from './catalog';
import type { Compaction } from './compaction';
import type { Merge } from './merge';
import type { Digest } from './digest';
import type { DuckdbFunction } from './functions';
import type { Storage } from './storage';

/** Runs the cdk-nag AwsSolutions pack over everything in `scope` (the app): findings become error/warning annotations. */
export function applyNagChecks(scope: IConstruct): void {
  Aspects.of(scope).add(new AwsSolutionsChecks({ verbose: true }));
}

/** The parts of the fleetprof stack the suppressions name (stack.ts calls in, so no import back). */
export interface NaggedStack extends Stack {
  readonly storage: Storage;
  readonly ingest: DuckdbFunction;
  readonly query: DuckdbFunction;
  readonly digest: Digest;
  readonly compaction: Compaction;
  readonly merge: Merge;
  readonly access: AccessPolicies;
  readonly catalog: Catalog;
}

/**
 * Every acknowledged AwsSolutions finding of the stack, each with its reason and, for IAM5, the
 * exact wildcard it accepts (appliesTo), so any new wildcard is still reported.
 */
export function suppressFindings(stack: NaggedStack): void {
  const bucketId = stack.getLogicalId(stack.storage.bucket.node.defaultChild as CfnResource);
  const objects = (prefix: string) => `Resource::<${bucketId}.Arn>/${prefix}*`;
  const prefixReason =
    'Object-level S3 actions can only be scoped to a key prefix with a trailing wildcard; the wildcard is limited to ' +
    'this one prefix of the fleetprof bucket, which is the least privilege S3 allows.';

  NagSuppressions.addResourceSuppressions(stack.ingest.role, [
    {
      id: 'AwsSolutions-IAM5',
      reason: `Ingest reads uploads under ${RAW_PREFIX}, reads/writes/deletes Parquet and compaction manifests under ${TABLES_PREFIX} ` +
        `and writes refused inputs under ${QUARANTINE_PREFIX}. ${prefixReason}`,
      appliesTo: [objects(RAW_PREFIX), objects(TABLES_PREFIX), objects(QUARANTINE_PREFIX)],
    },
  ], true);

  NagSuppressions.addResourceSuppressions(stack.query.role, [
    { id: 'AwsSolutions-IAM5', reason: `Query reads Parquet under ${TABLES_PREFIX} only. ${prefixReason}`, appliesTo: [objects(TABLES_PREFIX)] },
  ], true);

  NagSuppressions.addResourceSuppressions(stack.digest.fn.role, [
    {
      id: 'AwsSolutions-IAM5',
      reason:
        `The digest reads Parquet under ${TABLES_PREFIX}, writes its archive under ${DIGESTS_PREFIX} and reads the reasons of ` +
        `refused uploads (${QUARANTINE_PREFIX}*.reason.json, a health finding of the digest). ${prefixReason}`,
      appliesTo: [objects(TABLES_PREFIX), objects(DIGESTS_PREFIX), `${objects(QUARANTINE_PREFIX)}.reason.json`],
    },
  ], true);

  for (const role of [stack.compaction.fn.role, stack.compaction.worker.role]) {
    const planner = role === stack.compaction.fn.role;
    NagSuppressions.addResourceSuppressions(role, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          `Compaction reads, writes and deletes Parquet, manifests, Athena symlink lists and compaction jobs under ${TABLES_PREFIX}` +
          `${planner ? `, and the planner copies unreadable fresh files under ${QUARANTINE_PREFIX}${TABLES_PREFIX}fresh/` : ' only'}. ${prefixReason}`,
        appliesTo: [objects(TABLES_PREFIX), ...(planner ? [objects(`${QUARANTINE_PREFIX}${TABLES_PREFIX}fresh/`)] : [])],
      },
    ], true);
  }

  NagSuppressions.addResourceSuppressions(stack.merge.fn.role, [
    {
      id: 'AwsSolutions-IAM5',
      reason:
        `The merger reads Parquet and manifests under ${TABLES_PREFIX}, writes and deletes fresh batch files under ${TABLES_PREFIX}fresh/, ` +
        `writes the per-dt manifests (${TABLES_PREFIX}*/_manifest.json) and copies unreadable fresh files under ${QUARANTINE_PREFIX}${TABLES_PREFIX}fresh/, nothing else. ${prefixReason}`,
      appliesTo: [objects(TABLES_PREFIX), objects(`${TABLES_PREFIX}fresh/`), `${objects(TABLES_PREFIX)}/_manifest.json`, objects(`${QUARANTINE_PREFIX}${TABLES_PREFIX}fresh/`)],
    },
  ], true);

  NagSuppressions.addResourceSuppressions(stack.access.agent, [
    {
      id: 'AwsSolutions-IAM5',
      reason: `Agents upload new objects under ${RAW_PREFIX} (s3:PutObject only: no read, list or delete). ${prefixReason}`,
      appliesTo: [objects(RAW_PREFIX)],
    },
  ]);

  NagSuppressions.addResourceSuppressions(stack.access.agentPerService, [
    {
      id: 'AwsSolutions-IAM5',
      reason: `Agents upload new objects under ${RAW_PREFIX}<their fleetprof-service principal tag>/ (s3:PutObject only). ${prefixReason}`,
      appliesTo: [objects(`${RAW_PREFIX}<aws:PrincipalTag/fleetprof-service>/`)],
    },
  ]);

  NagSuppressions.addResourceSuppressions(stack.access.athenaUser, [
    {
      id: 'AwsSolutions-IAM5',
      reason: `Athena reads every Parquet object under ${TABLES_PREFIX} and reads/writes its results under ${ATHENA_RESULTS_PREFIX}. ${prefixReason}`,
      appliesTo: [objects(TABLES_PREFIX), objects(ATHENA_RESULTS_PREFIX)],
    },
    {
      id: 'AwsSolutions-IAM5',
      reason: `Glue table ARNs of the ${stack.catalog.databaseName} database only: Athena needs GetTable on every fleetprof table, ` +
        'and tables are generated from lib/model/schema.ts, so a wildcard keeps the policy in step with the schema.',
      // Partition/region/account render as tokens or literals depending on the stack's env.
      appliesTo: [{ regex: `/^Resource::arn:.+:glue:.+:table\\/${stack.catalog.databaseName}\\/\\*$/` }],
    },
  ]);

  const runtimeReason =
    'Node.js 22 is pinned on purpose: it is the newest runtime the project builds and tests against (Node 20+ toolchain, ' +
    'DuckDB native binding and esbuild target node22); moving to a newer runtime is a deliberate, tested change.';
  for (const f of [stack.ingest.fn, stack.query.fn, stack.digest.fn.fn, stack.compaction.fn.fn, stack.compaction.worker.fn, stack.merge.fn.fn]) {
    NagSuppressions.addResourceSuppressions(f, [{ id: 'AwsSolutions-L1', reason: runtimeReason }]);
  }

  // The singleton Lambda behind bucket.addEventNotification (Custom::S3BucketNotifications) is
  // created by CDK with the AWS managed basic-execution policy; its role is not configurable here.
  const handler = stack.node.children.find((c) => c.node.id.startsWith('BucketNotificationsHandler'));
  if (!handler) throw new Error('fleetprof: expected the CDK BucketNotificationsHandler in the stack');
  NagSuppressions.addResourceSuppressions(handler, [
    {
      id: 'AwsSolutions-IAM4',
      reason: 'CDK-managed custom resource that configures the raw/ -> SQS bucket notification at deploy time; it only needs ' +
        'CloudWatch Logs from AWSLambdaBasicExecutionRole, and its role is created by aws-cdk-lib, not by this stack.',
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
    },
  ], true);
}
