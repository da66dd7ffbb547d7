// The Glue tables exactly as `cdk synth` writes them (lib/infra/catalog.ts), turned into Trino's
// file-metastore records. Nothing is re-declared here: columns, types, partition keys, table
// parameters (partition projection), input/output formats, SerDe and locations all come from the
// synthesized AWS::Glue::Table resources, with the data bucket's Ref resolved to the test bucket.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { FleetprofStack } from '../../lib/infra/stack';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface GlueTable {
  readonly name: string;
  /** The synthesized TableInput, every token resolved. */
  readonly input: Json;
}

/** Synthesizes the stack (bundling skipped) and returns its Glue database name and tables. */
export function synthesizedGlueTables(bucket: string): { database: string; tables: GlueTable[] } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new FleetprofStack(app, 'AthenaCheck');
  const bucketId = stack.getLogicalId(stack.storage.bucket.node.defaultChild as never);
  const resources: Record<string, Json> = Template.fromStack(stack).toJSON().Resources;
  const resolve = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v && typeof v === 'object') {
      if ('Ref' in v) {
        if (v.Ref === bucketId) return bucket;
        if (v.Ref === 'AWS::AccountId') return '000000000000';
        throw new Error(`unresolved Ref ${v.Ref} in a Glue table`);
      }
      if ('Fn::Join' in v) return (resolve(v['Fn::Join'][1]) as string[]).join(v['Fn::Join'][0]);
      if (Object.keys(v).some((k) => k.startsWith('Fn::'))) throw new Error(`unresolved ${JSON.stringify(v)} in a Glue table`);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
    }
    return v;
  };
  const dbs = Object.values(resources).filter((r: Json) => r.Type === 'AWS::Glue::Database');
  if (dbs.length !== 1) throw new Error(`expected one Glue database, got ${dbs.length}`);
  const database = resolve(dbs[0].Properties.DatabaseInput.Name) as string;
  const tables = Object.values(resources)
    .filter((r: Json) => r.Type === 'AWS::Glue::Table')
    .map((r: Json) => {
      const input = resolve(r.Properties.TableInput);
      return { name: input.Name as string, input };
    });
  return { database, tables };
}

const column = (c: Json) => ({ name: c.Name, type: c.Type, ...(c.Comment ? { comment: c.Comment } : {}), properties: {} });

/**
 * Writes the database and its tables into a Trino file metastore (`hive.metastore=file`), as
 * Glue would serve them to Athena: `<dir>/.<db>.trinoSchema` and `<dir>/<db>/<table>/.trinoSchema`.
 */
export function writeFileMetastore(dir: string, database: string, tables: readonly GlueTable[], dbLocation: string): void {
  mkdirSync(path.join(dir, database), { recursive: true });
  writeFileSync(
    path.join(dir, `.${database}.trinoSchema`),
    JSON.stringify({ writerVersion: '476', location: dbLocation, ownerName: 'fleetprof', ownerType: 'USER', parameters: {} }),
  );
  for (const { name, input } of tables) {
    const sd = input.StorageDescriptor;
    const record = {
      writerVersion: '476',
      owner: 'fleetprof',
      tableType: input.TableType,
      dataColumns: (sd.Columns as Json[]).map(column),
      partitionColumns: ((input.PartitionKeys ?? []) as Json[]).map(column),
      parameters: input.Parameters ?? {},
      // The formats as Glue states them; Trino maps known combinations to its own.
      originalStorageFormat: { serde: sd.SerdeInfo.SerializationLibrary, inputFormat: sd.InputFormat, outputFormat: sd.OutputFormat },
      serdeParameters: sd.SerdeInfo.Parameters ?? {},
      externalLocation: sd.Location,
      columnStatistics: {},
    };
    mkdirSync(path.join(dir, database, name), { recursive: true });
    writeFileSync(path.join(dir, database, name, '.trinoSchema'), JSON.stringify(record, null, 1));
  }
}
