import type { TableName } from '../model/schema';
import type { ParquetWriter } from './parquet';
import type { Store } from './store';

// The compactor's hook for rollups (the interface between lib/store/compact.ts, owned by the
// storage layout, and the rollup builder, lib/store/rollup*.ts). The compactor calls it for every
// compacted file it makes live, exactly once per file even across crashes: a live file is marked
// `rollup: 'pending'` in its manifest when it goes live, the builder's outputs are published as
// live files of their (rollup) tables under names derived from the inputs (a re-run after a crash
// finds them live and does not publish them twice), and only then is the mark cleared.

export interface RollupContext {
  readonly store: Store;
  readonly writer: ParquetWriter;
  /** The UTC day, YYYY-MM-DD. */
  readonly dt: string;
  /** Where to write output files (same filesystem as the store's staging). */
  readonly scratchDir: string;
  /** Local paths of the live compacted files of any table for this dt (e.g. the previous hour's rows). */
  liveFiles(table: TableName): Promise<string[]>;
}

export interface RollupHourInput extends RollupContext {
  readonly hour: number;
  /**
   * Per raw table, the local paths of the compacted files of this hour that went live and were not
   * rolled up yet (fetched when asked: a worker building one table reads only its sources). An
   * hour compacted again (late uploads) gives only the file of the ADDED rows, which never repeat
   * a profile_id of the earlier files (the builder of the scheduled job, rollup-compact.ts, still
   * rebuilds the whole hour: see there why).
   */
  pendingFiles(table: TableName): Promise<string[]>;
  /**
   * Build only this table's outputs (one of the builder's `hourTables`, or its `hourLast`): the
   * compaction runs an hour's tables in parallel workers. Absent: every table.
   */
  readonly table?: TableName;
}

export interface RollupDayInput extends RollupContext {
  /**
   * Per raw table, the local paths of the day files that replaced the day's hour files (same
   * rows, consolidated), fetched when asked: at 1,000 instances a day is ~1 GB of files, which
   * a builder that does not read them (the compactor's) must not download.
   */
  readonly files: (table: TableName) => Promise<string[]>;
}

export interface RollupOutput {
  /** A rollup table (in TABLES); the file becomes one of its live files for this dt. */
  readonly table: TableName;
  /** A Parquet file with exactly that table's columns; the compactor moves it into the store. */
  readonly localPath: string;
  /** UTC hours of the dt its rows cover. */
  readonly hours: readonly number[];
  /** Live files of `table` (names) the output replaces (e.g. hour rollups a day rollup consolidates). */
  readonly replaces?: readonly string[];
  /** Its row count (reported only). */
  readonly rows?: number;
}

export interface RollupBuilder {
  /** The tables whose compacted files the builder rolls up (the compactor marks theirs pending). */
  readonly sources: readonly TableName[];
  /**
   * The hour's output tables, each built by its own work message (in parallel, `table` set), in
   * any order; none: the hour is built whole in one message.
   */
  readonly hourTables: readonly TableName[];
  /** Built and published after every table of `hourTables` is (readers take an hour as rolled up from it). */
  readonly hourLast?: TableName;
  hour(input: RollupHourInput): Promise<RollupOutput[]>;
  day(input: RollupDayInput): Promise<RollupOutput[]>;
}

/** No rollups: what the compactor does until a builder is passed. */
export const NO_ROLLUPS: RollupBuilder = {
  sources: [],
  hourTables: [],
  hour: async () => [],
  day: async () => [],
};
