import { Aws, Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { LIMITS } from '../model/limits';
import { ColumnType, GLUE_TABLE_NAMES, glueType, TABLES, TableDef } from '../model/schema';
import { symlinkKey } from '../store/layout';
import { ATHENA_RESULTS_PREFIX, FleetprofSettings, TABLES_PREFIX } from './names';

// Layout v2 (docs/architecture.md, "Storage layout"; issue #11): Athena reads every table through
// symlink manifests. Per table and day the compactor writes `athena/<table>/dt=D/symlink.txt`
// (lib/store/layout.ts symlinkKey), listing the full s3:// URIs of the live compacted Parquet
// files; replacing that one object switches Athena from the hour files to the day file atomically,
// and fresh (uncompacted) files are never listed, so Athena sees every row exactly once.
// SymlinkTextInputFormat reads the listed files with the table's SerDe (Parquet).
export const SYMLINK_INPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat';
export const SYMLINK_OUTPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat';
export const PARQUET_SERDE = 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe';

/** The one partition key: `service` is a plain column, so fleet-wide queries need no service list. */
export const ATHENA_PARTITION_KEYS = ['dt'] as const;

/**
 * The dt projection range: every UTC day fleetprof accepts a time in (lib/model/limits.ts: from
 * LIMITS.minTime to the ingest clock + LIMITS.maxFutureMs). Athena evaluates NOW at query time,
 * which is after any ingest, so a row fleetprof shows is never outside the range.
 */
export function dtProjectionRange(): string {
  const days = Math.ceil(LIMITS.maxFutureMs / 86_400_000);
  return `${LIMITS.minTime.slice(0, 10)},NOW+${days}DAYS`;
}

/** Where the symlink manifests of a table live (a prefix ending in /), relative to the store root. */
export function symlinkPrefix(table: string): string {
  const key = symlinkKey(table, '${dt}');
  const dir = key.slice(0, key.lastIndexOf('/') + 1);
  if (!dir.endsWith('/dt=${dt}/')) throw new Error(`symlink manifests must be under .../dt=<day>/, got ${key}`);
  return dir.slice(0, -'dt=${dt}/'.length);
}

/** Table-level parameters: Parquet through symlinks, partition projection on dt (a date). */
export function projectionParameters(symlinkRoot: string): Record<string, string> {
  return {
    classification: 'parquet',
    EXTERNAL: 'TRUE',
    'projection.enabled': 'true',
    'projection.dt.type': 'date',
    'projection.dt.format': 'yyyy-MM-dd',
    'projection.dt.range': dtProjectionRange(),
    'projection.dt.interval': '1',
    'projection.dt.interval.unit': 'DAYS',
    'storage.location.template': `${symlinkRoot}dt=\${dt}/`,
  };
}

function column(c: { name: string; type: ColumnType; doc: string }): glue.CfnTable.ColumnProperty {
  // Glue comments are limited to 255 characters.
  return { name: c.name, type: glueType(c.type), comment: c.doc.length > 255 ? c.doc.slice(0, 252) + '...' : c.doc };
}

export interface CatalogProps {
  readonly bucket: s3.IBucket;
  readonly settings: FleetprofSettings;
}

/** The Glue database, one table per entry of TABLES (from lib/model/schema.ts) that Athena can read (GLUE_TABLE_NAMES), and the Athena workgroup. */
export class Catalog extends Construct {
  readonly database: glue.CfnDatabase;
  readonly databaseName: string;
  readonly tables: Record<string, glue.CfnTable> = {};
  readonly workgroup: athena.CfnWorkGroup;
  readonly workgroupName: string;

  constructor(scope: Construct, id: string, props: CatalogProps) {
    super(scope, id);
    const s = props.settings;
    this.databaseName = s.catalogName;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: {
        name: this.databaseName,
        description: 'fleetprof Parquet tables (generated from lib/model/schema.ts)',
      },
    });

    for (const t of GLUE_TABLE_NAMES.map((n) => TABLES[n] as TableDef)) {
      const keys = t.partitionKeys.map((k) => k.name);
      if (keys.join() !== ATHENA_PARTITION_KEYS.join()) throw new Error(`table ${t.name}: partition keys ${keys.join()}, the Glue projection covers only dt`);
      const location = `s3://${props.bucket.bucketName}/${TABLES_PREFIX}${symlinkPrefix(t.name)}`;
      const table = new glue.CfnTable(this, `Table-${t.name}`, {
        catalogId: Aws.ACCOUNT_ID,
        databaseName: this.databaseName,
        tableInput: {
          name: t.name,
          description: t.doc.length > 2048 ? t.doc.slice(0, 2045) + '...' : t.doc,
          tableType: 'EXTERNAL_TABLE',
          parameters: projectionParameters(location),
          partitionKeys: t.partitionKeys.map(column),
          storageDescriptor: {
            location,
            columns: t.columns.map(column),
            inputFormat: SYMLINK_INPUT_FORMAT,
            outputFormat: SYMLINK_OUTPUT_FORMAT,
            serdeInfo: { serializationLibrary: PARQUET_SERDE, parameters: { 'serialization.format': '1' } },
          },
        },
      });
      table.addResourceDependency(this.database);
      this.tables[t.name] = table;
    }

    this.workgroupName = s.catalogName;
    this.workgroup = new athena.CfnWorkGroup(this, 'Workgroup', {
      name: this.workgroupName,
      description: 'fleetprof: fleet-scale SQL over the Parquet tables (results encrypted, expire by lifecycle)',
      recursiveDeleteOption: true,
      state: 'ENABLED',
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: s.athenaBytesScannedCutoff,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${props.bucket.bucketName}/${ATHENA_RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
          expectedBucketOwner: Aws.ACCOUNT_ID,
        },
      },
    });
  }

  /** ARNs a reader of the catalog needs (catalog, database, its tables). */
  glueArns(): string[] {
    const stack = Stack.of(this);
    return [
      stack.formatArn({ service: 'glue', resource: 'catalog' }),
      stack.formatArn({ service: 'glue', resource: 'database', resourceName: this.databaseName }),
      stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${this.databaseName}/*` }),
    ];
  }

  workgroupArn(): string {
    return Stack.of(this).formatArn({ service: 'athena', resource: 'workgroup', resourceName: this.workgroupName });
  }
}
