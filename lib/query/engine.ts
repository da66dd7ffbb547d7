import * as path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { duckdbType, TABLE_NAMES, TABLES, type TableName } from '../model/schema';
import { increaseTermsViewSql } from './views';
import { anyRepeatSql, droppedKeysSql, ONE_ROW_PER_PROFILE, viewRowsSql } from '../store/dedupe';
import type { TableFileSet } from '../store/live';
import { sameProfiles, SUMS_TABLE } from '../store/merge';
import { missingColumns, openDuckDb, sqlString, tierSource, type DuckDbSettings } from '../store/parquet';

// DuckDB views named after the documented tables, over a set of local Parquet files (the local
// store's own files, or S3 objects downloaded to a cache). Once the views exist the instance is
// locked down: external access off, the only readable paths the tables' own files (exactly those
// files, not their directories: no CSV, JSON or glob beside them), configuration locked.

export type { TableFileSet };

export type TableFiles = Record<TableName, TableFileSet>;

const HOUR_US = 3_600_000_000;
/** The dt and hour of a fresh file's path (fresh/<table>/dt=YYYY-MM-DD/hour=HH/, lib/store/layout.ts freshKey). */
const FRESH_HOUR_RE = /\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/[^/]+$/;

/** Which views exist on an instance, shared by its connections (lazy engines create them on first use). */
interface ViewState {
  readonly files: TableFiles;
  readonly made: Map<string, Promise<void>>;
  /** rawSource's sources by table and file list (their dedupe keys computed once). */
  readonly raw: Map<string, Promise<string>>;
  /** The views' dropped fresh keys by table (droppedKeys), computed once: the view and the pre-sums (lib/query/merge-sums.ts) share them. */
  readonly dropped: Map<TableName, Promise<string[]>>;
  /** Makes the listed files of a table readable before a statement reads them (lazy S3 listings); absent: they are. */
  readonly fetch?: (table: TableName, paths: readonly string[]) => Promise<void>;
}

/** Views over other views: created with the tables they read. */
const DERIVED_VIEWS: Record<string, { tables: readonly TableName[]; sql: () => string }> = {
  increase_terms: { tables: ['profiles'], sql: increaseTermsViewSql },
};

export interface OpenOptions {
  /**
   * Create a table's view when a query through rows() first names it, not at open: a query reads
   * a few of the ten tables, and each view costs a read of every file's schema (and, over fresh
   * files, the dedupe keys query over all their rows). Default false (every view at open: user SQL
   * and anything that uses `conn` directly needs them).
   */
  lazyViews?: boolean;
  /**
   * The files are listed, not yet local (S3, lib/store/live.ts `lazy`): called with a table's
   * files before its view is made or a part reads some of them, so a query downloads what it reads.
   */
  fetch?: (table: TableName, paths: readonly string[]) => Promise<void>;
}

export class QueryEngine {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly conn: DuckDBConnection,
    /** Every file the tables read: the only paths this engine can open. */
    readonly files: ReadonlySet<string>,
    private readonly views: ViewState,
    /** Set on a connection from connect(): called when it closes (the instance stays open). */
    private readonly onClose?: () => void,
  ) {}

  /** `allowedDirectories`: the directories the files must lie in (anything else is refused). */
  static async open(files: TableFiles, allowedDirectories: string[], settings: DuckDbSettings = {}, options: OpenOptions = {}): Promise<QueryEngine> {
    const all = TABLE_NAMES.flatMap((t) => [...files[t].compacted, ...files[t].fresh]);
    const dirs = allowedDirectories.map((d) => path.resolve(d) + path.sep);
    const stray = all.find((f) => !dirs.some((d) => path.resolve(f).startsWith(d)));
    if (stray !== undefined) throw new Error(`table file ${stray} is outside ${allowedDirectories.join(', ')}`);
    const instance = await openDuckDb(settings);
    const conn = await instance.connect();
    // Parquet footers read once per instance, not again by every statement that binds a view (a
    // view over union_by_name files reads every file's schema when bound).
    await conn.run('SET parquet_metadata_cache = true');
    const engine = new QueryEngine(instance, conn, new Set(all), { files, made: new Map(), raw: new Map(), dropped: new Map(), fetch: options.fetch });
    if (!options.lazyViews) await engine.ensureAllViews();
    await conn.run(`SET allowed_paths = [${all.map((f) => `'${sqlString(f)}'`).join(', ')}]`);
    await conn.run('SET allowed_directories = []');
    await conn.run('SET enable_external_access = false');
    await conn.run('SET lock_configuration = true');
    return engine;
  }

  /** Creates the named views (tables and derived views) that do not exist yet on this instance. */
  async ensureViews(names: readonly string[]): Promise<void> {
    const want = new Set<string>();
    for (const n of names) {
      const d = DERIVED_VIEWS[n];
      if (d) d.tables.forEach((t) => want.add(t));
      want.add(n);
    }
    // Tables first, then the views over them.
    const order = [...TABLE_NAMES.filter((t) => want.has(t)), ...Object.keys(DERIVED_VIEWS).filter((v) => want.has(v))];
    for (const name of order) {
      let p = this.views.made.get(name);
      if (!p) {
        const d = DERIVED_VIEWS[name];
        p = d
          ? this.conn.run(d.sql()).then(() => undefined)
          : Promise.resolve(this.filesOf(name as TableName))
              .then((f) => this.fetchFiles(name as TableName, [...f.compacted, ...f.fresh]).then(() => f))
              .then((f) => viewSql(this.conn, name as TableName, f, () => this.droppedKeys(name as TableName)))
              .then((sql) => this.conn.run(sql))
              .then(() => undefined);
        this.views.made.set(name, p);
        p.catch(() => this.views.made.delete(name));
      }
      await p;
    }
  }

  /**
   * The fresh rows of `table`'s view that do not count (lib/store/dedupe.ts), as keys
   * `profile_id/batch/dtThh`, computed once per instance (one query over the table's fresh files).
   */
  async droppedKeys(table: TableName): Promise<string[]> {
    let p = this.views.dropped.get(table);
    if (!p) {
      const f = this.filesOf(table);
      // The functions' keys are the profiles' when their fresh files hold the same profiles batch for
      // batch (lib/store/merge.ts sameProfiles; a profile without functions rows has none in any copy)
      // and no late hour: the profiles' keys query reads ~1/200 of the rows (70M functions rows of a
      // fresh 1,000-instance hour: 3.1 CPU-s for a window the planner cuts into a rolled-up hour and
      // the fresh one, docs/performance.md "The fresh hour").
      p =
        table === 'functions' && this.keysShared()
          ? this.droppedKeys('profiles')
          : this.fetchFiles(table, [...f.compacted, ...f.fresh]).then(() => droppedKeysOf(this.conn, table, f));
      this.views.dropped.set(table, p);
      p.catch(() => this.views.dropped.delete(table));
    }
    return p;
  }

  /** Whether functions' dropped keys are the profiles' (see droppedKeys): same profiles per fresh batch, no late hour. */
  private keysShared(): boolean {
    const [fn, pr, sums] = [this.views.files.functions, this.views.files.profiles, this.views.files[SUMS_TABLE]];
    if (fn.unlisted || pr.unlisted || sums.unlisted || fn.lateHours.length > 0 || pr.lateHours.length > 0) return false;
    return sameProfiles(fn.fresh, pr.fresh, sums.fresh);
  }

  /** The files a table reads (as listed when the engine opened). */
  tableFiles(table: TableName): TableFileSet {
    return this.filesOf(table);
  }

  /** A table's files; an unlisted table (PartitionFilter.tables left it out) is refused, never read as empty. */
  private filesOf(table: TableName): TableFileSet {
    const f = this.views.files[table];
    if (f.unlisted) throw new Error(`table ${table} was not listed for this query (its engine lists ${TABLE_NAMES.filter((t) => !this.views.files[t].unlisted).join(', ')})`);
    return f;
  }

  /** Makes listed files readable before a statement reads them by path (lazy S3 listings; no-op locally). */
  async fetch(table: TableName, paths: readonly string[]): Promise<void> {
    await this.fetchFiles(table, paths);
  }

  /**
   * Start (epoch us) of every UTC hour some live compacted file of `table` holds, from the
   * listing's manifests; null when the file set carries no coverage (built by hand).
   */
  coveredHours(table: TableName): Set<number> | null {
    const f = this.filesOf(table);
    if (!f.coverage) return null;
    const out = new Set<number>();
    for (const c of f.coverage) {
      const day = Date.parse(`${c.dt}T00:00:00Z`) * 1000;
      for (const h of c.hours) out.add(day + h * HOUR_US);
    }
    return out;
  }

  /**
   * A FROM source over only the compacted files of `table` that hold some hour of `spans`
   * (half-open, epoch us): the planner's parts read the few files of their hours, not every file
   * of the window (a 30-day window has 720 files per hour rollup table; the view reads each one's
   * footer to bind). Columns as the view has them (typed NULLs for columns no chosen file has).
   * Null when the table has fresh files or no coverage: use the view.
   */
  async spanSource(table: TableName, spans: readonly (readonly [number, number])[]): Promise<string | null> {
    const f = this.filesOf(table);
    if (!f.coverage || f.fresh.length > 0) return null;
    const files = f.compacted.filter((_, i) => {
      const c = f.coverage![i];
      const day = Date.parse(`${c.dt}T00:00:00Z`) * 1000;
      return c.hours.some((h) => spans.some(([a, b]) => day + (h + 1) * HOUR_US > a && day + h * HOUR_US < b));
    });
    const def = TABLES[table];
    const cols = [...def.partitionKeys, ...def.columns];
    if (files.length === 0) return `(SELECT ${cols.map((c) => `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join(', ')} WHERE false)`;
    await this.fetchFiles(table, files);
    const src = tierSource(def, 'compacted', files);
    const missing = await missingColumns(this.conn, def, src);
    return `(SELECT *${missing.map((c) => `, CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join('')} FROM ${src})`;
  }

  /**
   * The compacted files of `table` that hold some hour of `spans` (half-open, epoch us) by their
   * manifest hours: the others hold no row in the spans. Every compacted file when the set carries
   * no coverage (built by hand).
   */
  compactedIn(table: TableName, spans: readonly (readonly [number, number])[]): string[] {
    const f = this.filesOf(table);
    if (!f.coverage) return f.compacted;
    return f.compacted.filter((_, i) => hitsHours(dayUs(f.coverage![i].dt), f.coverage![i].hours, spans));
  }

  /**
   * A FROM source over the rows of `table` in only the files that can hold a row of some hour of
   * `spans` (half-open, epoch us): compacted files by their manifest hours, fresh files by their
   * hour directory; the fresh tier deduplicated as the view does it (lib/store/dedupe.ts), over
   * those files: a fresh file's late copy and the compacted file of its hour are chosen together.
   * Rows outside the spans may be in it (a file holds whole hours): the caller still filters time.
   * For raw reads of a few hours over S3 (the digest's fresh hour, a sampling setting): the view
   * would download every file of the engine's range. The view's name when the set has no coverage.
   */
  async rawSource(table: TableName, spans: readonly (readonly [number, number])[]): Promise<string> {
    const f = this.filesOf(table);
    if (!f.coverage) return table;
    const hits = (day: number, hours: readonly number[]) => hitsHours(day, hours, spans);
    const compacted = this.compactedIn(table, spans);
    const fresh = f.fresh.filter((p) => {
      const m = FRESH_HOUR_RE.exec(p);
      return !m || hits(dayUs(m[1]), [Number(m[2])]);
    });
    const lateHours = f.lateHours.filter((h) => hits(dayUs(h.slice(0, 10)), [Number(h.slice(11, 13))]));
    const key = `${table}\u0000${[...compacted, ...fresh].join('\u0000')}`;
    let src = this.views.raw.get(key);
    if (!src) {
      src = this.fetchFiles(table, [...compacted, ...fresh]).then(async () => `(${await rowsSql(this.conn, table, { compacted, fresh, lateHours })})`);
      this.views.raw.set(key, src);
      src.catch(() => this.views.raw.delete(key));
    }
    return src;
  }

  /**
   * A FROM source over every live file of `table` with the fresh tier's redelivered copies left in
   * (no dedupe, lib/store/dedupe.ts): for questions a copy of a row cannot change, e.g. whether any
   * row matches. Spares the view's dedupe pass over the fresh files. Null when the table has no files.
   */
  async undedupedSource(table: TableName): Promise<string | null> {
    const f = this.filesOf(table);
    await this.fetchFiles(table, [...f.compacted, ...f.fresh]);
    const def = TABLES[table];
    const parts: string[] = [];
    if (f.compacted.length > 0) parts.push(`SELECT * FROM ${tierSource(def, 'compacted', f.compacted)}`);
    if (f.fresh.length > 0) parts.push(`SELECT * EXCLUDE (hour) FROM ${tierSource(def, 'fresh', f.fresh)}`);
    return parts.length === 0 ? null : `(${parts.join(' UNION ALL BY NAME ')})`;
  }

  private async fetchFiles(table: TableName, paths: readonly string[]): Promise<void> {
    if (this.views.fetch && paths.length > 0) await this.views.fetch(table, paths);
  }

  /** Every view of the listed tables (for statements that bypass rows(): user SQL binds through `conn`, lib/query/sql.ts). */
  async ensureAllViews(): Promise<void> {
    // Of the listed tables (PartitionFilter.tables): an unlisted table gets no view, so a statement naming it fails.
    const listed = TABLE_NAMES.filter((t) => !this.views.files[t].unlisted);
    await this.ensureViews([...listed, ...Object.entries(DERIVED_VIEWS).filter(([, d]) => d.tables.every((t) => listed.includes(t))).map(([v]) => v)]);
  }

  async rows(sql: string, params?: Record<string, string | number | bigint | boolean>): Promise<Record<string, unknown>[]> {
    await this.ensureViews(viewsNamedIn(sql));
    const reader = await this.conn.runAndReadAll(sql, params);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  }

  /**
   * Another connection on the same instance: the same views, locks and settings (they are the
   * instance's), for one request of several sharing the engine (lib/query/engine-cache.ts). Closing
   * it leaves the instance open and calls `onClose`.
   */
  async connect(onClose?: () => void): Promise<QueryEngine> {
    return new QueryEngine(this.instance, await this.instance.connect(), this.files, this.views, onClose ?? (() => undefined));
  }

  close(): void {
    this.conn.closeSync();
    if (this.onClose) this.onClose();
    else this.instance.closeSync();
  }
}

/** Epoch us of a dt's midnight. */
const dayUs = (dt: string) => Date.parse(`${dt}T00:00:00Z`) * 1000;

/** Whether some UTC hour of a day (its start in epoch us) meets some half-open span. */
function hitsHours(day: number, hours: readonly number[], spans: readonly (readonly [number, number])[]): boolean {
  return hours.some((h) => spans.some(([a, b]) => day + (h + 1) * HOUR_US > a && day + h * HOUR_US < b));
}

const VIEW_NAME_RE = new RegExp(`\\b(${[...TABLE_NAMES, ...Object.keys(DERIVED_VIEWS)].join('|')})\\b`, 'g');

/**
 * The table and view names a statement mentions outside single-quoted literals (a superset of what
 * it reads: a name in a comment counts too). Literals are left out because the planner's parts
 * read files by path (QueryEngine.spanSource: '.../profiles_1h/dt=.../x.parquet'): counting the
 * table names in those paths made the view over every file of the table, e.g. 720 footers of
 * profiles_1h for a 30-day top that reads 24 of them, ~0.5 s per table at 1,000 instances.
 */
export function viewsNamedIn(sql: string): string[] {
  const code = sql.replace(/'(?:[^']|'')*'/g, "''");
  return [...new Set([...code.matchAll(VIEW_NAME_RE)].map((m) => m[1]))];
}

async function viewSql(conn: DuckDBConnection, t: TableName, files: TableFileSet, dropped: () => Promise<string[]>): Promise<string> {
  return `CREATE OR REPLACE VIEW ${t} AS ${await rowsSql(conn, t, files, dropped)}`;
}

/** The keys of a file set's fresh rows that do not count (lib/store/dedupe.ts): none without fresh files or profile_id. */
async function droppedKeysOf(conn: DuckDBConnection, t: TableName, files: Pick<TableFileSet, 'compacted' | 'fresh' | 'lateHours'>): Promise<string[]> {
  const def = TABLES[t];
  // A table without profile_id (the merge tier's functions_merge) has no copies to drop: each file is one merge's own rows.
  if (files.fresh.length === 0 || !def.columns.some((c) => c.name === 'profile_id')) return [];
  for (const h of files.lateHours) if (!/^\d{4}-\d{2}-\d{2}T\d{2}:00:00$/.test(h)) throw new Error(`bad hour ${h}`);
  const compacted = files.compacted.length > 0 ? tierSource(def, 'compacted', files.compacted) : undefined;
  const fresh = tierSource(def, 'fresh', files.fresh);
  // No id on two rows and no late hour: nothing to drop (a merged hour's usual state; a redelivered
  // copy, or a merge between its PUT and its manifest swap, repeats ids, and the full rule runs).
  if ((!compacted || files.lateHours.length === 0) && ONE_ROW_PER_PROFILE.has(t) && (await conn.runAndReadAll(anyRepeatSql(fresh))).getRows().length === 0) return [];
  const sql = droppedKeysSql({ compacted, fresh, lateHours: files.lateHours });
  return ((await conn.runAndReadAll(sql)).getRows() as [string][]).map(([k]) => k);
}

/** The SELECT of a table's rows over a set of its files (the view's, rawSource's). */
async function rowsSql(
  conn: DuckDBConnection,
  t: TableName,
  files: Pick<TableFileSet, 'compacted' | 'fresh' | 'lateHours'>,
  dropped: () => Promise<string[]> = () => droppedKeysOf(conn, t, files),
): Promise<string> {
  const def = TABLES[t];
  if (files.compacted.length + files.fresh.length === 0) {
    // No data yet: an empty view with the documented columns, so every query still binds.
    const cols = [...def.partitionKeys, ...def.columns].map((c) => `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`);
    return `SELECT ${cols.join(', ')} WHERE false`;
  }
  const compacted = files.compacted.length > 0 ? tierSource(def, 'compacted', files.compacted) : undefined;
  const fresh = files.fresh.length > 0 ? tierSource(def, 'fresh', files.fresh) : undefined;
  // Columns added after some files were written: typed NULLs when no file has them yet.
  const missingIn = async (src: string | undefined) => (src ? new Set((await missingColumns(conn, def, src)).map((c) => c.name)) : null);
  const [mc, mf] = [await missingIn(compacted), await missingIn(fresh)];
  const missing = def.columns.filter((c) => (mc === null || mc.has(c.name)) && (mf === null || mf.has(c.name)));
  const extra = missing.map((c) => `, CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join('');
  // Fresh rows that do not count (lib/store/dedupe.ts), computed once here, not in every query.
  return viewRowsSql({ compacted, fresh, dropped: (await dropped()).map((k) => `'${sqlString(k)}'`), extra });
}
