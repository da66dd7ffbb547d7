import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { exactJson } from '../../lib/query/json';
import { isolatedSql, SqlProcessPool } from '../../lib/query/sql-process';
import { LocalStore } from '../../lib/store/local';
import { requireDataDir } from './engine';
import { dataOption, positiveInt } from './options';
import { action } from './run';

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

export function register(program: Command): void {
  program
    .command('sql')
    .description('read-only SQL over the tables (profiles, functions, stacks, gc_cycles, runtime_metrics)')
    .addOption(dataOption())
    .option('--json', 'print {"columns":[...],"rows":[[...]]}')
    .option('--timeout-ms <n>', 'time limit (the query process is killed)', positiveInt, 60000)
    .option('--max-rows <n>', 'row limit', positiveInt, 1_000_000)
    .option('--max-bytes <n>', 'result limit in bytes of JSON', positiveInt, 256 * 1024 * 1024)
    .option('--memory-mb <n>', 'memory ceiling of the query process, MiB', positiveInt, 2048)
    .argument('<sql>', 'one SELECT statement')
    .action(action('sql', runSql));
}

/** A query with no rows is an answer (exit 0): SQL says what it asks for. */
export async function runSql(sql: string, o: SqlOptions): Promise<number> {
  requireDataDir(o.data);
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
  } finally {
    pool.close();
  }
}
