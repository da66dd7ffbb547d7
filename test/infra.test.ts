import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { settingsFromContext } from '../bin/app';
import { INGEST_FUNCTION, INGEST_QUEUE } from '../lib/aws/resources';
import { dtProjectionRange, PARQUET_SERDE, SYMLINK_INPUT_FORMAT, SYMLINK_OUTPUT_FORMAT } from '../lib/infra/catalog';
import { DUCKDB_RUNTIME_PACKAGES } from '../lib/infra/functions';
import { DEFAULT_SETTINGS, QUARANTINE_PREFIX, RAW_PREFIX, TABLES_PREFIX } from '../lib/infra/names';
import { applyNagChecks } from '../lib/infra/nag';
import { FleetprofStack } from '../lib/infra/stack';
import { LIMITS, timeRangeProblem } from '../lib/model/limits';
import { GLUE_TABLE_NAMES, glueType, TABLES, TableDef } from '../lib/model/schema';
import { parseTime } from '../lib/model/time';
import { symlinkKey, utcDate } from '../lib/store/layout';

// Template assertions on the synthesized stack. Bundling is skipped ('aws:cdk:bundling-stacks': []):
// no esbuild, no copying of DuckDB, so this stays fast; `npm run lint:cfn` synthesizes for real.

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const ROOT = path.join(__dirname, '..');

function newApp(context: Record<string, unknown> = {}): App {
  return new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
}

/** Renders Fn::Join / Ref / GetAtt into a readable string: {Ref: X} -> <X>, GetAtt -> <X.Attr>. */
function str(v: Json): string {
  if (typeof v === 'string') return v;
  if (v && v.Ref) return `<${v.Ref}>`;
  if (v && v['Fn::GetAtt']) return `<${v['Fn::GetAtt'].join('.')}>`;
  if (v && v['Fn::Join']) return (v['Fn::Join'][1] as Json[]).map(str).join(v['Fn::Join'][0]);
  return JSON.stringify(v);
}
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

const app = newApp();
const stack = new FleetprofStack(app, 'Test');
const template = Template.fromStack(stack);
const resources: Record<string, Json> = template.toJSON().Resources;
const byType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const logicalId = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);

const bucketId = logicalId(stack.storage.bucket);
const queueId = logicalId(stack.storage.queue);
const dlqId = logicalId(stack.storage.dlq);
const ingestFnId = logicalId(stack.ingest.fn);
const queryFnId = logicalId(stack.query.fn);
const ingestRoleId = logicalId(stack.ingest.role);
const queryRoleId = logicalId(stack.query.role);

/** Every statement of every identity policy attached to a role (inline AWS::IAM::Policy and role Policies). */
function roleStatements(roleId: string): Json[] {
  const out: Json[] = [];
  for (const [, r] of byType('AWS::IAM::Policy')) {
    if (list(r.Properties.Roles).some((x: Json) => x.Ref === roleId)) out.push(...r.Properties.PolicyDocument.Statement);
  }
  for (const p of list(resources[roleId].Properties.Policies)) out.push(...(p as Json).PolicyDocument.Statement);
  return out;
}
const s3Statements = (sts: Json[]) => sts.filter((s) => list<string>(s.Action).some((a) => a.startsWith('s3:')));

describe('storage', () => {
  test('resources of the pipeline are all there', () => {
    template.resourceCountIs('AWS::S3::Bucket', 2); // data + access logs
    template.resourceCountIs('AWS::SQS::Queue', 4); // ingest + DLQ, compaction work + DLQ
    template.resourceCountIs('AWS::Lambda::Function', 7); // ingest, query, digest, compaction planner and worker, merger, CDK's bucket-notifications handler
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    template.resourceCountIs('AWS::Lambda::Url', 1);
    template.resourceCountIs('AWS::Glue::Database', 1);
    template.resourceCountIs('AWS::Glue::Table', GLUE_TABLE_NAMES.length);
    template.resourceCountIs('AWS::Athena::WorkGroup', 1);
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 4); // agent, agent per service, query caller, Athena user
    template.resourceCountIs('AWS::CloudWatch::Alarm', 8); // DLQ, ingest errors, backlog age, digest errors, compaction errors, merge errors, compaction DLQ, query errors
    template.resourceCountIs('Custom::S3BucketNotifications', 1);
  });

  test('only ObjectCreated under raw/ notifies the queue; Parquet goes to a prefix outside it', () => {
    const [[, n]] = byType('Custom::S3BucketNotifications');
    expect(n.Properties.BucketName).toEqual({ Ref: bucketId });
    const cfg = n.Properties.NotificationConfiguration;
    expect(Object.keys(cfg)).toEqual(['QueueConfigurations']);
    expect(cfg.QueueConfigurations).toEqual([
      {
        Events: ['s3:ObjectCreated:*'],
        Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'raw/' }] } },
        QueueArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      },
    ]);
    expect(RAW_PREFIX).toBe('raw/');
    for (const other of [TABLES_PREFIX, QUARANTINE_PREFIX]) {
      expect(other.startsWith(RAW_PREFIX) || RAW_PREFIX.startsWith(other)).toBe(false);
    }
  });

  test('queue: DLQ after 3-5 receives, visibility timeout >= 6x the ingest timeout, SSE, long DLQ retention', () => {
    const q = resources[queueId].Properties;
    expect(q.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: INGEST_QUEUE.maxReceiveCount });
    expect(q.RedrivePolicy.maxReceiveCount).toBeGreaterThanOrEqual(3);
    expect(q.RedrivePolicy.maxReceiveCount).toBeLessThanOrEqual(5);
    const fnTimeout = resources[ingestFnId].Properties.Timeout;
    expect(fnTimeout).toBe(INGEST_FUNCTION.timeoutSeconds);
    expect(q.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fnTimeout);
    expect(q.VisibilityTimeout).toBe(INGEST_QUEUE.visibilityTimeoutSeconds);
    for (const id of [queueId, dlqId]) expect(resources[id].Properties.SqsManagedSseEnabled).toBe(true);
    expect(resources[dlqId].Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  test('queues accept only TLS; S3 may send to the ingest queue only from this bucket', () => {
    const policies = byType('AWS::SQS::QueuePolicy').map(([, p]) => p.Properties);
    for (const id of [queueId, dlqId]) {
      const p = policies.find((x) => list(x.Queues).some((q: Json) => JSON.stringify(q).includes(id)));
      expect(p).toBeDefined();
      expect(p.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
    const ingestPolicy = policies.find((x) => list(x.Queues).some((q: Json) => JSON.stringify(q).includes(queueId)));
    const send = ingestPolicy.PolicyDocument.Statement.find((s: Json) => s.Principal?.Service === 's3.amazonaws.com');
    expect(send.Condition.ArnLike['aws:SourceArn']).toEqual({ 'Fn::GetAtt': [bucketId, 'Arn'] });
  });

  test('buckets: SSE, all public access blocked, TLS-only, ACLs off; data bucket logs to the access-log bucket', () => {
    for (const [id, b] of byType('AWS::S3::Bucket')) {
      expect(b.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
      expect(b.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(b.Properties.OwnershipControls.Rules).toEqual([{ ObjectOwnership: 'BucketOwnerEnforced' }]);
      const [[, policy]] = byType('AWS::S3::BucketPolicy').filter(([, p]) => p.Properties.Bucket.Ref === id);
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
    const data = resources[bucketId].Properties;
    expect(data.LoggingConfiguration.DestinationBucketName).toEqual({ Ref: logicalId(stack.storage.accessLogs) });
    expect(data.VersioningConfiguration).toBeUndefined(); // decision in docs/deploy.md
  });

  test('lifecycle: raw/ and quarantine/ expire (configurable), tables/ are kept', () => {
    const rules: Json[] = resources[bucketId].Properties.LifecycleConfiguration.Rules;
    const rule = (prefix: string) => rules.find((r) => r.Prefix === prefix);
    expect(rule('raw/')).toMatchObject({ Status: 'Enabled', ExpirationInDays: DEFAULT_SETTINGS.rawRetentionDays });
    expect(rule('quarantine/')).toMatchObject({ Status: 'Enabled', ExpirationInDays: DEFAULT_SETTINGS.quarantineRetentionDays });
    expect(rule('tables/')).toBeUndefined();
    expect(rules.some((r) => r.Prefix === undefined && r.ExpirationInDays !== undefined)).toBe(false);

    const custom = Template.fromStack(new FleetprofStack(newApp(), 'Custom', { settings: { rawRetentionDays: 3, versioned: true } }));
    const customBucket: Json = Object.values(custom.findResources('AWS::S3::Bucket')).find((b: Json) => b.Properties.VersioningConfiguration);
    expect(customBucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    const customRules: Json[] = customBucket.Properties.LifecycleConfiguration.Rules;
    expect(customRules.find((r) => r.Prefix === 'raw/').ExpirationInDays).toBe(3);
    expect(customRules.some((r) => r.NoncurrentVersionExpiration)).toBe(true);
  });
});

describe('functions', () => {
  test('query reserved concurrency: none by default, set by queryReservedConcurrency, validated', () => {
    expect(resources[queryFnId].Properties.ReservedConcurrentExecutions).toBeUndefined();
    const t = Template.fromStack(new FleetprofStack(newApp(), 'Reserved', { settings: { queryReservedConcurrency: 20 } }));
    const fns = Object.values(t.findResources('AWS::Lambda::Function')) as Json[];
    expect(fns.filter((f) => f.Properties.ReservedConcurrentExecutions === 20)).toHaveLength(1);
    expect(() => new FleetprofStack(newApp(), 'BadReserved', { settings: { queryReservedConcurrency: -1 } })).toThrow(/queryReservedConcurrency/);
  });

  test('ingest: x86_64 Node 22, memory/timeout from lib/aws/resources.ts, HOME=/tmp, bucket env, own log group', () => {
    const f = resources[ingestFnId].Properties;
    expect(f).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['x86_64'],
      Handler: 'index.handler',
      MemorySize: INGEST_FUNCTION.memoryMb,
      Timeout: INGEST_FUNCTION.timeoutSeconds,
      EphemeralStorage: { Size: INGEST_FUNCTION.ephemeralStorageMb },
      Role: { 'Fn::GetAtt': [ingestRoleId, 'Arn'] },
    });
    expect(f.Environment.Variables).toMatchObject({ HOME: '/tmp', FLEETPROF_BUCKET: { Ref: bucketId } });
    expect(f.LoggingConfig.LogGroup).toEqual({ Ref: logicalId(stack.ingest.logGroup) });
  });

  test('ingest consumes the queue with partial batch responses', () => {
    const [[, esm]] = byType('AWS::Lambda::EventSourceMapping');
    expect(esm.Properties).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionName: { Ref: ingestFnId },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: INGEST_FUNCTION.batchSize,
      ScalingConfig: { MaximumConcurrency: INGEST_FUNCTION.maxConcurrency },
    });
  });

  test('query: Function URL with AWS_IAM auth, never public', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM', TargetFunctionArn: { 'Fn::GetAtt': [queryFnId, 'Arn'] } });
    for (const [, p] of byType('AWS::Lambda::Permission')) {
      expect(p.Properties.Principal).not.toBe('*');
      expect(p.Properties.FunctionUrlAuthType).not.toBe('NONE');
    }
    expect(resources[queryFnId].Properties.Environment.Variables).toMatchObject({ HOME: '/tmp', FLEETPROF_BUCKET: { Ref: bucketId } });
  });

  test('the handler entries exist and DuckDB packages copied into the asset form a closed set', () => {
    for (const e of ['lambdas/ingest.ts', 'lambdas/query.ts']) expect(existsSync(path.join(ROOT, e))).toBe(true);
    const copied = new Set<string>(DUCKDB_RUNTIME_PACKAGES);
    for (const p of DUCKDB_RUNTIME_PACKAGES) {
      const pkg = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', p, 'package.json'), 'utf8'));
      for (const dep of Object.keys(pkg.dependencies ?? {})) expect(copied).toContain(dep);
    }
    expect(existsSync(path.join(ROOT, 'node_modules/@duckdb/node-bindings-linux-x64/duckdb.node'))).toBe(true);
  });

  test('alarms: DLQ depth > 0 and function errors > 0', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    for (const fnId of [ingestFnId, queryFnId]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
  });
});

describe('IAM', () => {
  test('agent policy: exactly s3:PutObject on raw/* and nothing else, exported', () => {
    const agent = resources[logicalId(stack.access.agent)].Properties;
    expect(agent.PolicyDocument.Statement).toEqual([
      { Sid: 'UploadRaw', Effect: 'Allow', Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/raw/*']] } },
    ]);
    const outputs = template.toJSON().Outputs;
    expect(outputs.AgentPolicyArn.Value).toEqual({ Ref: logicalId(stack.access.agent) });
  });

  test('per-service agent policy: s3:PutObject only under raw/<fleetprof-service principal tag>/, only for tagged roles', () => {
    const agent = resources[logicalId(stack.access.agentPerService)].Properties;
    expect(agent.PolicyDocument.Statement).toEqual([
      {
        Sid: 'UploadOwnServiceRaw',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/raw/${aws:PrincipalTag/fleetprof-service}/*']] },
        Condition: { Null: { 'aws:PrincipalTag/fleetprof-service': 'false' } },
      },
    ]);
    expect(template.toJSON().Outputs.AgentPerServicePolicyArn.Value).toEqual({ Ref: logicalId(stack.access.agentPerService) });
  });

  test('function roles carry no managed policies (no AWSLambdaBasicExecutionRole, no s3:* grants)', () => {
    for (const id of [ingestRoleId, queryRoleId]) expect(resources[id].Properties.ManagedPolicyArns).toBeUndefined();
  });

  test('ingest role: GetObject raw/*, Get/Put/Delete tables/*, Put quarantine/*, List only with a tables/ prefix condition', () => {
    const s3 = s3Statements(roleStatements(ingestRoleId));
    const actions = s3.flatMap((s) => list<string>(s.Action));
    expect(actions.some((a) => a.includes('*'))).toBe(false);
    const grants = new Set(s3.flatMap((s) => list<string>(s.Action).flatMap((a) => list(s.Resource).map((r) => `${a} ${str(r)}`))));
    expect([...grants].sort()).toEqual(
      [
        `s3:GetObject <${bucketId}.Arn>/raw/*`,
        `s3:GetObject <${bucketId}.Arn>/tables/*`,
        `s3:PutObject <${bucketId}.Arn>/tables/*`,
        `s3:DeleteObject <${bucketId}.Arn>/tables/*`,
        `s3:PutObject <${bucketId}.Arn>/quarantine/*`,
        `s3:ListBucket <${bucketId}.Arn>`,
      ].sort(),
    );
    const listSt = s3.find((s) => list(s.Action).includes('s3:ListBucket'));
    expect(listSt.Condition).toEqual({ StringLike: { 's3:prefix': ['tables/', 'tables/*'] } });
    for (const s of s3) expect(s.Effect).toBe('Allow');
    // SQS consumption is granted by the event source, on the ingest queue only.
    const sqs = roleStatements(ingestRoleId).filter((s) => list<string>(s.Action).some((a) => a.startsWith('sqs:')));
    expect(sqs.flatMap((s) => list(s.Resource))).toEqual([{ 'Fn::GetAtt': [queueId, 'Arn'] }]);
    expect(sqs.flatMap((s) => list<string>(s.Action))).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage']));
  });

  test('query role: read-only on tables/*, cannot write, delete or touch raw/', () => {
    const sts = roleStatements(queryRoleId);
    const s3 = s3Statements(sts);
    const grants = s3.flatMap((s) => list<string>(s.Action).flatMap((a) => list(s.Resource).map((r) => `${a} ${str(r)}`)));
    expect(grants.sort()).toEqual([`s3:GetObject <${bucketId}.Arn>/tables/*`, `s3:ListBucket <${bucketId}.Arn>`].sort());
    const all = sts.flatMap((s) => list<string>(s.Action));
    expect(all.filter((a) => /Put|Delete|Write|\*/.test(a) && !a.startsWith('logs:'))).toEqual([]);
  });

  test('no identity policy in the stack grants s3:* or Resource *', () => {
    for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
      for (const [id, p] of byType(type)) {
        for (const s of p.Properties.PolicyDocument.Statement) {
          expect(list<string>(s.Action)).not.toContain('s3:*');
          if (!id.startsWith('BucketNotificationsHandler')) expect(list(s.Resource)).not.toContain('*');
        }
      }
    }
  });
});

describe('digest', () => {
  const digestRoleId = logicalId(stack.digest.fn.role);
  const digestFnId = logicalId(stack.digest.fn.fn);
  const digestSchedule = (): [string, Json] => {
    const id = stack.getLogicalId(stack.digest.schedule);
    return [id, resources[id]];
  };

  test('EventBridge Scheduler invokes the digest function on the configured cron and time zone', () => {
    const [, sched] = digestSchedule();
    expect(sched.Properties.ScheduleExpression).toBe(DEFAULT_SETTINGS.digestSchedule);
    expect(sched.Properties.ScheduleExpressionTimezone).toBe('UTC');
    expect(str(sched.Properties.Target.Arn)).toBe(`<${digestFnId}.Arn>`);
    const custom = Template.fromStack(
      new FleetprofStack(newApp(), 'Sched', { settings: { digestSchedule: 'cron(30 6 ? * MON-FRI *)', digestTimeZone: 'Europe/Berlin' } }),
    );
    custom.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(30 6 ? * MON-FRI *)', ScheduleExpressionTimezone: 'Europe/Berlin' });
    // The compaction schedule stays hourly in UTC whatever the digest's zone.
    custom.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: DEFAULT_SETTINGS.compactSchedule, ScheduleExpressionTimezone: 'UTC' });
    expect(() => new FleetprofStack(newApp(), 'BadSched', { settings: { digestSchedule: 'every day' } })).toThrow(/digestSchedule/);
  });

  test('the scheduler role can invoke the digest function and nothing else', () => {
    const [, sched] = digestSchedule();
    const roleId = sched.Properties.Target.RoleArn['Fn::GetAtt'][0];
    const sts = roleStatements(roleId);
    expect(sts.map((st) => [st.Action, str(st.Resource)])).toEqual([['lambda:InvokeFunction', `<${digestFnId}.Arn>`]]);
  });

  test('digest role: read tables/, write digests/, no SES without a sender; SES only on the sender identity', () => {
    const sts = s3Statements(roleStatements(digestRoleId)).map((st) => [list<string>(st.Action).sort().join(','), list(st.Resource).map(str).join(',')]);
    expect(sts).toEqual(
      expect.arrayContaining([
        ['s3:GetObject', `<${bucketId}.Arn>/tables/*`],
        ['s3:PutObject', `<${bucketId}.Arn>/digests/*`],
      ]),
    );
    expect(roleStatements(digestRoleId).some((st) => list<string>(st.Action).some((a) => a.startsWith('ses:')))).toBe(false);
    const mailing = new FleetprofStack(newApp(), 'Mail', { settings: { digestFrom: 'profiler@example.com', digestTo: 'team@example.com' } });
    const mt = Template.fromStack(mailing);
    const roleId = mailing.getLogicalId(mailing.digest.fn.role.node.defaultChild as never);
    const res: Record<string, Json> = mt.toJSON().Resources;
    const ses = Object.values(res)
      .filter((r: Json) => r.Type === 'AWS::IAM::Policy' && list(r.Properties.Roles).some((x: Json) => x.Ref === roleId))
      .flatMap((r: Json) => r.Properties.PolicyDocument.Statement)
      .filter((st: Json) => list<string>(st.Action).some((a) => a.startsWith('ses:')));
    expect(ses).toHaveLength(1);
    const arns = list(ses[0].Resource).map(str);
    expect(arns.every((a) => /:identity\/(profiler@example\.com|example\.com)$/.test(a))).toBe(true);
    expect(() => new FleetprofStack(newApp(), 'NoTo', { settings: { digestFrom: 'a@example.com' } })).toThrow(/digestTo/);
  });
});

describe('Glue and Athena', () => {
  const tables = byType('AWS::Glue::Table').map(([, t]) => t.Properties.TableInput);

  test('one Glue table per TABLES entry Athena can read, columns and types from lib/model/schema.ts, dt the only partition key', () => {
    expect(tables.map((t) => t.Name).sort()).toEqual([...GLUE_TABLE_NAMES].sort());
    // The merge tier's table lives in the fresh tier only: Athena would always read it empty.
    expect(GLUE_TABLE_NAMES).not.toContain('functions_merge');
    for (const def of GLUE_TABLE_NAMES.map((n) => TABLES[n] as TableDef)) {
      const t = tables.find((x) => x.Name === def.name);
      expect(t.TableType).toBe('EXTERNAL_TABLE');
      expect(t.StorageDescriptor.Columns.map((c: Json) => [c.Name, c.Type])).toEqual(def.columns.map((c) => [c.name, glueType(c.type)]));
      // service is a plain column: a fleet-wide query needs no injected or enumerated service.
      expect(t.StorageDescriptor.Columns.map((c: Json) => c.Name)).toContain('service');
      expect(t.PartitionKeys.map((c: Json) => [c.Name, c.Type])).toEqual([['dt', 'string']]);
    }
  });

  test('symlink tables over the manifests the compactor writes (athena/<table>/dt=D/symlink.txt), read with the Parquet SerDe', () => {
    for (const t of tables) {
      const dir = symlinkKey(t.Name, '2026-11-20').replace(/symlink\.txt$/, '');
      expect(dir).toBe(`athena/${t.Name}/dt=2026-11-20/`);
      expect(str(t.StorageDescriptor.Location)).toBe(`s3://<${bucketId}>/tables/athena/${t.Name}/`);
      expect(str(t.Parameters['storage.location.template'])).toBe(`s3://<${bucketId}>/tables/athena/${t.Name}/dt=\${dt}/`);
      expect(t.StorageDescriptor).toMatchObject({
        InputFormat: SYMLINK_INPUT_FORMAT,
        OutputFormat: SYMLINK_OUTPUT_FORMAT,
        SerdeInfo: { SerializationLibrary: PARQUET_SERDE },
      });
    }
  });

  test('partition projection: dt as a date over every day fleetprof accepts, nothing else projected', () => {
    expect(dtProjectionRange()).toBe(`${LIMITS.minTime.slice(0, 10)},NOW+1DAYS`);
    for (const t of tables) {
      const p = t.Parameters;
      expect(p).toMatchObject({
        classification: 'parquet',
        'projection.enabled': 'true',
        'projection.dt.type': 'date',
        'projection.dt.format': 'yyyy-MM-dd',
        'projection.dt.range': dtProjectionRange(),
        'projection.dt.interval': '1',
        'projection.dt.interval.unit': 'DAYS',
      });
      const projected = new Set(Object.keys(p).filter((k) => /^projection\.[^.]+\.type$/.test(k)).map((k) => k.split('.')[1]));
      expect([...projected]).toEqual(['dt']);
    }
  });

  test('the dt range holds the day of every time fleetprof accepts, whenever the query runs after the ingest', () => {
    // The range's evaluation as Athena documents it: start date .. the day of NOW+<n>DAYS, in UTC.
    const [start, end] = dtProjectionRange().split(',');
    const plusDays = Number(/^NOW\+(\d+)DAYS$/.exec(end)![1]);
    const projected = (dt: string, queryMs: number) => dt >= start && dt <= new Date(queryMs + plusDays * 86_400_000).toISOString().slice(0, 10);
    const ingestMs = Date.parse('2026-11-20T13:00:00Z');
    const minUs = parseTime(LIMITS.minTime);
    const maxUs = (ingestMs + LIMITS.maxFutureMs) * 1000;
    for (const us of [minUs, minUs + 1000, maxUs, maxUs - 1000, (minUs + maxUs) / 2]) {
      expect(timeRangeProblem(us, ingestMs)).toBeNull();
      for (const queryMs of [ingestMs, ingestMs + 3_600_000, ingestMs + 400 * 86_400_000]) expect([us, projected(utcDate(us), queryMs)]).toEqual([us, true]);
    }
    // Just outside what ingest accepts: refused there, so never a row Athena would miss.
    expect(timeRangeProblem(minUs - 1, ingestMs)).not.toBeNull();
    expect(timeRangeProblem(maxUs + 1, ingestMs)).not.toBeNull();
  });

  test('retired settings are refused, not silently ignored', () => {
    expect(() => settingsFromContext(newApp({ 'fleetprof:projectedServices': 'checkout,api' }))).toThrow(/no longer a setting.*every service/);
    expect(() => settingsFromContext(newApp({ 'fleetprof:projectionStartDate': '2024-01-01' }))).toThrow(/no longer a setting/);
  });

  test('Athena workgroup: engine v3, enforced config, SSE-S3 results under athena-results/, scan cutoff', () => {
    const [[, wg]] = byType('AWS::Athena::WorkGroup');
    const c = wg.Properties.WorkGroupConfiguration;
    expect(c.EnforceWorkGroupConfiguration).toBe(true);
    expect(c.EngineVersion.SelectedEngineVersion).toBe('Athena engine version 3');
    expect(c.ResultConfiguration.EncryptionConfiguration).toEqual({ EncryptionOption: 'SSE_S3' });
    expect(str(c.ResultConfiguration.OutputLocation)).toBe(`s3://<${bucketId}>/athena-results/`);
    expect(c.BytesScannedCutoffPerQuery).toBe(DEFAULT_SETTINGS.athenaBytesScannedCutoff);
  });
});

describe('settings', () => {
  test('context values (strings from -c) become typed settings; bad values fail synth', () => {
    const a = newApp({ 'fleetprof:rawRetentionDays': '3', 'fleetprof:versioned': 'true', 'fleetprof:catalogName': 'prof' });
    expect(settingsFromContext(a)).toEqual({ rawRetentionDays: 3, versioned: true, catalogName: 'prof' });
    expect(() => settingsFromContext(newApp({ 'fleetprof:rawRetentionDays': 'x' }))).toThrow(/not a number/);
    expect(() => new FleetprofStack(newApp(), 'Bad', { settings: { catalogName: 'Bad-Name' } })).toThrow(/catalogName/);
  });
});

describe('cdk-nag', () => {
  test('AwsSolutions: no unacknowledged error or warning; every acknowledgment has a reason', () => {
    const nagApp = newApp();
    const nagStack = new FleetprofStack(nagApp, 'Nag');
    applyNagChecks(nagApp);
    const annotations = Annotations.fromStack(nagStack);
    const fmt = (ms: Json[]) => ms.map((m) => `${m.id}: ${String(m.entry.data).slice(0, 160)}`);
    expect(fmt(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
    expect(fmt(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
    // The suppressions are recorded in the template's metadata: each has an id and a real reason.
    const all: Json[] = Object.values(Template.fromStack(nagStack).toJSON().Resources as Record<string, Json>).flatMap(
      (r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? [],
    );
    expect(all.length).toBeGreaterThan(0);
    for (const s of all) {
      expect(s.id).toMatch(/^AwsSolutions-/);
      expect(Buffer.from(s.reason, s.is_reason_encoded ? 'base64' : 'utf8').toString().length).toBeGreaterThan(40);
    }
  });
});

describe('compaction', () => {
  const fnId = logicalId(stack.compaction.fn.fn);
  const roleId = logicalId(stack.compaction.fn.role);
  const workerFnId = logicalId(stack.compaction.worker.fn);
  const workerRoleId = logicalId(stack.compaction.worker.role);
  const sched = resources[stack.getLogicalId(stack.compaction.schedule)];

  test('hourly EventBridge Scheduler schedule (UTC) sends the scheduled time to the compaction function', () => {
    expect(sched.Properties.ScheduleExpression).toBe(DEFAULT_SETTINGS.compactSchedule);
    expect(sched.Properties.ScheduleExpressionTimezone).toBe('UTC');
    expect(str(sched.Properties.Target.Arn)).toBe(`<${fnId}.Arn>`);
    expect(JSON.parse(sched.Properties.Target.Input)).toEqual({ scheduledTime: '<aws.scheduler.scheduled-time>', attempt: '<aws.scheduler.attempt-number>' });
    expect(() => new FleetprofStack(newApp(), 'BadCompact', { settings: { compactSchedule: 'hourly' } })).toThrow(/compactSchedule/);
  });

  test('never two runs at once: reserved concurrency 1; a missed run is dropped, not replayed', () => {
    expect(resources[fnId].Properties.ReservedConcurrentExecutions).toBe(1);
    const [, cfg] = byType('AWS::Lambda::EventInvokeConfig').find(([, r]) => str(r.Properties.FunctionName) === `<${fnId}>`)!;
    expect(cfg.Properties).toMatchObject({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 3600 });
  });

  test('the scheduler role invokes the planner only; planner and worker read, write and delete under tables/ only (the planner also copies unreadable fresh files to quarantine/tables/fresh/) and send to the work queue only', () => {
    const invoker = sched.Properties.Target.RoleArn['Fn::GetAtt'][0];
    expect(roleStatements(invoker).map((st) => [st.Action, str(st.Resource)])).toEqual([['lambda:InvokeFunction', `<${fnId}.Arn>`]]);
    const queueId = logicalId(stack.compaction.queue);
    for (const role of [roleId, workerRoleId]) {
      const sts = s3Statements(roleStatements(role)).map((st) => [list<string>(st.Action).sort().join(','), list(st.Resource).map(str).join(',')]);
      expect(sts).toEqual([
        ['s3:DeleteObject,s3:GetObject,s3:PutObject', `<${bucketId}.Arn>/tables/*`],
        ['s3:ListBucket', `<${bucketId}.Arn>`],
        ...(role === roleId ? [['s3:PutObject', `<${bucketId}.Arn>/quarantine/tables/fresh/*`]] : []),
      ]);
      const list_ = s3Statements(roleStatements(role)).find((st) => st.Action === 's3:ListBucket');
      expect(list_.Condition.StringLike['s3:prefix']).toEqual(['tables/', 'tables/*']);
      const sqsSts = roleStatements(role).filter((st) => list<string>(st.Action).some((a) => a.startsWith('sqs:')));
      // Sending: the work queue only. The worker's event source mapping adds what consuming needs, on the same queue.
      for (const st of sqsSts) expect(list(st.Resource).map(str)).toEqual([`<${queueId}.Arn>`]);
      expect(sqsSts.flatMap((st) => list<string>(st.Action))).toContain('sqs:SendMessage');
    }
    const planner = roleStatements(roleId).filter((st) => list<string>(st.Action).some((a) => a.startsWith('sqs:')));
    expect(planner.flatMap((st) => list<string>(st.Action))).toEqual(['sqs:SendMessage']);
  });

  test('workers: the work queue (DLQ after 3 receives, visibility 6x the timeout) one message per invocation, at most compactWorkers at once', () => {
    const queue = resources[logicalId(stack.compaction.queue)];
    expect(queue.Properties.VisibilityTimeout).toBe(6 * 900);
    expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(3);
    expect(str(queue.Properties.RedrivePolicy.deadLetterTargetArn)).toBe(`<${logicalId(stack.compaction.dlq)}.Arn>`);
    const [, esm] = byType('AWS::Lambda::EventSourceMapping').find(([, r]) => str(r.Properties.FunctionName) === `<${workerFnId}>`)!;
    expect(esm.Properties).toMatchObject({ BatchSize: 1, ScalingConfig: { MaximumConcurrency: DEFAULT_SETTINGS.compactWorkers }, FunctionResponseTypes: ['ReportBatchItemFailures'] });
    expect(str(esm.Properties.EventSourceArn)).toBe(`<${logicalId(stack.compaction.queue)}.Arn>`);
    expect(resources[workerFnId].Properties.Timeout).toBe(900);
    // Planner and workers at one memory (one vCPU): the planner packs units for the workers' memory.
    expect(resources[workerFnId].Properties.MemorySize).toBe(1769);
    expect(resources[fnId].Properties.MemorySize).toBe(resources[workerFnId].Properties.MemorySize);
    expect(resources[workerFnId].Properties.Environment.Variables.FLEETPROF_COMPACT_QUEUE_URL).toEqual({ Ref: logicalId(stack.compaction.queue) });
    expect(() => new FleetprofStack(newApp(), 'BadWorkers', { settings: { compactWorkers: 1 } })).toThrow(/compactWorkers/);
  });
});

describe('merge tier', () => {
  const fnId = logicalId(stack.merge.fn.fn);
  const roleId = logicalId(stack.merge.fn.role);
  const sched = resources[stack.getLogicalId(stack.merge.schedule)];

  test('every minute (UTC) the schedule sends its time to the merger; reserved concurrency 1, a missed run dropped', () => {
    expect(sched.Properties.ScheduleExpression).toBe('rate(1 minute)');
    expect(sched.Properties.ScheduleExpressionTimezone).toBe('UTC');
    expect(str(sched.Properties.Target.Arn)).toBe(`<${fnId}.Arn>`);
    expect(JSON.parse(sched.Properties.Target.Input)).toEqual({ scheduledTime: '<aws.scheduler.scheduled-time>', attempt: '<aws.scheduler.attempt-number>' });
    expect(resources[fnId].Properties.ReservedConcurrentExecutions).toBe(1);
    // One vCPU: the measured peak of a 1,000-instance minute fits (lib/aws/resources.ts).
    expect(resources[fnId].Properties.MemorySize).toBe(1769);
    const [, cfg] = byType('AWS::Lambda::EventInvokeConfig').find(([, r]) => str(r.Properties.FunctionName) === `<${fnId}>`)!;
    expect(cfg.Properties).toMatchObject({ MaximumRetryAttempts: 0 });
    expect(() => new FleetprofStack(newApp(), 'BadMerge', { settings: { mergeSchedule: 'every minute' } })).toThrow(/mergeSchedule/);
  });

  test('least privilege: reads tables/, writes and deletes fresh files only, writes manifests only among the rest, copies unreadable fresh files to quarantine/, no queue', () => {
    const invoker = sched.Properties.Target.RoleArn['Fn::GetAtt'][0];
    expect(roleStatements(invoker).map((st) => [st.Action, str(st.Resource)])).toEqual([['lambda:InvokeFunction', `<${fnId}.Arn>`]]);
    const sts = s3Statements(roleStatements(roleId)).map((st) => [list<string>(st.Action).sort().join(','), list(st.Resource).map(str).join(',')]);
    expect(sts).toEqual([
      ['s3:GetObject', `<${bucketId}.Arn>/tables/*`],
      ['s3:DeleteObject,s3:PutObject', `<${bucketId}.Arn>/tables/fresh/*`],
      ['s3:PutObject', `<${bucketId}.Arn>/tables/*/_manifest.json`],
      ['s3:PutObject', `<${bucketId}.Arn>/quarantine/tables/fresh/*`],
      ['s3:ListBucket', `<${bucketId}.Arn>`],
    ]);
    expect(roleStatements(roleId).some((st) => list<string>(st.Action).some((a) => a.startsWith('sqs:')))).toBe(false);
  });
});
