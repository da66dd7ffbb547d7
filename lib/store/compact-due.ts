import { RAW_TABLE_NAMES } from '../model/schema';
import { compact, type CompactResult } from './compact';
import { rollupStore, type RollupRunResult } from './rollup';
import type { ParquetWriter } from './parquet';
import type { Store } from './store';

// What ONE scheduled compaction run does at time `nowUs`: the scheduled Lambda
// (lambdas/compact.ts), `fleetprof compact --bucket` and the fleet simulator (bench/fleet.ts) all
// call this, so the benchmark measures the code the stack runs. The compactor (compact.ts) decides
// how; this decides what is due: everything closed before now.

export interface CompactDueOptions {
  /** The run's clock, epoch microseconds (the schedule's invocation time, or a re-run's `now`). */
  readonly nowUs: number;
}

/** How long after an hour ends its rollups wait (uploads of its last minutes still arriving). */
export const ROLLUP_GRACE_US = 15 * 60_000_000;

export async function compactDue(store: Store, writer: ParquetWriter, o: CompactDueOptions): Promise<CompactResult & { rollups: RollupRunResult }> {
  // Layout v2: raw tables' UTC hours closed DEFAULT_SETTLE_MS before now, then closed days;
  // deferred deletes. (Rollup tables keep one file per hour: a day file replacing them would hide
  // them from skipBuilt.)
  const r = await compact(store, writer, { now: o.nowUs / 1000, tables: RAW_TABLE_NAMES });
  // Rollups (lib/store/rollup.ts) of every hour closed ROLLUP_GRACE_US ago that has none yet, the
  // day forms of closed days, then the rollup tables' files of closed days merged like any table.
  const hourUs = 3_600_000_000;
  const rollups = await rollupStore(store, writer.connection, { toUs: Math.floor((o.nowUs - ROLLUP_GRACE_US) / hourUs) * hourUs, skipBuilt: true });
  return { ...r, rollups };
}
