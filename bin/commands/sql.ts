import { runReadOnlySql } from '../../lib/query/sql';
import { exactJson } from '../../lib/query/json';
import { openLocalEngine } from './local';

export async function runSql(sql: string, o: { data: string; json?: boolean }): Promise<number> {
  const engine = await openLocalEngine(o.data);
  try {
    const r = await runReadOnlySql(engine, sql);
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
    engine.close();
  }
}
