import type * as DuckDbApi from '@duckdb/node-api';
import type { QueryEngine } from './engine';
import { exactJson } from './json';
import { checkSqlAst } from './sql-guard';
import { checkBoundPlan } from './sql-plan';

// User SQL: exactly one read-only statement, in three layers.
// 1. The engine (lib/query/engine.ts) can open nothing but the tables' own Parquet files, with
//    configuration locked and extensions off.
// 2. The bound plan (lib/query/sql-plan.ts) may read only those tables and range/generate_series/
//    unnest: catalog views, replacement scans and CTE-shadowed names are resolved by DuckDB before
//    we look, so no spelling gets past it.
// 3. The parsed statement (lib/query/sql-guard.ts) is checked first, for a reason that names
//    what the user wrote.
// The result is streamed chunk by chunk and refused as soon as it exceeds the row or byte limit.
// A time or memory limit that DuckDB cannot enforce (one scalar function building a giant list
// never checks for interrupts) is enforced by running this in a child process
// (lib/query/sql-process.ts) that is killed.

export interface SqlResult {
  columns: string[];
  rows: unknown[][];
}

export interface SqlLimits {
  /** Most rows a result may have (default 100,000); more is an error asking for a LIMIT. */
  maxRows?: number;
  /** Most bytes of JSON a result may have (default 16 MiB); more is an error. */
  maxBytes?: number;
  /** Interrupt the query after this many milliseconds (default: none). */
  timeoutMs?: number;
}

export const DEFAULT_SQL_MAX_BYTES = 16 * 1024 * 1024;

export class SqlRejected extends Error {}

export async function runReadOnlySql(engine: QueryEngine, sql: string, limits: SqlLimits | number = {}): Promise<SqlResult> {
  const { maxRows = 100_000, maxBytes = DEFAULT_SQL_MAX_BYTES, timeoutMs } = typeof limits === 'number' ? { maxRows: limits } : limits;
  // An engine from openEngine makes views on first use through rows(); user SQL binds through conn.
  await engine.ensureAllViews();
  const extracted = await engine.conn.extractStatements(sql).catch((e: Error) => {
    throw new SqlRejected(e.message);
  });
  if (extracted.count !== 1) throw new SqlRejected(`exactly one statement is allowed, got ${extracted.count}`);
  const ast = await engine.conn.runAndReadAll('SELECT json_serialize_sql($q::VARCHAR) AS ast', { q: sql });
  const check = checkSqlAst(String(ast.getRowsJS()[0][0]));
  if (!check.ok) throw new SqlRejected(check.reason);
  const prepared = await extracted.prepare(0).catch((e: Error) => {
    throw new SqlRejected(e.message);
  });
  // A value import would load DuckDB with the module (and with `require('fleetprof')`); by now
  // the engine has loaded it anyway.
  const { JSDuckDBValueConverter, StatementType }: typeof DuckDbApi = await import('@duckdb/node-api');
  if (prepared.statementType !== StatementType.SELECT) {
    throw new SqlRejected('only SELECT statements are allowed (read-only)');
  }
  const plan = await engine.conn.runAndReadAll('SELECT json_serialize_plan($q::VARCHAR) AS plan', { q: sql }).catch((e: Error) => {
    throw new SqlRejected(e.message);
  });
  const planCheck = checkBoundPlan(String(plan.getRowsJS()[0][0]), engine.files);
  if (!planCheck.ok) throw new SqlRejected(planCheck.reason);

  let timedOut = false;
  const timer = timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        engine.conn.interrupt();
      }, timeoutMs)
    : undefined;
  try {
    const result = await prepared.stream();
    const columns = result.columnNames();
    const rows: unknown[][] = [];
    let bytes = 0;
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      for (const row of chunk.convertRows(JSDuckDBValueConverter)) {
        rows.push(row);
        if (rows.length > maxRows) throw new SqlRejected(`result has more than ${maxRows} rows; add a LIMIT`);
        bytes += exactJson(row).length;
        if (bytes > maxBytes) throw new SqlRejected(`result is larger than ${maxBytes} bytes; select fewer or smaller columns, or add a LIMIT`);
      }
    }
    return { columns, rows };
  } catch (e) {
    if (timedOut) throw new SqlRejected(`query exceeded the ${timeoutMs} ms time limit`);
    throw e;
  } finally {
    if (timer) clearTimeout(timer);
  }
}
