import { TABLE_NAMES } from '../model/schema';
import type { QueryEngine, TableFiles } from './engine';

// Engines reused between requests (`fleetprof serve`, #13). Opening one (a DuckDB instance, and a
// view per table whose columns are read from its files) was paid by every request, and 200
// concurrent /top requests made 200 DuckDB instances. Reuse is safe because an engine is keyed by
// the exact files its views read and Parquet files are immutable (ingest writes new ones,
// compaction swaps them through manifests): a request whose listing gives the same files gets the
// same answers from the same engine; any other listing (new data, another window) gets its own.
// Each request gets its own connection on the shared instance. At most `max` engines are kept;
// beyond that the least recently used one that no request is using is closed. User SQL never runs
// here: it gets a fresh engine in a child process (lib/query/sql-process.ts).

interface Entry {
  readonly engine: Promise<QueryEngine>;
  users: number;
  lastUsed: number;
}

export class EngineCache {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  private closed = false;

  constructor(
    private readonly open: (files: TableFiles) => Promise<QueryEngine>,
    readonly max = 4,
  ) {}

  /** Number of engines open (or opening). */
  get size(): number {
    return this.entries.size;
  }

  /** A connection on the engine over exactly `files`; close() it when done. */
  async lease(files: TableFiles): Promise<QueryEngine> {
    if (this.closed) throw new Error('engine cache is closed');
    const key = JSON.stringify(TABLE_NAMES.map((t) => (files[t].unlisted ? null : [[...files[t].compacted].sort(), [...files[t].fresh].sort(), files[t].lateHours])));
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { engine: this.open(files), users: 0, lastUsed: 0 };
      this.entries.set(key, entry);
    }
    const e = entry;
    e.users++;
    e.lastUsed = ++this.clock;
    try {
      const engine = await e.engine;
      return await engine.connect(() => {
        e.users--;
        this.evict();
      });
    } catch (err) {
      e.users--;
      if (this.entries.get(key) === e) this.entries.delete(key);
      throw err;
    } finally {
      this.evict();
    }
  }

  close(): void {
    this.closed = true;
    for (const [key, e] of this.entries) {
      this.entries.delete(key);
      void e.engine.then((x) => x.close(), () => undefined);
    }
  }

  /** Closes least recently used idle engines while more than `max` are open. */
  private evict(): void {
    while (this.entries.size > this.max) {
      let victim: [string, Entry] | undefined;
      for (const kv of this.entries) if (kv[1].users === 0 && (!victim || kv[1].lastUsed < victim[1].lastUsed)) victim = kv;
      if (!victim) return; // all in use: over max until one is released
      this.entries.delete(victim[0]);
      void victim[1].engine.then((x) => x.close(), () => undefined);
    }
  }
}
