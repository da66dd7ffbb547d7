import type { ColumnType, RowOf, TableDef } from './types';

// A table's codec: its typed rows -> the cells the writer's NDJSON path carries. Derived from the
// column types, so a new column needs no codec code; only types JSON cannot spell need work:
// non-finite doubles (JSON has no NaN or infinities; DuckDB's JSON reader casts these strings to
// DOUBLE). Maps and BIGINTs beyond 2^53 are the writer's business (JSON objects, exact integer
// literals in the JSON text). Columns that need nothing cost nothing: no per-row copy.

export type JsonCell = string | number | bigint | boolean | null | readonly JsonCell[] | { readonly [k: string]: JsonCell };
export type JsonRow = { readonly [column: string]: JsonCell };

export interface RowCodec<R> {
  readonly table: TableDef;
  encode(row: R): JsonRow;
}

type Cell = (v: unknown) => JsonCell;

export function jsonDouble(v: number): number | string {
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/** The conversion a value of this type needs on the JSON path; undefined: none. */
function cellCodec(t: ColumnType): Cell | undefined {
  switch (t.kind) {
    case 'double':
      return (v) => (v === null ? null : jsonDouble(v as number));
    case 'list': {
      const of = cellCodec(t.of);
      return of && ((v) => (v === null ? null : (v as unknown[]).map(of)));
    }
    case 'map': {
      const value = cellCodec(t.value);
      if (!value) return undefined; // the writer's JSON replacer turns a Map into an object
      return (v) => {
        if (v === null) return null;
        const entries = v instanceof Map ? [...v.entries()] : Object.entries(v as object);
        return Object.fromEntries(entries.map(([k, x]) => [k, value(x)]));
      };
    }
    case 'struct': {
      const fields = Object.entries(t.fields).map(([name, ft]) => [name, cellCodec(ft)] as const);
      if (fields.every(([, c]) => c === undefined)) return undefined;
      return (v) => {
        if (v === null) return null;
        const o = v as Record<string, unknown>;
        return Object.fromEntries(fields.map(([name, c]) => [name, c ? c(o[name]) : (o[name] as JsonCell)]));
      };
    }
    default:
      return undefined;
  }
}

export function rowCodec<D extends TableDef>(table: D): RowCodec<RowOf<D>> {
  const cells = table.columns.flatMap((c) => {
    const f = cellCodec(c.type);
    return f ? [[c.name, f] as const] : [];
  });
  if (cells.length === 0) return { table, encode: (row) => row as unknown as JsonRow };
  return {
    table,
    encode: (row) => {
      const out: Record<string, unknown> = { ...(row as object) };
      for (const [name, f] of cells) out[name] = f(out[name]);
      return out as JsonRow;
    },
  };
}
