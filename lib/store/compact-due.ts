import { compact, type CompactResult } from './compact';
import { utcDate } from './layout';
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

export async function compactDue(store: Store, writer: ParquetWriter, o: CompactDueOptions): Promise<CompactResult> {
  // Layout v1: partitions of closed UTC days.
  return compact(store, writer, { before: utcDate(o.nowUs) });
}
