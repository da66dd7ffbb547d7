import { TABLE_NAMES } from '../model/schema';
import type { DuckDbSettings } from '../store/parquet';
import { QueryEngine, type TableFiles } from './engine';
import { runReadOnlySql, SqlRejected, type SqlLimits, type SqlResult } from './sql';

// The child process side of lib/query/sql-process.ts: receives one job at a time over IPC, runs
// it in a fresh locked engine over the files it is given, answers, and waits for the next.
//
// Each engine answers one job. Opening one (a DuckDB instance, every table's view bound over its
// files, the fresh rows that do not count found, external access off, configuration locked) was
// 80-170 ms of a 90-200 ms `SELECT count(*)` (53-74 ms CPU against 6-40 ms for the query;
// 2026-12-03, load ~19), and on a loaded machine it is what made the query after a killed one
// slow (bench/serve-load.ts). So the engine for the next job is opened ahead, while the child is
// idle: over the files of the job it just answered (or those the pool names for a new child,
// SqlPrepare). A job over exactly those files, directories and settings takes it; any other job
// closes it and opens its own, as before.

export interface SqlJob {
  id: number;
  files: TableFiles;
  allowedDirectories: string[];
  settings: DuckDbSettings;
  sql: string;
  limits: SqlLimits;
}

export type SqlAnswer =
  | { id: number; ok: true; result: SqlResult; prepared: boolean }
  | { id: number; ok: false; rejected: boolean; message: string; prepared: boolean };

/** What the next job will probably be over: the child opens its engine now (see above). */
export interface SqlPrepare {
  prepare: Pick<SqlJob, 'files' | 'allowedDirectories' | 'settings'>;
}

/** Sent once DuckDB's native binding is loaded: the child answers a job without that start-up cost. */
export interface SqlReady {
  ready: true;
}

export const SQL_CHILD_ENV = 'FLEETPROF_SQL_CHILD';
/** Set to 1 for a child started before a job needs it: it warms up before it says ready. */
export const SQL_CHILD_WARM_UP_ENV = 'FLEETPROF_SQL_CHILD_WARM_UP';

export function startSqlChild(): void {
  process.on('message', (m: SqlJob | SqlPrepare) => {
    if ('prepare' in m) return prepare(m.prepare);
    void answer(m).then((a) => {
      process.send?.(a);
      prepare(m);
    });
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
    .then(() => (warmUp ? answer(WARM_UP, false) : undefined))
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

/** The engine opened ahead for the next job, and what it was opened over. */
let next: { over: string; engine: Promise<QueryEngine | undefined> } | undefined;

/** Equal for equal inputs whatever the order the pool listed the tables in. */
const overOf = (j: SqlPrepare['prepare']) => JSON.stringify([TABLE_NAMES.map((t) => j.files[t]), j.allowedDirectories, j.settings]);

function prepare(j: SqlPrepare['prepare']): void {
  const over = overOf(j);
  if (next?.over === over) return;
  void next?.engine.then((e) => e?.close());
  // A failure here is not the job's: the job opens its own engine and reports its own error.
  next = { over, engine: QueryEngine.open(j.files, j.allowedDirectories, j.settings).catch(() => undefined) };
}

/** `takeNext`: the job may take the engine opened ahead (not the warm-up: it leaves it be). */
async function answer(job: SqlJob, takeNext = true): Promise<SqlAnswer> {
  let engine: QueryEngine | undefined;
  let prepared = false;
  try {
    const ahead = takeNext ? next : undefined;
    if (takeNext) next = undefined;
    if (ahead && ahead.over === overOf(job)) engine = await ahead.engine;
    else if (ahead) void ahead.engine.then((e) => e?.close());
    prepared = engine !== undefined;
    engine ??= await QueryEngine.open(job.files, job.allowedDirectories, job.settings);
    return { id: job.id, ok: true, result: await runReadOnlySql(engine, job.sql, job.limits), prepared };
  } catch (e) {
    return { id: job.id, ok: false, rejected: e instanceof SqlRejected, message: (e as Error).message, prepared };
  } finally {
    engine?.close();
  }
}

if (require.main === module || process.env[SQL_CHILD_ENV] === '1') startSqlChild();
