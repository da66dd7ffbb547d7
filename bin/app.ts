#!/usr/bin/env node
// CDK app entry: `npx cdk synth` / `npx cdk deploy` (cdk.json runs the compiled dist/bin/app.js).
// Settings come from cdk.json context or `-c key=value` (lib/infra/names.ts lists them).
import { App } from 'aws-cdk-lib';
import { DEFAULT_SETTINGS, FleetprofSettings } from '../lib/infra/names';
import { applyNagChecks } from '../lib/infra/nag';
import { FleetprofStack } from '../lib/infra/stack';

/** Settings from context: numbers and booleans may arrive as strings from `-c`. */
/** Settings that existed once and mean nothing now: refused, so a deploy does not silently change. */
const RETIRED: Record<string, string> = {
  projectedServices: 'service is a plain column since storage layout v2: Athena queries every service without a list (docs/deploy.md)',
  projectionStartDate: 'the dt projection covers every day fleetprof accepts (lib/model/limits.ts; docs/deploy.md)',
};

export function settingsFromContext(app: App): Partial<FleetprofSettings> {
  for (const [key, why] of Object.entries(RETIRED)) {
    if (app.node.tryGetContext(`fleetprof:${key}`) !== undefined) throw new Error(`context fleetprof:${key} is no longer a setting: ${why}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, dflt] of Object.entries({ ...DEFAULT_SETTINGS, alarmTopicArn: '' })) {
    const v: unknown = app.node.tryGetContext(`fleetprof:${key}`);
    if (v === undefined || v === '') continue;
    if (typeof dflt === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`context fleetprof:${key}: not a number: ${String(v)}`);
      out[key] = n;
    } else if (typeof dflt === 'boolean') {
      out[key] = v === true || v === 'true';
    } else {
      out[key] = String(v);
    }
  }
  return out as Partial<FleetprofSettings>;
}

export function main(): App {
  const app = new App();
  new FleetprofStack(app, String(app.node.tryGetContext('fleetprof:stackName') ?? 'Fleetprof'), {
    description: 'fleetprof: serverless continuous profiling for Go fleets (S3 -> SQS -> Lambda/DuckDB -> Parquet, Athena)',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    settings: settingsFromContext(app),
  });
  applyNagChecks(app);
  app.synth();
  return app;
}

if (require.main === module) main();
