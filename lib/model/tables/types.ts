import type { Int64 } from '../profile';

// The vocabulary every table definition is written in, and the row types derived from it: a
// table's row type is computed from its `as const` column list, so a misspelled or missing
// column is a compile error where the row is built, never a silent NULL in the file.

export type ColumnType =
  | { readonly kind: 'varchar' }
  | { readonly kind: 'bigint' }
  | { readonly kind: 'integer' }
  | { readonly kind: 'double' }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'timestamp' }
  | { readonly kind: 'list'; readonly of: ColumnType }
  | { readonly kind: 'map'; readonly key: ColumnType; readonly value: ColumnType }
  | { readonly kind: 'struct'; readonly fields: { readonly [name: string]: ColumnType } };

/** Column type constructors; each keeps its literal type so rows can be derived from it. */
export const T = {
  varchar: { kind: 'varchar' } as const,
  bigint: { kind: 'bigint' } as const,
  integer: { kind: 'integer' } as const,
  double: { kind: 'double' } as const,
  boolean: { kind: 'boolean' } as const,
  timestamp: { kind: 'timestamp' } as const,
  list: <O extends ColumnType>(of: O) => ({ kind: 'list', of }) as const,
  map: <K extends ColumnType, V extends ColumnType>(key: K, value: V) => ({ kind: 'map', key, value }) as const,
  /** Field order is the object's key order (what DuckDB and Glue see). */
  struct: <F extends { readonly [name: string]: ColumnType }>(fields: F) => ({ kind: 'struct', fields }) as const,
};

export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  readonly doc: string;
  readonly nullable?: boolean;
}

export interface TableDef {
  readonly name: string;
  readonly doc: string;
  /** Hive partition keys, in path order. They are not stored inside the files. */
  readonly partitionKeys: readonly ColumnDef[];
  readonly columns: readonly ColumnDef[];
  /** Row order inside each file: what row-group statistics can prune on. */
  readonly sortBy: readonly string[];
  /**
   * Only in the fresh tier, never compacted: Athena reads compacted files only (through the
   * symlink manifests), so such a table gets no Glue table (lib/infra/catalog.ts).
   */
  readonly freshOnly?: boolean;
}

/**
 * The value a writer accepts for a column type. Timestamps are epoch microseconds; BIGINTs are
 * numbers when safe and bigints beyond 2^53; doubles may be non-finite (the codec spells those
 * for the JSON path); maps are plain objects or Maps.
 */
export type ValueOf<C extends ColumnType> = C extends { kind: 'varchar' }
  ? string
  : C extends { kind: 'bigint' }
    ? Int64
    : C extends { kind: 'integer' | 'double' | 'timestamp' }
      ? number
      : C extends { kind: 'boolean' }
        ? boolean
        : C extends { kind: 'list'; of: infer O extends ColumnType }
          ? readonly ValueOf<O>[]
          : C extends { kind: 'map'; value: infer V extends ColumnType }
            ? Readonly<Record<string, ValueOf<V>>> | ReadonlyMap<string, ValueOf<V>>
            : C extends { kind: 'struct'; fields: infer F extends { readonly [name: string]: ColumnType } }
              ? { readonly [K in keyof F]: ValueOf<F[K]> }
              : never;

type CellOf<D extends ColumnDef> = D extends { nullable: true } ? ValueOf<D['type']> | null : ValueOf<D['type']>;

/** The row type of a table: one property per column (partition keys come from the path). */
export type RowOf<D extends { readonly columns: readonly ColumnDef[] }> = {
  readonly [C in D['columns'][number] as C['name']]: CellOf<C>;
};
