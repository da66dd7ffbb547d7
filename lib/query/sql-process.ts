import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { PartitionFilter } from '../store/layout';
import type { DuckDbSettings } from '../store/parquet';
import type { Store } from '../store/store';
import type { TableFiles } from './engine';
import { listTableFiles } from './open';
import { SqlRejected, type SqlLimits, type SqlResult } from './sql';
import { SQL_CHILD_ENV, SQL_CHILD_WARM_UP_ENV, type SqlAnswer, type SqlJob, type SqlPrepare, type SqlReady } from './sql-child';

// User SQL runs in a child process that is killed when it overruns. DuckDB checks for interrupts
// between vectors, but one scalar call such as `len(range(300000000))` or `list(range(2e7))`
// allocates gigabytes and runs for minutes without checking (measured: interrupted at 3 s,
// returned at 250 s, outside memory_limit). Killing the process is the only limit that always
// holds, and the caller's event loop never converts a giant value. Per child:
// - wall-clock limit: SIGKILL at timeoutMs (+ a grace for DuckDB's own interrupt to answer first);
// - memory: DuckDB memory_limit and max_temp_directory_size, V8's old space, and the process's
//   resident set polled from /proc (Linux) with SIGKILL over the ceiling;
// - result bytes and rows: counted while streaming in the child (lib/query/sql.ts).
// Children are kept warm and reused; a killed one is replaced at once. A child opens the engine for
// its next job ahead, over the files of its last job; a replacement is told the files of the
// pool's last job (lib/query/sql-child.ts), so the query after a kill does not open one either.

export interface SqlProcessOptions {
  /** Most children alive at once (jobs beyond wait for one). */
  size?: number;
  /** Resident-set ceiling per child, MiB (default 1024). DuckDB gets 50% of it, V8 25%. */
  memoryMb?: number;
  /** Spill ceiling per child (default 1 GiB). */
  maxTempBytes?: number;
  tempDirectory?: string;
  threads?: number;
  /** The script to fork (default: sql-child.js beside this file, or in dist/ under jest). */
  childEntry?: string;
}

export interface IsolatedSqlJob {
  files: TableFiles;
  allowedDirectories: string[];
  sql: string;
  limits: SqlLimits;
}

const KILL_GRACE_MS = 500;
const RSS_POLL_MS = 50;
/** A child that has not loaded DuckDB by then is broken, not slow. */
const STARTUP_LIMIT_MS = 60_000;
/** How long a killed child's replacement waits when another child is ready (see discard). */
const REPLACE_DELAY_MS = 1_500;

interface Worker {
  child: ChildProcess;
  busy: boolean;
  /** DuckDB loaded (the child said so): no start-up cost on its next job. */
  ready: boolean;
  /** When it last finished a job (0: never). */
  idleSince: number;
}

export class SqlProcessPool {
  private readonly workers = new Set<Worker>();
  private readonly waiting: ((w: Worker) => void)[] = [];
  private nextId = 1;
  private closed = false;
  /** What the last job ran over: a child started ahead of need opens its first engine over it. */
  private last: SqlPrepare['prepare'] | undefined;
  /** Jobs answered by an engine their child had opened ahead (tests, benchmarks). */
  answeredAhead = 0;
  readonly size: number;
  readonly memoryMb: number;

  constructor(private readonly o: SqlProcessOptions = {}) {
    this.size = Math.max(1, o.size ?? 1);
    this.memoryMb = o.memoryMb ?? 1024;
  }

  async run(job: IsolatedSqlJob): Promise<SqlResult> {
    const w = await this.acquire();
    // The time limit is the query's, not the pool's: a child still starting (the first query
    // after `serve` starts, or the one after a kill) is waited for before the clock starts, so a
    // loaded machine's process start-up never turns a query's answer into a time-limit refusal.
    await this.started(w);
    const timeoutMs = job.limits.timeoutMs;
    const settings = this.settings();
    const msg: SqlJob = { id: this.nextId++, files: job.files, allowedDirectories: job.allowedDirectories, settings, sql: job.sql, limits: job.limits };
    this.last = { files: job.files, allowedDirectories: job.allowedDirectories, settings };
    return new Promise<SqlResult>((resolve, reject) => {
      let done = false;
      const finish = (kill: boolean, err?: Error, result?: SqlResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(poll);
        w.child.off('message', onMessage);
        w.child.off('exit', onExit);
        if (kill) this.discard(w);
        else this.release(w);
        if (err) reject(err);
        else resolve(result!);
      };
      const onMessage = (a: SqlAnswer | SqlReady) => {
        if (!('id' in a) || a.id !== msg.id) return;
        if (a.prepared) this.answeredAhead++;
        if (a.ok) finish(false, undefined, a.result);
        else finish(false, a.rejected ? new SqlRejected(a.message) : new Error(a.message));
      };
      const onExit = () => finish(true, new SqlRejected(`query stopped: its process exceeded the ${this.memoryMb} MiB memory limit or crashed`));
      const timer = timeoutMs ? setTimeout(() => finish(true, new SqlRejected(`query exceeded the ${timeoutMs} ms time limit`)), timeoutMs + KILL_GRACE_MS) : undefined;
      const poll = setInterval(() => {
        const rss = residentMb(w.child.pid);
        if (rss !== undefined && rss > this.memoryMb) finish(true, new SqlRejected(`query exceeded the ${this.memoryMb} MiB memory limit`));
      }, RSS_POLL_MS);
      w.child.on('message', onMessage);
      w.child.once('exit', onExit);
      w.child.send(msg);
    });
  }

  /** A child's DuckDB settings: the same for every job. */
  private settings(): DuckDbSettings {
    return {
      memoryLimit: `${Math.max(64, Math.floor(this.memoryMb * 0.5))}MB`,
      maxTempDirectorySize: `${Math.floor((this.o.maxTempBytes ?? 1 << 30) / (1 << 20))}MB`,
      tempDirectory: this.o.tempDirectory,
      threads: this.o.threads,
    };
  }

  /**
   * The files the next jobs will probably run over (serve: the store's tables at start): every
   * child opens its next engine over them now, and a child started later too.
   */
  expect(files: TableFiles, allowedDirectories: string[]): void {
    this.last = { files, allowedDirectories, settings: this.settings() };
    for (const w of this.workers) if (w.child.connected) w.child.send({ prepare: this.last } satisfies SqlPrepare);
  }

  private started(w: Worker): Promise<void> {
    if (w.ready) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        w.child.off('message', onMessage);
        w.child.off('exit', onExit);
        if (err) {
          this.discard(w);
          reject(err);
        } else resolve();
      };
      const onMessage = (m: SqlAnswer | SqlReady) => {
        if ('ready' in m) done();
      };
      const onExit = () => done(new Error('the SQL process exited while starting'));
      const timer = setTimeout(() => done(new Error(`the SQL process did not start within ${STARTUP_LIMIT_MS} ms`)), STARTUP_LIMIT_MS);
      w.child.on('message', onMessage);
      w.child.once('exit', onExit);
    });
  }

  /** Children alive (started or starting). */
  get children(): number {
    return this.workers.size;
  }

  /** Starts every child now, so the first queries (and the one after a kill) find one warm. */
  warm(): void {
    while (!this.closed && this.workers.size < this.size) this.spawn(true);
  }

  close(): void {
    this.closed = true;
    for (const w of this.workers) w.child.kill('SIGKILL');
    this.workers.clear();
  }

  private acquire(): Promise<Worker> {
    if (this.closed) return Promise.reject(new Error('SQL process pool is closed'));
    // A ready child first: one still starting (a replacement for a killed one) costs a second.
    // Among those, the one idle longest: a child that has just answered is still opening its next
    // engine (sql-child.ts), one idle longer has had the time to.
    const idle = [...this.workers].filter((w) => !w.busy && w.child.connected);
    const w = idle.filter((x) => x.ready).sort((a, b) => a.idleSince - b.idleSince)[0] ?? idle[0];
    if (w) {
      w.busy = true;
      return Promise.resolve(w);
    }
    if (this.workers.size < this.size) {
      const w = this.spawn();
      w.busy = true;
      return Promise.resolve(w);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(w: Worker): void {
    w.idleSince = Date.now();
    const next = this.waiting.shift();
    if (next) next(w);
    else w.busy = false;
  }

  private discard(w: Worker): void {
    w.child.kill('SIGKILL');
    this.workers.delete(w);
    if (this.closed) return;
    const next = this.waiting.shift();
    if (next) {
      const fresh = this.spawn();
      fresh.busy = true;
      next(fresh);
      return;
    }
    // A warm replacement, so a later request does not pay for a process start. When another
    // child is ready it takes the next query, and the replacement starts a little later: its
    // start (node, DuckDB, the warm-up query: ~0.3 CPU-s) on the same cores as that query was
    // most of the time the query after a killed one took (bench/serve-load.ts).
    const spare = [...this.workers].some((x) => x.ready && !x.busy);
    if (!spare) this.spawn(true);
    else setTimeout(() => this.warm(), REPLACE_DELAY_MS).unref();
  }

  /** `warmUp`: started ahead of need (a job is not waiting for it), so it runs a warm-up query first. */
  private spawn(warmUp = false): Worker {
    const heapMb = Math.max(64, Math.floor(this.memoryMb * 0.25));
    const child = fork(this.o.childEntry ?? defaultChildEntry(), [], {
      env: { ...process.env, [SQL_CHILD_ENV]: '1', [SQL_CHILD_WARM_UP_ENV]: warmUp ? '1' : '0' },
      execArgv: [`--max-old-space-size=${heapMb}`],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.unref();
    child.channel?.unref();
    const w: Worker = { child, busy: false, ready: false, idleSince: 0 };
    child.on('message', (m: SqlAnswer | SqlReady) => {
      if ('ready' in m) w.ready = true;
    });
    child.once('exit', () => this.workers.delete(w));
    this.workers.add(w);
    if (warmUp && this.last) child.send({ prepare: this.last } satisfies SqlPrepare);
    return w;
  }
}

/** User SQL over a store's tables (every partition), run in the pool under `limits`. */
export function isolatedSql(pool: SqlProcessPool, store: Store, allowedDirectories: string[], limits: SqlLimits): (sql: string) => Promise<SqlResult> {
  const all: PartitionFilter = {};
  return async (sql) => pool.run({ files: await listTableFiles(store, all), allowedDirectories, sql, limits });
}

function defaultChildEntry(): string {
  // Compiled: beside this file. Under jest (TypeScript sources): the build in dist/.
  return __filename.endsWith('.ts') ? path.join(__dirname, '../../dist/lib/query/sql-child.js') : path.join(__dirname, 'sql-child.js');
}

function residentMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined; // not Linux, or already gone: DuckDB's and V8's limits still apply
  }
}
