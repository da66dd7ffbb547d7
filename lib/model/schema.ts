// The ONE definition of every table fleetprof writes. DuckDB's CREATE TABLE and COPY, the query
// views, the Glue tables and docs/schema.md are all generated from it, so they cannot drift.
// Each table lives in lib/model/tables/<table>.ts with its row type (derived from its columns)
// and its codec; this module gathers them. To add a table: one file there, one entry here.

import { functions, functionsCodec, type FunctionsRow } from './tables/functions';
import { functionsMerge, functionsMergeCodec, type FunctionsMergeRow } from './tables/functions-merge';
import { gcCycles, gcCyclesCodec, type GcCyclesRow } from './tables/gc-cycles';
import { profiles, profilesCodec, type ProfilesRow } from './tables/profiles';
import { runtimeMetrics, runtimeMetricsCodec, type RuntimeMetricsRow } from './tables/runtime-metrics';
import { stacks, stacksCodec, type PackedStacks, type StacksRow } from './tables/stacks';
import { functions1d, functions1dCodec, functions1h, functions1hCodec, type Functions1dRow, type Functions1hRow } from './tables/rollup-functions';
import { profiles1h, profiles1hCodec, type Profiles1hRow } from './tables/rollup-profiles';
import { stacks1d, stacks1dCodec, stacks1h, stacks1hCodec, type Stacks1dRow, type Stacks1hRow } from './tables/rollup-stacks';
import {
  functionShares1d,
  functionShares1dCodec,
  functionShares1h,
  functionShares1hCodec,
  type FunctionShares1dRow,
  type FunctionShares1hRow,
} from './tables/rollup-shares';
import { gc1d, gc1dCodec, gc1h, gc1hCodec, type Gc1dRow, type Gc1hRow } from './tables/rollup-gc';
import { totals1d, totals1dCodec, type Totals1dRow } from './tables/rollup-totals';
import { attributed1d, attributed1dCodec, attributed1h, attributed1hCodec, type Attributed1dRow, type Attributed1hRow } from './tables/rollup-attributed';
import type { ColumnType, TableDef } from './tables/types';
import type { RowCodec } from './tables/codec';

export { T, type ColumnDef, type ColumnType, type RowOf, type TableDef } from './tables/types';
export type { JsonCell, JsonRow, RowCodec } from './tables/codec';
export type { FunctionsRow, GcCyclesRow, PackedStacks, ProfilesRow, RuntimeMetricsRow, StacksRow };
export type { FunctionsMergeRow };
export type { Functions1dRow, Functions1hRow, Profiles1hRow, Stacks1dRow, Stacks1hRow, FunctionShares1hRow, FunctionShares1dRow, Gc1hRow, Gc1dRow, Totals1dRow, Attributed1hRow, Attributed1dRow };
export type { PackedStackRow } from './tables/stacks';

export const TABLES = {
  profiles,
  functions,
  stacks,
  gc_cycles: gcCycles,
  runtime_metrics: runtimeMetrics,
  // Rollups (lib/store/rollup-build.ts builds them from the tables above; lib/query/plan.ts reads them).
  profiles_1h: profiles1h,
  functions_1h: functions1h,
  functions_1d: functions1d,
  stacks_1h: stacks1h,
  stacks_1d: stacks1d,
  function_shares_1h: functionShares1h,
  function_shares_1d: functionShares1d,
  gc_1h: gc1h,
  gc_1d: gc1d,
  totals_1d: totals1d,
  attributed_1h: attributed1h,
  attributed_1d: attributed1d,
  // The merge tier's pre-sums (fresh hours only; lib/store/merge.ts writes them, lib/query/merge-sums.ts reads them).
  functions_merge: functionsMerge,
} as const satisfies Record<string, TableDef>;

export type TableName = keyof typeof TABLES;
export const TABLE_NAMES = Object.keys(TABLES) as TableName[];
/** Tables with a Glue table (Athena reads compacted files: a fresh-tier-only table has none). */
export const GLUE_TABLE_NAMES = TABLE_NAMES.filter((t) => !(TABLES[t] as TableDef).freshOnly);

/** The tables ingest writes (the rollups are derived from them). */
export const RAW_TABLE_NAMES = ['profiles', 'functions', 'stacks', 'gc_cycles', 'runtime_metrics'] as const satisfies readonly TableName[];
export const ROLLUP_TABLE_NAMES = ['profiles_1h', 'functions_1h', 'functions_1d', 'stacks_1h', 'stacks_1d', 'function_shares_1h', 'function_shares_1d', 'gc_1h', 'gc_1d', 'totals_1d', 'attributed_1h', 'attributed_1d'] as const satisfies readonly TableName[];
export type RollupTableName = (typeof ROLLUP_TABLE_NAMES)[number];

/** What the writer takes for each table: typed rows (stacks also in packed form). */
export interface TableRows {
  profiles: readonly ProfilesRow[];
  functions: readonly FunctionsRow[];
  stacks: readonly StacksRow[] | PackedStacks;
  gc_cycles: readonly GcCyclesRow[];
  runtime_metrics: readonly RuntimeMetricsRow[];
  profiles_1h: readonly Profiles1hRow[];
  functions_1h: readonly Functions1hRow[];
  functions_1d: readonly Functions1dRow[];
  stacks_1h: readonly Stacks1hRow[];
  stacks_1d: readonly Stacks1dRow[];
  function_shares_1h: readonly FunctionShares1hRow[];
  function_shares_1d: readonly FunctionShares1dRow[];
  gc_1h: readonly Gc1hRow[];
  gc_1d: readonly Gc1dRow[];
  totals_1d: readonly Totals1dRow[];
  attributed_1h: readonly Attributed1hRow[];
  attributed_1d: readonly Attributed1dRow[];
  functions_merge: readonly FunctionsMergeRow[];
}

/** One codec per table, beside its definition (lib/model/tables/codec.ts). */
export const CODECS: { readonly [N in TableName]: RowCodec<TableRows[N] extends readonly (infer R)[] | PackedStacks ? R : never> } = {
  profiles: profilesCodec,
  functions: functionsCodec,
  stacks: stacksCodec,
  gc_cycles: gcCyclesCodec,
  runtime_metrics: runtimeMetricsCodec,
  profiles_1h: profiles1hCodec,
  functions_1h: functions1hCodec,
  functions_1d: functions1dCodec,
  stacks_1h: stacks1hCodec,
  stacks_1d: stacks1dCodec,
  function_shares_1h: functionShares1hCodec,
  function_shares_1d: functionShares1dCodec,
  gc_1h: gc1hCodec,
  gc_1d: gc1dCodec,
  totals_1d: totals1dCodec,
  attributed_1h: attributed1hCodec,
  attributed_1d: attributed1dCodec,
  functions_merge: functionsMergeCodec,
};

/**
 * DuckDB DDL type of a column type. `timestampsAs: 'BIGINT'` spells timestamps as BIGINT: the form
 * writers hand rows to DuckDB in (epoch microseconds, lib/store/append.ts), converted by
 * make_timestamp when the file is written.
 */
export function duckdbType(t: ColumnType, o: { timestampsAs?: 'TIMESTAMP' | 'BIGINT' } = {}): string {
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
      return o.timestampsAs ?? 'TIMESTAMP';
    case 'list':
      return `${duckdbType(t.of, o)}[]`;
    case 'map':
      return `MAP(${duckdbType(t.key, o)}, ${duckdbType(t.value, o)})`;
    case 'struct':
      return `STRUCT(${Object.entries(t.fields).map(([name, type]) => `"${name}" ${duckdbType(type, o)}`).join(', ')})`;
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
