import { StatementType } from '@duckdb/node-api';
import type { QueryEngine } from './engine';
import { checkSqlAst } from './sql-guard';

// User SQL: exactly one read-only statement. The engine's connection is already locked down
// (no files outside the tables, no settings, no extensions); this adds the statement checks
// (lib/query/sql-guard.ts), a time limit and a row limit.

export interface SqlResult {
  columns: string[];
  rows: unknown[][];
}

export interface SqlLimits {
  /** Most rows a result may have (default 100,000); more is an error asking for a LIMIT. */
  maxRows?: number;
  /** Interrupt the query after this many milliseconds (default: none). */
  timeoutMs?: number;
}

export class SqlRejected extends Error {}

export async function runReadOnlySql(engine: QueryEngine, sql: string, limits: SqlLimits | number = {}): Promise<SqlResult> {
  const { maxRows = 100_000, timeoutMs } = typeof limits === 'number' ? { maxRows: limits } : limits;
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
  if (prepared.statementType !== StatementType.SELECT) {
    throw new SqlRejected('only SELECT statements are allowed (read-only)');
  }
  let timedOut = false;
  const timer = timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        engine.conn.interrupt();
      }, timeoutMs)
    : undefined;
  try {
    const reader = await prepared.runAndReadUntil(maxRows + 1);
    const rows = reader.getRowsJS() as unknown[][];
    if (rows.length > maxRows) throw new SqlRejected(`result has more than ${maxRows} rows; add a LIMIT`);
    return { columns: reader.columnNames(), rows };
  } catch (e) {
    if (timedOut) throw new SqlRejected(`query exceeded the ${timeoutMs} ms time limit`);
    throw e;
  } finally {
    if (timer) clearTimeout(timer);
  }
}
