import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TABLES, type PackedStacks, type TableName, type TableRows } from '../model/schema';
import { freshKey, newBatchId, utcDate, utcHour } from './layout';
import type { ParquetWriter, RowFile, TableData } from './parquet';
import type { Store } from './store';

// The one publish path of ingest: many sources' table rows -> ONE Parquet file per table per UTC
// hour in the fresh tier (`fresh/<table>/dt=D/hour=HH/<batch-id>.parquet`), all staged before any
// is published, so a failure while writing publishes nothing. Ingest only writes: it never lists
// or reads the store (a LIST per object was most of the S3 request bill, and moto's listing is
// linear). A source written twice (redelivery) lands in two batches; readers and the compactor
// keep one copy per profile_id and hour (lib/store/dedupe.ts).

export interface PublishTarget {
  readonly store: Store;
  readonly writer: ParquetWriter;
}

/** The rows one source gives one table: all at once (a profile's), or a chunk at a time. */
export type TableEntry<N extends TableName = TableName> = RowsEntry<N> | ChunkedEntry<Extract<N, PlainTable>>;

/** Tables whose rows are plain arrays (all but stacks, which a profile packs). */
export type PlainTable = { [N in TableName]: TableRows[N] extends readonly unknown[] ? N : never }[TableName];

export interface RowsEntry<N extends TableName = TableName> {
  readonly table: N;
  readonly rows: TableRows[N];
}

/**
 * Rows that arrive a chunk at a time (a gctrace log, runtime/metrics: lib/model/gc.ts RowStream,
 * #13). The batch holds only the entry, never its rows: each `chunks()` call reads the input again,
 * and publish streams the chunks into the batch's per-table files as they come, so memory holds
 * one chunk whatever the input's size.
 */
export interface ChunkedEntry<N extends PlainTable = PlainTable> {
  readonly table: N;
  /** Rows the chunks hold in all (counted towards the batch's row limit, see FreshBatch.add). */
  readonly count: number;
  chunks(): Iterable<TableRows[N]>;
}

export function isChunked(e: TableEntry): e is ChunkedEntry {
  return 'chunks' in e;
}

/** When a batch should be flushed early: it bounds the rows (and so the memory) one batch holds. */
export interface BatchLimits {
  /** Table rows held before `full` says flush (packed stacks count one per stack). */
  readonly maxRows: number;
}

/**
 * Default: about 200 MB of JS rows at the measured few hundred bytes a row; a CPU profile of a busy
 * service is a few thousand rows, so a 10-message SQS batch stays far below it.
 */
export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxRows: 400_000 };

interface Slot {
  readonly table: TableName;
  readonly dt: string;
  readonly hour: number;
  readonly parts: TableData[];
}

export class FreshBatch {
  private slots = new Map<string, Slot>();
  private streams: ChunkedEntry[] = [];
  private held = 0;

  constructor(
    private readonly target: PublishTarget,
    readonly limits: BatchLimits = DEFAULT_BATCH_LIMITS,
  ) {}

  /** Rows held (packed stacks: one per stack). */
  get rows(): number {
    return this.held;
  }

  get empty(): boolean {
    return this.slots.size === 0 && this.streams.length === 0;
  }

  /** Whether the batch holds enough rows to be flushed before taking more. */
  get full(): boolean {
    return this.held >= this.limits.maxRows;
  }

  /**
   * Adds one source's rows, split by the UTC hour of their `time`. A chunked entry is kept as it
   * is (its rows are read at publish); its rows still count towards `full`: what it holds is its
   * input's bytes, which grow with them, and a flush is what lets those go.
   */
  add(entries: readonly TableEntry[]): void {
    for (const e of entries) {
      if (isChunked(e)) {
        this.streams.push(e);
        this.held += e.count;
        continue;
      }
      for (const [hourUs, part] of splitByHour(e.rows)) {
        const dt = utcDate(hourUs);
        const hour = utcHour(hourUs);
        const k = slotKey(e.table, dt, hour);
        let slot = this.slots.get(k);
        if (!slot) this.slots.set(k, (slot = { table: e.table, dt, hour, parts: [] }));
        slot.parts.push(part);
        this.held += isPacked(part) ? part.rows.length : part.length;
      }
    }
  }

  /**
   * Writes every slot to scratch, then publishes them (profiles last, so a profile row is visible
 * only once its functions and stacks are) and empties the batch.
   * Returns the published keys. On a failure nothing staged is left behind; what was already
   * published stays (a retry writes it again under a new batch id; readers keep one copy).
   */
  async publish(batchId: string = newBatchId()): Promise<string[]> {
    const slots = [...this.slots.values()];
    const streams = this.streams;
    this.slots = new Map();
    this.streams = [];
    this.held = 0;
    if (slots.length === 0 && streams.length === 0) return [];
    const { store, writer } = this.target;
    await fs.mkdir(store.scratchDir, { recursive: true });
    const staged: { table: TableName; key: string; tmp: string }[] = [];
    // Files fed a chunk at a time (ParquetWriter.rowFile), one per table and hour the chunked
    // entries reach; held rows of the same table and hour join the same file.
    const open = new Map<string, RowFile>();
    // Each open file buffers up to a run of rows in DuckDB before writing them as a sorted run, and
    // a log spanning many hours opens a file per hour: the 285 MB gctrace log (2M cycles, 28 hours)
    // left ~6,500 rows buffered in each finished hour until every file was finished. So rows
    // buffered across the open files are bounded (BUFFERED_ROWS): past it, the files with most rows
    // buffered, other than the one being fed, write theirs as a shorter run. A time-ordered input
    // flushes the hour it left; one that alternates between hours writes shorter runs (more part
    // files to concatenate, no more memory).
    const bound = async (fed: RowFile) => {
      let total = 0;
      for (const f of open.values()) total += f.buffered;
      if (total <= BUFFERED_ROWS) return;
      for (const f of [...open.values()].sort((a, b) => b.buffered - a.buffered)) {
        if (total <= BUFFERED_ROWS / 2) break;
        if (f === fed || f.buffered === 0) continue;
        total -= f.buffered;
        await f.endRun();
      }
    };
    const stage = (table: TableName, dt: string, hour: number) => {
      const key = freshKey(table, dt, hour, batchId);
      const tmp = path.join(store.scratchDir, `${batchId}-${table}-${dt}-${hour}.parquet`);
      staged.push({ table, key, tmp });
      return tmp;
    };
    try {
      for (const e of streams) {
        for (const chunk of e.chunks()) {
          for (const [hourUs, part] of splitByHour(chunk)) {
            const dt = utcDate(hourUs);
            const hour = utcHour(hourUs);
            const k = slotKey(e.table, dt, hour);
            let f = open.get(k);
            if (!f) open.set(k, (f = await writer.rowFile(TABLES[e.table], stage(e.table, dt, hour), undefined, { batchId })));
            await f.append(part as readonly unknown[]); // splitByHour keeps plain rows plain
            await bound(f);
          }
        }
      }
      for (const s of slots) {
        const f = open.get(slotKey(s.table, s.dt, s.hour));
        if (f) {
          for (const part of s.parts) {
            if (isPacked(part)) throw new Error(`${s.table}: packed rows and chunked rows in one file`);
            await f.append(part);
          }
          continue;
        }
        await writer.write(TABLES[s.table], s.parts, stage(s.table, s.dt, s.hour), { batchId });
      }
      for (const [k, f] of open) {
        open.delete(k);
        await f.finish();
      }
      // Two steps: every other table's files at once (S3 PUTs overlap), then the profiles files.
      const keys: string[] = [];
      for (const step of [staged.filter((x) => x.table !== 'profiles'), staged.filter((x) => x.table === 'profiles')]) {
        const puts = await Promise.allSettled(step.map((s) => store.putFile(s.key, s.tmp)));
        const failed = puts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
        keys.push(...step.map((s) => s.key));
      }
      return keys;
    } finally {
      for (const f of open.values()) await f.discard();
      for (const s of staged) await fs.rm(s.tmp, { force: true });
    }
  }
}

/**
 * Rows the open row files of one publish buffer in DuckDB at once, in all: two sorted runs'
 * worth (ParquetWriter.rowFile writes a run every 16,384 rows).
 */
const BUFFERED_ROWS = 2 * 16384;

function slotKey(table: TableName, dt: string, hour: number): string {
  return `${table}\u0000${dt}\u0000${hour}`;
}

/** One source's rows published as a batch of their own (the single-object paths). */
export async function publishEntries(target: PublishTarget, entries: readonly TableEntry[]): Promise<string[]> {
  const b = new FreshBatch(target, { maxRows: Infinity });
  b.add(entries);
  return b.publish();
}

function isPacked(d: TableData): d is PackedStacks {
  return !Array.isArray(d);
}

/** Rows grouped by the start of their UTC hour (epoch us); a profile's rows are all in one. */
function splitByHour(d: TableData): [number, TableData][] {
  const hourOf = (t: number) => Math.floor(t / 3_600_000_000) * 3_600_000_000;
  const rows = (isPacked(d) ? d.rows : d) as readonly { time: number }[];
  if (rows.length === 0) return [];
  // The common case, one hour: one pass of plain comparisons against the hour's bounds.
  const first = hourOf(rows[0].time);
  const end = first + 3_600_000_000;
  let oneHour = true;
  for (let i = 0; i < rows.length && oneHour; i++) oneHour = rows[i].time >= first && rows[i].time < end;
  if (oneHour) return [[first, d]];
  const by = new Map<number, { time: number }[]>();
  for (const r of rows) {
    const h = hourOf(r.time);
    const list = by.get(h);
    if (list) list.push(r);
    else by.set(h, [r]);
  }
  return [...by].map(([h, list]) => [h, isPacked(d) ? ({ ...d, rows: list } as unknown as PackedStacks) : (list as unknown as TableData)]);
}
