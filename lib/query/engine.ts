import * as path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { duckdbType, TABLE_NAMES, TABLES, type TableName } from '../model/schema';
import { increaseTermsViewSql } from './views';
import { missingColumns, openDuckDb, sqlString, type DuckDbSettings } from '../store/parquet';

// DuckDB views named after the documented tables, over a set of local Parquet files (the local
// store's own files, or S3 objects downloaded to a cache). Once the views exist the instance is
// locked down: external access off, the only readable paths the tables' own files (exactly those
// files, not their directories: no CSV, JSON or glob beside them), configuration locked.

export type TableFiles = Record<TableName, string[]>;

export class QueryEngine {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly conn: DuckDBConnection,
    /** Every file the tables read: the only paths this engine can open. */
    readonly files: ReadonlySet<string>,
    /** Set on a connection from connect(): called when it closes (the instance stays open). */
    private readonly onClose?: () => void,
  ) {}

  /** `allowedDirectories`: the directories the files must lie in (anything else is refused). */
  static async open(files: TableFiles, allowedDirectories: string[], settings: DuckDbSettings = {}): Promise<QueryEngine> {
    const all = TABLE_NAMES.flatMap((t) => files[t]);
    const dirs = allowedDirectories.map((d) => path.resolve(d) + path.sep);
    const stray = all.find((f) => !dirs.some((d) => path.resolve(f).startsWith(d)));
    if (stray !== undefined) throw new Error(`table file ${stray} is outside ${allowedDirectories.join(', ')}`);
    const instance = await openDuckDb(settings);
    const conn = await instance.connect();
    for (const t of TABLE_NAMES) await conn.run(await viewSql(conn, t, files[t]));
    await conn.run(increaseTermsViewSql());
    await conn.run(`SET allowed_paths = [${all.map((f) => `'${sqlString(f)}'`).join(', ')}]`);
    await conn.run('SET allowed_directories = []');
    await conn.run('SET enable_external_access = false');
    await conn.run('SET lock_configuration = true');
    return new QueryEngine(instance, conn, new Set(all));
  }

  async rows(sql: string, params?: Record<string, string | number | bigint | boolean>): Promise<Record<string, unknown>[]> {
    const reader = await this.conn.runAndReadAll(sql, params);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  }

  /**
   * Another connection on the same instance: the same views, locks and settings (they are the
   * instance's), for one request of several sharing the engine (lib/query/engine-cache.ts). Closing
   * it leaves the instance open and calls `onClose`.
   */
  async connect(onClose?: () => void): Promise<QueryEngine> {
    return new QueryEngine(this.instance, await this.instance.connect(), this.files, onClose ?? (() => undefined));
  }

  close(): void {
    this.conn.closeSync();
    if (this.onClose) this.onClose();
    else this.instance.closeSync();
  }
}

async function viewSql(conn: DuckDBConnection, t: TableName, files: string[]): Promise<string> {
  const def = TABLES[t];
  if (files.length === 0) {
    // No data yet: an empty view with the documented columns, so every query still binds.
    const cols = [...def.partitionKeys, ...def.columns].map((c) => `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`);
    return `CREATE OR REPLACE VIEW ${t} AS SELECT ${cols.join(', ')} WHERE false`;
  }
  const list = files.map((f) => `'${sqlString(f)}'`).join(', ');
  const keys = def.partitionKeys.map((k) => `'${k.name}': VARCHAR`).join(', ');
  const source = `read_parquet([${list}], hive_partitioning = true, hive_types = {${keys}}, union_by_name = true)`;
  // Columns added after some files were written: typed NULLs when no file has them yet.
  const missing = (await missingColumns(conn, def, source)).map((c) => `, CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join('');
  return `CREATE OR REPLACE VIEW ${t} AS SELECT *${missing} FROM ${source}`;
}
