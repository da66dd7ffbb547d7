import { StatementType } from '@duckdb/node-api';
import type { QueryEngine } from './engine';

// User SQL: exactly one read-only statement. The engine's connection is already locked down
// (no files outside the tables, no settings, no extensions); this adds the statement checks.

export interface SqlResult {
  columns: string[];
  rows: unknown[][];
}

export class SqlRejected extends Error {}

export async function runReadOnlySql(engine: QueryEngine, sql: string, maxRows = 100_000): Promise<SqlResult> {
  const extracted = await engine.conn.extractStatements(sql).catch((e: Error) => {
    throw new SqlRejected(e.message);
  });
  if (extracted.count !== 1) throw new SqlRejected(`exactly one statement is allowed, got ${extracted.count}`);
  const prepared = await extracted.prepare(0).catch((e: Error) => {
    throw new SqlRejected(e.message);
  });
  if (prepared.statementType !== StatementType.SELECT) {
    throw new SqlRejected('only SELECT statements are allowed (read-only)');
  }
  const reader = await prepared.runAndReadUntil(maxRows + 1);
  const rows = reader.getRowsJS() as unknown[][];
  if (rows.length > maxRows) throw new SqlRejected(`result has more than ${maxRows} rows; add a LIMIT`);
  return { columns: reader.columnNames(), rows };
}
