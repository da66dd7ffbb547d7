import { TABLE_NAMES } from '../model/schema';
import type { DuckDbSettings } from '../store/parquet';
import { QueryEngine, type TableFiles } from './engine';
import { runReadOnlySql, SqlRejected, type SqlLimits, type SqlResult } from './sql';

// The child process side of lib/query/sql-process.ts: receives one job at a time over IPC, runs
// it in a fresh locked engine over the files it is given, answers, and waits for the next.

export interface SqlJob {
  id: number;
  files: TableFiles;
  allowedDirectories: string[];
  settings: DuckDbSettings;
  sql: string;
  limits: SqlLimits;
}

export type SqlAnswer =
  | { id: number; ok: true; result: SqlResult }
  | { id: number; ok: false; rejected: boolean; message: string };

/** Sent once DuckDB's native binding is loaded: the child answers a job without that start-up cost. */
export interface SqlReady {
  ready: true;
}

export const SQL_CHILD_ENV = 'FLEETPROF_SQL_CHILD';
/** Set to 1 for a child started before a job needs it: it warms up before it says ready. */
export const SQL_CHILD_WARM_UP_ENV = 'FLEETPROF_SQL_CHILD_WARM_UP';

export function startSqlChild(): void {
  process.on('message', (job: SqlJob) => {
    void answer(job).then((a) => process.send?.(a));
  });
  process.on('disconnect', () => process.exit(0));
  // Load the binding now, not on the first job, and (a child started ahead of need: serve's, a
  // replacement for a killed one) run one query through the whole path: a child's first query
  // cost 2-5x its later ones (DuckDB's first instance, the guard's and the engine's code compiled
  // on first use), and after a kill the next query went to a child that had never run one: the
  // server answered it in up to 1.04 s (bench/serve-load.ts). The pool prefers ready children.
  // A failed load says ready too: the job then answers with the real error instead of the pool
  // waiting for a start that never comes.
  const ready = () => process.send?.({ ready: true } satisfies SqlReady);
  const warmUp = process.env[SQL_CHILD_WARM_UP_ENV] === '1';
  void import('@duckdb/node-api')
    .then(() => (warmUp ? answer(WARM_UP) : undefined))
    .then(ready, ready);
}

/** The warm-up: the same path as a job, over empty tables (no files), on one thread. */
const WARM_UP: SqlJob = {
  id: 0,
  files: Object.fromEntries(TABLE_NAMES.map((t) => [t, { compacted: [], fresh: [], lateHours: [] }])) as unknown as TableFiles,
  allowedDirectories: [],
  settings: { threads: 1, memoryLimit: '64MB' },
  sql: 'SELECT count(*) FROM profiles',
  limits: {},
};

async function answer(job: SqlJob): Promise<SqlAnswer> {
  let engine: QueryEngine | undefined;
  try {
    engine = await QueryEngine.open(job.files, job.allowedDirectories, job.settings);
    return { id: job.id, ok: true, result: await runReadOnlySql(engine, job.sql, job.limits) };
  } catch (e) {
    return { id: job.id, ok: false, rejected: e instanceof SqlRejected, message: (e as Error).message };
  } finally {
    engine?.close();
  }
}

if (require.main === module || process.env[SQL_CHILD_ENV] === '1') startSqlChild();
