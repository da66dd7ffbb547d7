// The ONE definition of every table fleetprof writes. DuckDB's CREATE TABLE and COPY, the query
// views, the Glue tables and docs/schema.md are all generated from it, so they cannot drift.
// Each table lives in lib/model/tables/<table>.ts with its row type (derived from its columns)
// and its codec; this module gathers them. To add a table: one file there, one entry here.

import { functions, functionsCodec, type FunctionsRow } from './tables/functions';
import { gcCycles, gcCyclesCodec, type GcCyclesRow } from './tables/gc-cycles';
import { profiles, profilesCodec, type ProfilesRow } from './tables/profiles';
import { runtimeMetrics, runtimeMetricsCodec, type RuntimeMetricsRow } from './tables/runtime-metrics';
import { stacks, stacksCodec, type PackedStacks, type StacksRow } from './tables/stacks';
import type { ColumnType, TableDef } from './tables/types';
import type { RowCodec } from './tables/codec';

export { T, type ColumnDef, type ColumnType, type RowOf, type TableDef } from './tables/types';
export type { JsonCell, JsonRow, RowCodec } from './tables/codec';
export type { FunctionsRow, GcCyclesRow, PackedStacks, ProfilesRow, RuntimeMetricsRow, StacksRow };
export type { PackedStackRow } from './tables/stacks';

export const TABLES = {
  profiles,
  functions,
  stacks,
  gc_cycles: gcCycles,
  runtime_metrics: runtimeMetrics,
} as const satisfies Record<string, TableDef>;

export type TableName = keyof typeof TABLES;
export const TABLE_NAMES = Object.keys(TABLES) as TableName[];

/** What the writer takes for each table: typed rows (stacks also in packed form). */
export interface TableRows {
  profiles: readonly ProfilesRow[];
  functions: readonly FunctionsRow[];
  stacks: readonly StacksRow[] | PackedStacks;
  gc_cycles: readonly GcCyclesRow[];
  runtime_metrics: readonly RuntimeMetricsRow[];
}

/** One codec per table, beside its definition (lib/model/tables/codec.ts). */
export const CODECS: { readonly [N in TableName]: RowCodec<TableRows[N] extends readonly (infer R)[] | PackedStacks ? R : never> } = {
  profiles: profilesCodec,
  functions: functionsCodec,
  stacks: stacksCodec,
  gc_cycles: gcCyclesCodec,
  runtime_metrics: runtimeMetricsCodec,
};

export function duckdbType(t: ColumnType): string {
  switch (t.kind) {
    case 'varchar':
      return 'VARCHAR';
    case 'bigint':
      return 'BIGINT';
    case 'integer':
      return 'INTEGER';
    case 'double':
      return 'DOUBLE';
    case 'boolean':
      return 'BOOLEAN';
    case 'timestamp':
      return 'TIMESTAMP';
    case 'list':
      return `${duckdbType(t.of)}[]`;
    case 'map':
      return `MAP(${duckdbType(t.key)}, ${duckdbType(t.value)})`;
    case 'struct':
      return `STRUCT(${Object.entries(t.fields).map(([name, type]) => `"${name}" ${duckdbType(type)}`).join(', ')})`;
  }
}

/** Hive/Glue (Athena) type names. */
export function glueType(t: ColumnType): string {
  switch (t.kind) {
    case 'varchar':
      return 'string';
    case 'bigint':
      return 'bigint';
    case 'integer':
      return 'int';
    case 'double':
      return 'double';
    case 'boolean':
      return 'boolean';
    case 'timestamp':
      return 'timestamp';
    case 'list':
      return `array<${glueType(t.of)}>`;
    case 'map':
      return `map<${glueType(t.key)},${glueType(t.value)}>`;
    case 'struct':
      return `struct<${Object.entries(t.fields).map(([name, type]) => `${name}:${glueType(type)}`).join(',')}>`;
  }
}
