import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TABLES, type PackedStacks, type TableName, type TableRows } from '../model/schema';
import { freshKey, newBatchId, utcDate, utcHour } from './layout';
import type { ParquetWriter, TableData } from './parquet';
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

/** The rows one source gives one table. */
export interface TableEntry<N extends TableName = TableName> {
  readonly table: N;
  readonly rows: TableRows[N];
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

/** Tables in publish order: profiles last, so a profile row is visible only once its functions and stacks are. */
function publishOrder(tables: Iterable<TableName>): TableName[] {
  return [...tables].sort((a, b) => (a === 'profiles' ? 1 : 0) - (b === 'profiles' ? 1 : 0) || (a < b ? -1 : a > b ? 1 : 0));
}

interface Slot {
  readonly table: TableName;
  readonly dt: string;
  readonly hour: number;
  readonly parts: TableData[];
}

export class FreshBatch {
  private slots = new Map<string, Slot>();
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
    return this.slots.size === 0;
  }

  /** Whether the batch holds enough rows to be flushed before taking more. */
  get full(): boolean {
    return this.held >= this.limits.maxRows;
  }

  /** Adds one source's rows, split by the UTC hour of their `time`. */
  add(entries: readonly TableEntry[]): void {
    for (const e of entries) {
      for (const [hourUs, part] of splitByHour(e.rows)) {
        const dt = utcDate(hourUs);
        const hour = utcHour(hourUs);
        const k = `${e.table}\u0000${dt}\u0000${hour}`;
        let slot = this.slots.get(k);
        if (!slot) this.slots.set(k, (slot = { table: e.table, dt, hour, parts: [] }));
        slot.parts.push(part);
        this.held += isPacked(part) ? part.rows.length : part.length;
      }
    }
  }

  /**
   * Writes every slot to scratch, then publishes them (profiles last) and empties the batch.
   * Returns the published keys. On a failure nothing staged is left behind; what was already
   * published stays (a retry writes it again under a new batch id; readers keep one copy).
   */
  async publish(batchId: string = newBatchId()): Promise<string[]> {
    const slots = [...this.slots.values()];
    this.slots = new Map();
    this.held = 0;
    if (slots.length === 0) return [];
    const { store, writer } = this.target;
    await fs.mkdir(store.scratchDir, { recursive: true });
    const staged: { table: TableName; key: string; tmp: string }[] = [];
    try {
      for (const s of slots) {
        const key = freshKey(s.table, s.dt, s.hour, batchId);
        const tmp = path.join(store.scratchDir, `${batchId}-${s.table}-${s.dt}-${s.hour}.parquet`);
        staged.push({ table: s.table, key, tmp });
        await writer.write(TABLES[s.table], s.parts, tmp, { batchId });
      }
      const order = publishOrder(new Set(staged.map((s) => s.table)));
      const keys: string[] = [];
      for (const table of order) {
        for (const s of staged.filter((x) => x.table === table)) {
          await store.putFile(s.key, s.tmp);
          keys.push(s.key);
        }
      }
      return keys;
    } finally {
      for (const s of staged) await fs.rm(s.tmp, { force: true });
    }
  }
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
  const first = hourOf(rows[0].time);
  if (rows.every((r) => hourOf(r.time) === first)) return [[first, d]];
  const by = new Map<number, { time: number }[]>();
  for (const r of rows) {
    const h = hourOf(r.time);
    const list = by.get(h);
    if (list) list.push(r);
    else by.set(h, [r]);
  }
  return [...by].map(([h, list]) => [h, isPacked(d) ? ({ ...d, rows: list } as unknown as PackedStacks) : (list as unknown as TableData)]);
}
