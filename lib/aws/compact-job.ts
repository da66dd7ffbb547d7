import { compactDue, dueOptions, type CompactDueOptions } from '../store/compact-due';
import { compactWork, emptyResult, planCompaction, type CompactResult } from '../store/compact';
import { parseWorkMessage, type Send } from '../store/compact-jobs';
import { mergeOpen, type MergeOptions, type MergeResult } from '../store/merge';
import { COMPACT_FUNCTION, ENV } from './resources';
import { envInt, LAMBDA_MB_PER_VCPU, lambdaDuckDbSettings, lambdaMemoryMb } from './runtime';
import { compactUnitRows } from '../store/compact-hour';
import { SPLIT_MIN_UNITS } from '../store/compact-jobs';
import { openDuckDb, ParquetWriter, type DuckDbSettings } from '../store/parquet';
import type { Store } from '../store/store';
import { parseTime } from '../model/time';

// Compaction over a store (the bucket's tables/ in the Lambdas and `fleetprof compact --bucket`;
// any store in tests), each with its own DuckDB: the whole run in one process (runCompactJob: the
// CLI, the benchmarks), or the stack's two roles (runCompactPlanner: the schedule; runCompactWorker:
// the work queue). All three call the same core functions (lib/store/compact.ts, compact-jobs.ts)
// with the same options (compact-due.ts dueOptions), so what the stack runs is what an operator
// re-runs by hand.

/**
 * What a compaction Lambda (planner or worker) runs with, all from the function's memory: DuckDB's
 * limit and threads (lambdaDuckDbSettings) and the rows per unit (compactUnitRows), so a unit's
 * peak stays under the memory the function has. The planner packs the units the workers run, and
 * both functions get the same memory (lib/infra/compaction.ts, `compactMemoryMb`). The env
 * overrides (ENV.compactUnitRows, ENV.compactSplitMinUnits) are for tests and experiments.
 */
export function compactLambdaOptions(env: NodeJS.ProcessEnv = process.env): { settings: DuckDbSettings; unitRows: number; splitMinUnits: number } {
  const mb = lambdaMemoryMb(env) ?? COMPACT_FUNCTION.memoryMb;
  return {
    // One DuckDB thread per vCPU Lambda gives (1 at 1,769 MB): a unit is one sort, and a second
    // thread on one vCPU only adds its buffers (docs/performance.md "Cost model").
    settings: { ...lambdaDuckDbSettings(env), threads: Math.max(1, Math.round(mb / LAMBDA_MB_PER_VCPU)) },
    unitRows: envInt(env, ENV.compactUnitRows, compactUnitRows(mb)),
    splitMinUnits: envInt(env, ENV.compactSplitMinUnits, SPLIT_MIN_UNITS),
  };
}

/** The event the compaction schedule sends: COMPACT_FUNCTION.scheduleInput with the context attributes filled in. */
export interface CompactEvent {
  /** `<aws.scheduler.scheduled-time>`, e.g. 2026-12-02T08:05:00Z; a re-run may pass any time lib/model/time.ts parses. */
  scheduledTime?: string;
  /** `<aws.scheduler.attempt-number>` ("1", "2", ...), logged only. */
  attempt?: string;
}

export interface CompactJobResult extends CompactResult {
  /** The clock the run used, ISO 8601. */
  readonly now: string;
  readonly ms: number;
  /** The merge of the open hours that ran first (lib/store/merge.ts). */
  readonly merge: MergeResult;
}

export interface CompactJobDeps {
  store: Store;
  settings?: DuckDbSettings;
  log?: (e: Record<string, unknown>) => void;
  /** Passed to compactDue (benchmarks). */
  unitRows?: number;
  /** Passed to the planner (compact-jobs.ts SPLIT_MIN_UNITS; tests make it small). */
  splitMinUnits?: number;
  onUnit?: CompactDueOptions['onUnit'];
  /** Where the units of large days run (CompactOptions.apart; compact-units.ts): runCompactJob only. */
  apart?: CompactDueOptions['apart'];
  /** Where unreadable fresh files go (lib/store/unreadable.ts): the merge's and the hour planning's. */
  quarantine?: CompactDueOptions['quarantine'];
}

/** The run's clock: the event's scheduled time (so a retried attempt compacts the same hours), else `fallbackUs`. */
export function compactClock(event: CompactEvent | undefined, fallbackUs: number): number {
  const t = event?.scheduledTime;
  if (t === undefined || t === '') return fallbackUs;
  try {
    return parseTime(String(t), fallbackUs);
  } catch (e) {
    throw new Error(`event.scheduledTime: ${(e as Error).message}`, { cause: e });
  }
}

export async function runCompactJob(deps: CompactJobDeps, nowUs: number): Promise<CompactJobResult> {
  const t0 = Date.now();
  const instance = await openDuckDb(deps.settings);
  try {
    const writer = await ParquetWriter.create(instance);
    try {
      // The open hours' merge first (what the stack's merger does every minute), then what is due.
      const merge = await mergeOpen(deps.store, writer, { now: nowUs / 1000, quarantine: deps.quarantine });
      const r = await compactDue(deps.store, writer, { nowUs, unitRows: deps.unitRows, onUnit: deps.onUnit, apart: deps.apart, quarantine: deps.quarantine });
      const out: CompactJobResult = { ...r, merge, now: new Date(nowUs / 1000).toISOString(), ms: Date.now() - t0 };
      deps.log?.({ level: 'INFO', msg: 'compaction done', ...out });
      return out;
    } finally {
      writer.close();
    }
  } finally {
    instance.closeSync();
  }
}

/** What a planner run did (the scheduled Lambda's result). */
export interface PlannerResult extends CompactResult {
  readonly now: string;
  readonly ms: number;
  /** Work messages sent to the queue. */
  readonly sent: number;
}

/**
 * The scheduled planner (lambdas/compact.ts): deferred deletes, finalizes of complete jobs, new
 * jobs for what is due at `nowUs`, their units sent to the work queue (`send`).
 */
export async function runCompactPlanner(deps: CompactJobDeps & { send: Send }, nowUs: number): Promise<PlannerResult> {
  const t0 = Date.now();
  return withWriter(deps, async (writer) => {
    const result = emptyResult();
    let sent = 0;
    const send: Send = async (ms) => {
      await deps.send(ms);
      sent += ms.length;
    };
    // Large days in units: each runs in its own worker invocation (CompactOptions.dayUnits).
    const opts = dueOptions(deps.store, writer, { nowUs, unitRows: deps.unitRows, splitMinUnits: deps.splitMinUnits, dayUnits: true, quarantine: deps.quarantine });
    await planCompaction(deps.store, writer, opts, result, send, { housekeeping: true, resendAfterMs: COMPACT_FUNCTION.resendAfterSeconds * 1000 });
    for (const f of result.refused) deps.log?.({ level: 'WARN', msg: 'compaction quarantined an unreadable fresh file (the rest of its hour compacts)', key: f.key, reason: f.reason });
    const out: PlannerResult = { ...result, now: new Date(nowUs / 1000).toISOString(), ms: Date.now() - t0, sent };
    deps.log?.({ level: 'INFO', msg: 'compaction planned', ...out });
    return out;
  });
}

/** What a worker invocation did with its messages. */
export interface WorkerResult extends CompactResult {
  readonly ms: number;
  /** Indexes of the messages that failed (each logged with its reason). */
  readonly failed: number[];
}

/**
 * Compaction workers (lambdas/compact-worker.ts): each message's unit written and its job
 * finalized when complete, or a dt's rollups, at the worker's clock (`nowUs`). A message that
 * fails is reported (the queue redelivers it; its effects so far are safe to repeat).
 */
export async function runCompactWorker(deps: CompactJobDeps & { send: Send }, messages: readonly string[], nowUs: number): Promise<WorkerResult> {
  const t0 = Date.now();
  return withWriter(deps, async (writer) => {
    const result = emptyResult();
    const failed: number[] = [];
    const opts = dueOptions(deps.store, writer, { nowUs, unitRows: deps.unitRows, onUnit: deps.onUnit });
    for (const [i, body] of messages.entries()) {
      try {
        await compactWork(deps.store, writer, parseWorkMessage(body), opts, result, deps.send);
      } catch (e) {
        failed.push(i);
        deps.log?.({ level: 'ERROR', msg: 'compaction work failed', body, error: (e as Error).name, reason: (e as Error).message, stack: (e as Error).stack });
      }
    }
    const out: WorkerResult = { ...result, ms: Date.now() - t0, failed };
    deps.log?.({ level: 'INFO', msg: 'compaction work done', messages: messages.length, ...out });
    return out;
  });
}

/** What a merger run did (the every-minute Lambda's result). */
export interface MergeJobResult extends MergeResult {
  readonly now: string;
  readonly ms: number;
}

/** The scheduled merger (lambdas/merge.ts): every open hour's settled batch files merged, one file per table (lib/store/merge.ts). */
export async function runMergeJob(deps: Pick<CompactJobDeps, 'store' | 'settings' | 'log'> & Pick<MergeOptions, 'quarantine'>, nowUs: number): Promise<MergeJobResult> {
  const t0 = Date.now();
  return withWriter(deps, async (writer) => {
    const r = await mergeOpen(deps.store, writer, { now: nowUs / 1000, quarantine: deps.quarantine });
    const out: MergeJobResult = { ...r, now: new Date(nowUs / 1000).toISOString(), ms: Date.now() - t0 };
    const what = deps.quarantine ? 'quarantined an unreadable fresh file (the rest of its batch merges)' : 'refused an unreadable fresh file (its batch stays raw)';
    for (const f of r.refused) deps.log?.({ level: 'WARN', msg: `merge ${what}`, key: f.key, reason: f.reason });
    deps.log?.({ level: 'INFO', msg: 'merge done', ...out });
    return out;
  });
}

async function withWriter<T>(deps: Pick<CompactJobDeps, 'settings'>, f: (writer: ParquetWriter) => Promise<T>): Promise<T> {
  const instance = await openDuckDb(deps.settings);
  try {
    const writer = await ParquetWriter.create(instance);
    try {
      return await f(writer);
    } finally {
      writer.close();
    }
  } finally {
    instance.closeSync();
  }
}
