import { TABLE_NAMES } from '../model/schema';
import { compact, DEFAULT_SETTLE_MS, type CompactOptions, type CompactResult } from './compact';
import { DAY_US } from './layout';
import { COMPACTOR_ROLLUPS, dayRollupsDue } from './rollup-compact';
import type { ParquetWriter } from './parquet';
import type { Store } from './store';

// What ONE scheduled compaction run does at time `nowUs`: the scheduled Lambda
// (lambdas/compact.ts), `fleetprof compact --bucket` and the fleet simulator (bench/fleet.ts) all
// call this, so the benchmark measures the code the stack runs. The compactor (compact.ts) decides
// how; this decides what is due: everything closed before now.

export interface CompactDueOptions {
  /** The run's clock, epoch microseconds (the schedule's invocation time, or a re-run's `now`). */
  readonly nowUs: number;
  /** Hour units' size and per-unit report (benchmarks; the stack uses the defaults). */
  readonly unitRows?: number;
  readonly splitMinUnits?: number;
  readonly onUnit?: CompactOptions['onUnit'];
  /** Close large days in units (CompactOptions.dayUnits): the stack's planner only. */
  readonly dayUnits?: boolean;
  /** Where an in-process run puts the units of large days (CompactOptions.apart: `fleetprof compact`, the benchmarks). */
  readonly apart?: CompactOptions['apart'];
  /** Where an unreadable fresh file of a closed hour goes (CompactOptions.quarantine): the planner, `fleetprof compact`. */
  readonly quarantine?: CompactOptions['quarantine'];
}

/** What the CLI prints about the rollups of a run. */
export interface RollupRunResult {
  hours: number;
  days: number;
  files: number;
  rows: number;
}

export async function compactDue(store: Store, writer: ParquetWriter, o: CompactDueOptions): Promise<CompactResult & { rollups: RollupRunResult }> {
  // Layout v2: raw tables' UTC hours closed DEFAULT_SETTLE_MS before now, then closed days;
  // deferred deletes. The rollups of every hour file that goes live are built from it in the same
  // run (rollup-compact.ts: compacted rows are deduped, so redeliveries are rolled up once); a
  // closed day's day forms once all its hours are rolled up. Rollup tables keep one file per hour
  // (a late upload rebuilds its hour and replaces that hour's files); the compactor only runs
  // their deferred deletes.
  const r = await compact(store, writer, dueOptions(store, writer, o));
  return { ...r, rollups: rollupRun(r) };
}

/**
 * The options of a scheduled run at `nowUs`: what the in-process run above, the stack's planner
 * and its workers (lib/aws/compact-job.ts) all pass to the compactor's roles.
 */
export function dueOptions(store: Store, writer: ParquetWriter, o: CompactDueOptions): CompactOptions {
  const nowMs = o.nowUs / 1000;
  const closedBefore = nowMs - DEFAULT_SETTLE_MS;
  const opts: CompactOptions = { now: nowMs, tables: TABLE_NAMES, rollups: COMPACTOR_ROLLUPS, unitRows: o.unitRows, splitMinUnits: o.splitMinUnits, onUnit: o.onUnit, dayUnits: o.dayUnits, apart: o.apart, quarantine: o.quarantine };
  return {
    ...opts,
    afterDt: async (dt, res) => {
      const t0 = Date.now();
      await dayRollupsDue(store, writer, dt, Date.parse(`${dt}T00:00:00Z`) + DAY_US / 1000 <= closedBefore, opts, res);
      res.rollupMs += Date.now() - t0;
    },
  };
}

export function rollupRun(r: CompactResult): RollupRunResult {
  return { hours: r.rollupHours, days: r.rollupDays, files: r.rollupFiles, rows: r.rollupRows };
}
