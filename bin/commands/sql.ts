import * as os from 'node:os';
import * as path from 'node:path';
import { exactJson } from '../../lib/query/json';
import { isolatedSql, SqlProcessPool } from '../../lib/query/sql-process';
import { LocalStore } from '../../lib/store/local';

// `fleetprof sql`: the same sandbox as POST /sql (lib/query/sql.ts), in a child process killed at
// the time or memory limit (lib/query/sql-process.ts).

export interface SqlOptions {
  data: string;
  json?: boolean;
  timeoutMs?: number;
  maxRows?: number;
  maxBytes?: number;
  memoryMb?: number;
}

export async function runSql(sql: string, o: SqlOptions): Promise<number> {
  const dir = path.resolve(o.data);
  const pool = new SqlProcessPool({ size: 1, memoryMb: o.memoryMb ?? 2048, tempDirectory: path.join(os.tmpdir(), `fleetprof-sql-${process.pid}`) });
  try {
    const run = isolatedSql(pool, new LocalStore(dir), [dir], { timeoutMs: o.timeoutMs ?? 60_000, maxRows: o.maxRows ?? 1_000_000, maxBytes: o.maxBytes ?? 256 * 1024 * 1024 });
    const r = await run(sql);
    if (o.json) process.stdout.write(exactJson(r) + '\n');
    else {
      process.stdout.write(r.columns.join('\t') + '\n');
      for (const row of r.rows) process.stdout.write(row.map((v) => (typeof v === 'object' && v !== null ? exactJson(v) : String(v))).join('\t') + '\n');
    }
    return 0;
  } catch (e) {
    process.stderr.write(`fleetprof sql: ${(e as Error).message}\n`);
    return 1;
  } finally {
    pool.close();
  }
}
