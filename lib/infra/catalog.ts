import { Aws, Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ColumnType, glueType, TABLES, TableDef } from '../model/schema';
import { ATHENA_RESULTS_PREFIX, FleetprofSettings, TABLES_PREFIX } from './names';

export const PARQUET_INPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat';
export const PARQUET_OUTPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat';
export const PARQUET_SERDE = 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe';

/** Service names of an enum projection, or [] for injected. */
export function parseServices(list: string): string[] {
  return list
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

/**
 * Table-level parameters: Parquet, plus partition projection on dt (date). Layout v2 (issue #11):
 * `service` is a column, not a partition key, so fleet-wide queries need no projected service
 * list. (Until the Glue tables become symlink tables over athena/<table>/dt=D/symlink.txt, this
 * location also holds the compacted files only; fresh/ is outside it.)
 */
export function projectionParameters(startDate: string, location: string): Record<string, string> {
  return {
    classification: 'parquet',
    EXTERNAL: 'TRUE',
    'parquet.compression': 'ZSTD',
    'projection.enabled': 'true',
    'projection.dt.type': 'date',
    'projection.dt.format': 'yyyy-MM-dd',
    'projection.dt.range': `${startDate},NOW`,
    'projection.dt.interval': '1',
    'projection.dt.interval.unit': 'DAYS',
    'storage.location.template': `${location}dt=\${dt}/`,
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

/** The Glue database, one table per entry of TABLES (from lib/model/schema.ts), and the Athena workgroup. */
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

    for (const t of Object.values(TABLES) as TableDef[]) {
      const location = `s3://${props.bucket.bucketName}/${TABLES_PREFIX}${t.name}/`;
      const table = new glue.CfnTable(this, `Table-${t.name}`, {
        catalogId: Aws.ACCOUNT_ID,
        databaseName: this.databaseName,
        tableInput: {
          name: t.name,
          description: t.doc.length > 2048 ? t.doc.slice(0, 2045) + '...' : t.doc,
          tableType: 'EXTERNAL_TABLE',
          parameters: projectionParameters(s.projectionStartDate, location),
          partitionKeys: t.partitionKeys.map(column),
          storageDescriptor: {
            location,
            columns: t.columns.map(column),
            inputFormat: PARQUET_INPUT_FORMAT,
            outputFormat: PARQUET_OUTPUT_FORMAT,
            compressed: true,
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
