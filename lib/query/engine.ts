import * as path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { duckdbType, TABLE_NAMES, TABLES, type TableName } from '../model/schema';
import { increaseTermsViewSql } from './views';
import { droppedKeysSql, viewRowsSql } from '../store/dedupe';
import type { TableFileSet } from '../store/live';
import { missingColumns, openDuckDb, sqlString, tierSource, type DuckDbSettings } from '../store/parquet';

// DuckDB views named after the documented tables, over a set of local Parquet files (the local
// store's own files, or S3 objects downloaded to a cache). Once the views exist the instance is
// locked down: external access off, the only readable paths the tables' own files (exactly those
// files, not their directories: no CSV, JSON or glob beside them), configuration locked.

export type { TableFileSet };

export type TableFiles = Record<TableName, TableFileSet>;

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
    const all = TABLE_NAMES.flatMap((t) => [...files[t].compacted, ...files[t].fresh]);
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

async function viewSql(conn: DuckDBConnection, t: TableName, files: TableFileSet): Promise<string> {
  const def = TABLES[t];
  if (files.compacted.length + files.fresh.length === 0) {
    // No data yet: an empty view with the documented columns, so every query still binds.
    const cols = [...def.partitionKeys, ...def.columns].map((c) => `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`);
    return `CREATE OR REPLACE VIEW ${t} AS SELECT ${cols.join(', ')} WHERE false`;
  }
  const compacted = files.compacted.length > 0 ? tierSource(def, 'compacted', files.compacted) : undefined;
  const fresh = files.fresh.length > 0 ? tierSource(def, 'fresh', files.fresh) : undefined;
  // Columns added after some files were written: typed NULLs when no file has them yet.
  const missingIn = async (src: string | undefined) => (src ? new Set((await missingColumns(conn, def, src)).map((c) => c.name)) : null);
  const [mc, mf] = [await missingIn(compacted), await missingIn(fresh)];
  const missing = def.columns.filter((c) => (mc === null || mc.has(c.name)) && (mf === null || mf.has(c.name)));
  const extra = missing.map((c) => `, CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join('');
  for (const h of files.lateHours) if (!/^\d{4}-\d{2}-\d{2}T\d{2}:00:00$/.test(h)) throw new Error(`bad hour ${h}`);
  // Fresh rows that do not count (lib/store/dedupe.ts), computed once here, not in every query.
  const dropped = fresh
    ? ((await conn.runAndReadAll(droppedKeysSql({ compacted, fresh, lateHours: files.lateHours }))).getRows() as [string][]).map(([k]) => `'${sqlString(k)}'`)
    : [];
  return `CREATE OR REPLACE VIEW ${t} AS ${viewRowsSql({ compacted, fresh, dropped, extra })}`;
}
