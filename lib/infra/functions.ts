import * as path from 'node:path';
import { Duration, Size } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { repoRoot } from './paths';

/** Lambda architecture: x86_64, because the DuckDB binding installed here (and copied into the asset) is linux-x64. */
export const ARCHITECTURE = lambda.Architecture.X86_64;
export const RUNTIME = lambda.Runtime.NODEJS_22_X;

/**
 * Packages copied from the project's node_modules into every function asset: DuckDB is a native
 * addon esbuild cannot bundle, and installing it at synth time would need the registry. The
 * platform package must match ARCHITECTURE (linux-x64 here; arm64 would need
 * @duckdb/node-bindings-linux-arm64 installed, see docs/deploy.md). detect-libc is the bindings'
 * only dependency (used to pick glibc vs musl).
 */
export const DUCKDB_RUNTIME_PACKAGES = [
  '@duckdb/node-api',
  '@duckdb/node-bindings',
  '@duckdb/node-bindings-linux-x64',
  'detect-libc',
] as const;

export interface DuckdbFunctionProps {
  /** Handler file relative to the repository root, e.g. lambdas/ingest.ts (exporting `handler`). */
  readonly entry: string;
  readonly description: string;
  readonly memoryMb: number;
  readonly timeout: Duration;
  readonly ephemeralStorageMb: number;
  readonly environment: Record<string, string>;
  readonly logRetentionDays: number;
  /** More native packages to copy next to the bundle (e.g. the digest's SVG rasterizer). */
  readonly nativePackages?: readonly string[];
  /** Repository files copied next to the bundle under the same relative path (e.g. the chart font). */
  readonly assets?: readonly string[];
  /** Reserved concurrency (undefined: the account's unreserved pool). */
  readonly reservedConcurrency?: number;
}

function retention(days: number): logs.RetentionDays {
  const valid = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number');
  if (!valid.includes(days)) throw new Error(`logRetentionDays ${days} is not a CloudWatch retention (${valid.join(', ')})`);
  return days as logs.RetentionDays;
}

/**
 * A Node.js handler bundled locally by esbuild (no Docker) with DuckDB's native packages copied in
 * next to the bundle, its own log group and a role with nothing but write access to that log group
 * (callers add the data permissions, scoped to prefixes).
 */
export class DuckdbFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: DuckdbFunctionProps) {
    super(scope, id);
    const root = repoRoot();
    const natives = [...DUCKDB_RUNTIME_PACKAGES, ...(props.nativePackages ?? [])];
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: retention(props.logRetentionDays) });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (least privilege; no managed policies)`,
    });
    this.logGroup.grantWrite(this.role);

    this.fn = new NodejsFunction(this, 'Function', {
      entry: path.join(root, props.entry),
      handler: 'handler',
      projectRoot: root,
      depsLockFilePath: path.join(root, 'package-lock.json'),
      runtime: RUNTIME,
      architecture: ARCHITECTURE,
      memorySize: props.memoryMb,
      reservedConcurrentExecutions: props.reservedConcurrency,
      timeout: props.timeout,
      ephemeralStorageSize: Size.mebibytes(props.ephemeralStorageMb),
      description: props.description,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        HOME: '/tmp', // DuckDB needs a home directory; Lambda has none
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.CJS,
        target: 'node22',
        minify: true,
        sourceMap: true,
        // Everything else, the AWS SDK included, is bundled: production runs the SDK version we tested.
        externalModules: natives,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) => [
            `test -f "${inputDir}/node_modules/@duckdb/node-bindings-linux-x64/duckdb.node" || ` +
              `{ echo "fleetprof: @duckdb/node-bindings-linux-x64 is not installed; run npm install on linux-x64 (docs/deploy.md)" >&2; exit 1; }`,
            ...[...new Set(natives.map((p) => path.posix.dirname(`node_modules/${p}`)))].map((d) => `mkdir -p "${outputDir}/${d}"`),
            ...natives.map((p) => `cp -rL "${inputDir}/node_modules/${p}" "${outputDir}/node_modules/${p}"`),
            // The browser bundle the flame graph page inlines (lib/render/assets.ts looks beside the handler).
            `test -f "${inputDir}/dist/web/flame.js" || { echo "fleetprof: dist/web is not built; run npm run build" >&2; exit 1; }`,
            `cp -r "${inputDir}/dist/web" "${outputDir}/web"`,
            ...(props.assets ?? []).flatMap((a) => [`mkdir -p "${outputDir}/${path.posix.dirname(a)}"`, `cp "${inputDir}/${a}" "${outputDir}/${a}"`]),
          ],
        },
      },
    });
  }
}
