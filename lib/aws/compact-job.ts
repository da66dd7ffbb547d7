import { compactDue, type CompactDueOptions } from '../store/compact-due';
import type { CompactResult } from '../store/compact';
import { openDuckDb, ParquetWriter, type DuckDbSettings } from '../store/parquet';
import type { Store } from '../store/store';
import { parseTime } from '../model/time';

// One compaction run over a store (the bucket's tables/ in the Lambda and `fleetprof compact
// --bucket`; any store in tests): its own DuckDB, the core's compactDue at `nowUs`, a summary.
// The scheduled Lambda (lambdas/compact.ts) and the CLI both come through here, so what the
// schedule runs is what an operator re-runs by hand.

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
}

export interface CompactJobDeps {
  store: Store;
  settings?: DuckDbSettings;
  log?: (e: Record<string, unknown>) => void;
  /** Passed to compactDue (benchmarks). */
  unitRows?: number;
  onUnit?: CompactDueOptions['onUnit'];
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
      const r = await compactDue(deps.store, writer, { nowUs, unitRows: deps.unitRows, onUnit: deps.onUnit });
      const out: CompactJobResult = { ...r, now: new Date(nowUs / 1000).toISOString(), ms: Date.now() - t0 };
      deps.log?.({ level: 'INFO', msg: 'compaction done', ...out });
      return out;
    } finally {
      writer.close();
    }
  } finally {
    instance.closeSync();
  }
}
