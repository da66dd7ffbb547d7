import type { DuckDBConnection, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { duckdbType, type ColumnType } from '../model/schema';

// JS rows -> a DuckDB table through the appender, a data chunk (typed vectors) at a time. The
// ingest writer's path into DuckDB (lib/store/parquet.ts ParquetWriter.write): no data ever becomes
// SQL text (a frame name may hold any character, NUL included) and no JSON text is built or parsed.
// Replaced NDJSON files read by read_json: encoding the JSON, its garbage and DuckDB's JSON reader
// were about half of the ingest CPU (docs/performance.md, "Ingest, layout v2 batches").

type Api = typeof import('@duckdb/node-api');
let apiModule: Promise<Api> | undefined;
/** @duckdb/node-api, loaded on first use (as openDuckDb does: loading the binding costs ~1 s). */
export function duckdbApi(): Promise<Api> {
  return (apiModule ??= import('@duckdb/node-api'));
}

/** A column of an append target: its name, its type, and how to read it from a row. */
export interface AppendColumn<R> {
  readonly name: string;
  readonly type: ColumnType;
  /** `part`: the index in `parts` of the row's part (see appendTable). */
  readonly get: (row: R, part: number) => unknown;
}

/** A column's cells as the appender takes them; timestamps travel as epoch microseconds (BIGINT). */
export function appendType(api: Api, t: ColumnType): DuckDBType {
  switch (t.kind) {
    case 'varchar':
      return api.VARCHAR;
    case 'bigint':
    case 'timestamp':
      return api.BIGINT;
    case 'integer':
      return api.INTEGER;
    case 'double':
      return api.DOUBLE;
    case 'boolean':
      return api.BOOLEAN;
    case 'list':
      return api.LIST(appendType(api, t.of));
    case 'map':
      return api.MAP(appendType(api, t.key), appendType(api, t.value));
    case 'struct':
      return api.STRUCT(Object.fromEntries(Object.entries(t.fields).map(([k, f]) => [k, appendType(api, f)])));
  }
}

type Cell = (v: unknown) => DuckDBValue;

const int64 = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(v as number));

/** JS value of a column type -> the appender's value; undefined and null are NULL. */
function cellOf(api: Api, t: ColumnType): Cell | undefined {
  switch (t.kind) {
    case 'bigint':
    case 'timestamp':
      return (v) => (v == null ? null : int64(v));
    case 'list': {
      const of = cellOf(api, t.of);
      return (v) => (v == null ? null : api.listValue(of ? (v as readonly unknown[]).map(of) : (v as DuckDBValue[])));
    }
    case 'map': {
      const key = cellOf(api, t.key) ?? ((k: unknown) => k as DuckDBValue);
      const value = cellOf(api, t.value) ?? ((x: unknown) => x as DuckDBValue);
      return (v) => {
        if (v == null) return null;
        const entries = v instanceof Map ? [...(v as Map<unknown, unknown>).entries()] : Object.entries(v as object);
        return api.mapValue(entries.map(([k, x]) => ({ key: key(k), value: value(x) })));
      };
    }
    case 'struct': {
      const fields = Object.entries(t.fields).map(([name, f]) => [name, cellOf(api, f) ?? ((x: unknown) => x as DuckDBValue)] as const);
      return (v) => {
        if (v == null) return null;
        const o = v as Record<string, unknown>;
        const out: Record<string, DuckDBValue> = {};
        for (const [name, c] of fields) out[name] = c(o[name]);
        return api.structValue(out);
      };
    }
    default:
      return undefined; // varchar, integer, double, boolean: the JS value as it is
  }
}

/** Rows per data chunk: DuckDB's vector size. */
const CHUNK_ROWS = 2048;

/**
 * Creates TEMP table `name` with `columns` and appends `parts` (arrays of rows) to it. The caller
 * drops it. A value that does not fit its column (a non-integer for INTEGER, a bigint beyond
 * int64) throws, naming the column.
 */
export async function appendTable<R>(conn: DuckDBConnection, name: string, columns: readonly AppendColumn<R>[], parts: readonly (readonly R[])[]): Promise<number> {
  await createAppendTable(conn, name, columns);
  return appendRows(conn, name, columns, parts);
}

/** Creates (or empties) TEMP table `name` with `columns`, for appendRows. */
export async function createAppendTable<R>(conn: DuckDBConnection, name: string, columns: readonly AppendColumn<R>[]): Promise<void> {
  await conn.run(`CREATE OR REPLACE TEMP TABLE "${name}" (${columns.map((c) => `"${c.name}" ${duckdbType(c.type, { timestampsAs: 'BIGINT' })}`).join(', ')})`);
}

/** Appends `parts` to TEMP table `name` made by createAppendTable with the same columns. */
export async function appendRows<R>(conn: DuckDBConnection, name: string, columns: readonly AppendColumn<R>[], parts: readonly (readonly R[])[]): Promise<number> {
  const api = await duckdbApi();
  const types = columns.map((c) => appendType(api, c.type));
  const cells = columns.map((c) => cellOf(api, c.type));
  const appender = await conn.createAppender(name, 'main', 'temp');
  const total = parts.reduce((s, rows) => s + rows.length, 0);
  let n = 0;
  try {
    let size = Math.min(CHUNK_ROWS, total);
    let chunk = api.DuckDBDataChunk.create(types, size);
    let vectors = columns.map((_c, i) => chunk.getColumnVector(i));
    let r = 0;
    for (let p = 0; p < parts.length; p++) {
      for (const row of parts[p]) {
        for (let c = 0; c < columns.length; c++) {
          const raw = columns[c].get(row, p);
          const cell = cells[c];
          try {
            vectors[c].setItem(r, (cell ? cell(raw) : raw) as never);
          } catch (e) {
            throw new Error(`column ${columns[c].name}: ${(e as Error).message}`, { cause: e });
          }
        }
        n++;
        if (++r === size) {
          // A chunk sized to the rows left: every vector's every row is written before it goes.
          for (const v of vectors) v.flush();
          appender.appendDataChunk(chunk);
          if (n < total) {
            size = Math.min(CHUNK_ROWS, total - n);
            chunk = api.DuckDBDataChunk.create(types, size);
            vectors = columns.map((_c, i) => chunk.getColumnVector(i));
          }
          r = 0;
        }
      }
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  return n;
}
