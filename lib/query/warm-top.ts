import * as path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { TABLES, type TableName } from '../model/schema';
import { viewRowsSql } from '../store/dedupe';
import { fetchFiles, type TableFileSet } from '../store/live';
import { isMergeBatch, SUMS_TABLE } from '../store/merge';
import { openDuckDb, sqlString, tierSource, type DuckDbSettings } from '../store/parquet';
import type { Store } from '../store/store';
import { cohortPredicate, DEFAULT_SAMPLE_TYPE, type SqlParams } from './cohort';
import { FileSummaryCache, summarize, type FileSummary, type FunctionsSummary, type Group, type ProfilesSummary, type SummaryKind } from './file-sums';
import { listTableFiles } from './open';
import { finishTop, type FunctionSums, type TopQuery, type TopResult } from './top';
import { windowPartitionFilter } from './window';

// `top` of CPU over fresh hours in a WARM process (`fleetprof serve`, the query Lambda between
// invocations): issue #11 point 5's last hour, asked again every few seconds while ingest adds
// batch files and the merger replaces them every minute. An engine per request (lib/query/top.ts)
// re-reads every file of the hour: ~0.4 s of statements at 1,000 instances, however little
// changed. Here every fresh file is summarized once (lib/query/file-sums.ts) and a request lists
// the files, reads only those it has not seen, and adds the summaries up in memory:
//   - a file the window holds whole adds its summary (CPU profiles weigh 1 in any window);
//   - a file the window cuts (its first or last CPU profile outside) adds its raw rows in the
//     window, one statement over those files, as lib/query/merge-sums.ts's direct path reads them;
//   - a file wholly outside adds nothing.
// The dedupe rule (lib/store/dedupe.ts: per profile_id and hour, the smallest batch's rows count)
// from the profiles files' CPU ids: an id on two files of one hour drops the larger batch's copy;
// a file all of whose CPU profiles are dropped adds nothing (a redelivered batch, a merge between
// its PUT and its manifest swap), one with some dropped adds its raw rows with the drops applied.
// The functions rows of a batch follow its profiles (same batch, same profiles: an ingest batch's
// files, a merge's; a profile without functions rows has none in any copy), so the profiles' ids
// decide both tables; while that pairing does not hold (a merge between its swaps, a batch being
// published) the request takes the engine path.
// A compacted hour (the last hour reaches the previous one for ~53 minutes of each hour) is read
// from the fresh files the compaction took: the compactor keeps them until the hour has left the
// last hour (lib/store/manifest.ts RETAIN_INPUTS_MS), and the listing names them only when the
// hour's live files are exactly one hour job's outputs over exactly those files, all still there
// (lib/store/hour-job-names.ts hourJobInputs: the job's tag hashes its inputs). They are the files
// the hour had while it was fresh, so a compaction between two requests changes nothing here
// (same paths, same summaries); the hour's rollups are not needed for a sub-day window.
// Exact, and the same sums as the engine path by construction (test/warm-top.test.ts compares
// them). Null (the caller takes the engine path) for anything else: another kind, an instance or
// label filter, no time bounds, rollups off, or a window reaching an hour with compacted files or
// rollups whose inputs are not all kept (deleted, a second job over late files, a day file) or
// with late fresh files.

/** The tables the warm path lists: the raw pair, the pre-sums, and profiles_1h to see rolled-up hours. */
const WARM_TABLES: TableName[] = ['profiles', 'functions', SUMS_TABLE, 'profiles_1h'];
const HOUR_US = 3_600_000_000;
/** A fresh file's dt and hour (fresh/<table>/dt=YYYY-MM-DD/hour=HH/<batch>.parquet). */
const FRESH_HOUR_RE = /[/\\]dt=(\d{4}-\d{2}-\d{2})[/\\]hour=(\d{2})[/\\]([^/\\]+)$/;
const DT_RE = /[/\\]dt=(\d{4}-\d{2}-\d{2})[/\\]/;

interface FreshFile {
  path: string;
  /** Epoch us of its hour's start. */
  hour: number;
  batch: string;
}

function freshFile(p: string): FreshFile | null {
  const m = FRESH_HOUR_RE.exec(p);
  if (!m) return null;
  return { path: p, hour: Date.parse(`${m[1]}T${m[2]}:00:00Z`) * 1000, batch: m[3].split('.')[0] };
}

/** What one request did, for the benchmark and the tests. */
export interface WarmStats {
  /** Files summarized for this request (not seen before). */
  read: number;
  /** Files added from their summaries. */
  whole: number;
  /** Files read raw (cut by the window, or some of their profiles dropped). */
  raw: number;
  /** Files skipped: outside the window, or every CPU profile dropped. */
  skipped: number;
  /** Profile ids found on two files of one hour. */
  dropped: number;
}

export interface WarmTopOptions {
  /** Bound of the summaries kept (default 64 MiB). */
  maxBytes?: number;
  settings?: DuckDbSettings;
}

export class WarmTop {
  readonly cache: FileSummaryCache;
  /** The CPU ids of each hour's listed profiles files, kept between requests. */
  readonly ids = new HourIds();
  private instance?: Promise<DuckDBInstance>;
  private closed = false;
  /** The last request's counts. */
  last?: WarmStats;

  /** `dir`: the directory the store's files are in (the data directory, or an S3 store's download cache): the only one DuckDB may read. */
  constructor(
    private readonly store: Store,
    private readonly dir: string,
    private readonly opts: WarmTopOptions = {},
  ) {
    this.cache = new FileSummaryCache(opts.maxBytes);
  }

  /** `top` from the summaries, or null when this path does not apply (the caller opens an engine). */
  async top(q: TopQuery): Promise<TopResult | null> {
    if (this.closed) throw new Error('warm top is closed');
    if (q.kind !== 'cpu' || q.fromUs === undefined || q.toUs === undefined || q.toUs <= q.fromUs) return null;
    if (q.instance !== undefined || Object.keys(q.labels ?? {}).length > 0 || q.rollups === false) return null;
    const [from, to] = [q.fromUs, q.toUs];
    const sampleType = q.sampleType ?? DEFAULT_SAMPLE_TYPE.cpu;
    const files = await listTableFiles(this.store, { ...windowPartitionFilter(q), tables: WARM_TABLES }, { lazy: true, keysOnly: true, hourInputs: true });
    const meets = (hour: number) => hour + HOUR_US > from && hour < to;
    const hourUs = (dt: string, h: number) => Date.parse(`${dt}T00:00:00Z`) * 1000 + h * HOUR_US;
    // A compacted hour counts as its kept fresh inputs when both raw tables have them (see the header).
    const kept = (t: 'profiles' | 'functions') => new Map((files[t].hourInputs ?? []).map((c) => [hourUs(c.dt, c.hour), c.fresh]));
    const keptPr = kept('profiles');
    const keptFn = kept('functions');
    const fromInputs = (h: number) => keptPr.has(h) && keptFn.has(h);
    // The window's hours must be fresh, or compacted with their inputs kept: no other compacted file, rollup or late file in them.
    for (const t of ['profiles', 'functions', 'profiles_1h'] as const) {
      const f = files[t];
      if (f.lateHours.some((h) => meets(Date.parse(`${h}Z`) * 1000))) return null;
      if (!f.coverage && f.compacted.length > 0) return null;
      if (f.coverage?.some((c) => c.hours.some((h) => meets(hourUs(c.dt, h)) && !fromInputs(hourUs(c.dt, h))))) return null;
    }
    this.forgetUnlisted(files, [...keptPr.values(), ...keptFn.values()].flat());
    const keptIn = (m: Map<number, readonly string[]>) => [...m].filter(([h]) => meets(h) && fromInputs(h)).flatMap(([, ps]) => ps);
    const inHours = (t: TableName) =>
      [...files[t].fresh, ...(t === 'profiles' ? keptIn(keptPr) : t === 'functions' ? keptIn(keptFn) : [])].map(freshFile).filter((f): f is FreshFile => f !== null && meets(f.hour));
    const pr = inHours('profiles');
    const fn = inHours('functions');
    if (pr.length === 0) return null;
    const key = (f: FreshFile) => `${f.hour}/${f.batch}`;
    const fnByKey = new Map(fn.map((f) => [key(f), f]));
    // Every functions file has its batch's profiles file and vice versa (see the header).
    if (fn.length !== pr.length || pr.some((f) => !fnByKey.has(key(f)))) return null;
    const sumsByKey = new Map(inHours(SUMS_TABLE).filter((f) => isMergeBatch(f.batch)).map((f) => [key(f), f]));

    const instance = await this.open();
    const conn = await instance.connect();
    try {
      // A functions file is summarized from its merge's pre-sums when they are listed (a few hundred rows, not ~1M).
      const fnSource = (f: FreshFile): { path: string; kind: SummaryKind } => {
        const s = sumsByKey.get(key(f));
        return s ? { path: s.path, kind: 'functions_merge' } : { path: f.path, kind: 'functions' };
      };
      const sources = [...pr.map((f) => ({ path: f.path, kind: 'profiles' as SummaryKind, table: 'profiles' as TableName })), ...fn.map((f) => ({ ...fnSource(f), table: (fnSource(f).kind === 'functions' ? 'functions' : SUMS_TABLE) as TableName }))];
      const tableOf = new Map(sources.map((s) => [s.path, s]));
      const read = sources.filter((s) => !this.cache.has(s.path)).length;
      // A file that cannot be read (deleted between the listing and the read, unreadable) sends
      // the request to the engine path, which reads the same listing's files and names the file.
      const summaries = await this.cache.get(
        sources.map((s) => s.path),
        async (missing) => {
          const out = new Map<string, FileSummary>();
          for (const kind of ['profiles', 'functions', 'functions_merge'] as const) {
            const mine = missing.filter((p) => tableOf.get(p)!.kind === kind);
            if (mine.length === 0) continue;
            const table = tableOf.get(mine[0])!.table;
            await fetchFiles(this.store, files[table], mine);
            for (const [p, s] of await summarize(conn, kind, mine)) out.set(p, s);
          }
          return out;
        },
      ).catch(() => null);
      if (!summaries) return null;

      // The dedupe rule on the CPU ids: per (id, hour) the smallest batch counts.
      const prSum = (f: FreshFile) => summaries.get(f.path) as ProfilesSummary;
      const { dropped, repeats } = this.ids.drops(pr.map((f) => ({ path: f.path, hour: f.hour, batch: f.batch, key: key(f), ids: prSum(f).ids })));

      const stats: WarmStats = { read, whole: 0, raw: 0, skipped: 0, dropped: repeats };
      const cohort = { service: q.service, version: q.version };
      const matches = (g: Group) => g.sampleType === sampleType && (cohort.service === undefined || g.service === cohort.service) && (cohort.version === undefined || g.version === cohort.version);
      let total: bigint | null = null;
      let unit: string | null = null;
      const sums = new Map<string, { flat: bigint; cum: bigint }>();
      const rawPr: FreshFile[] = [];
      const rawFn: FreshFile[] = [];
      const dropKeys: string[] = [];
      // Where a file stands against the window: whole, out, or cut.
      const place = (s: { lo: number; hi: number }) => (s.lo > s.hi || s.hi < from || s.lo >= to ? 'out' : s.lo >= from && s.hi < to ? 'whole' : 'cut');
      for (const f of pr) {
        const s = prSum(f);
        const d = dropped.get(key(f));
        const twin = fnByKey.get(key(f))!;
        const fs = summaries.get(fnSource(twin).path) as FunctionsSummary;
        if (d && d.size === s.ids.length) {
          stats.skipped += 2;
          continue;
        }
        if (d) for (const id of d) dropKeys.push(`'${sqlString(`${id}/${f.batch}/${new Date(f.hour / 1000).toISOString().slice(0, 13)}`)}'`);
        const ps = d ? 'cut' : place(s);
        if (ps === 'whole') {
          stats.whole++;
          for (const t of s.totals) {
            if (!matches(t)) continue;
            total = (total ?? 0n) + t.total;
            if (t.unit !== null && (unit === null || t.unit < unit)) unit = t.unit;
          }
        } else if (ps === 'cut') {
          stats.raw++;
          rawPr.push(f);
        } else stats.skipped++;
        const fp = d ? 'cut' : place(fs);
        if (fp === 'whole') {
          stats.whole++;
          for (const g of fs.groups) {
            if (!matches(g)) continue;
            for (const [name, v] of g.fns) {
              const a = sums.get(name);
              if (a) {
                a.flat += v.flat;
                a.cum += v.cum;
              } else sums.set(name, { flat: v.flat, cum: v.cum });
            }
          }
        } else if (fp === 'cut') {
          stats.raw++;
          rawFn.push(twin);
        } else stats.skipped++;
      }
      if (rawPr.length + rawFn.length > 0) {
        const raw = await this.rawSums(conn, q, sampleType, files, rawPr, rawFn, dropKeys);
        if (raw.total !== null) {
          total = (total ?? 0n) + raw.total;
          if (raw.unit !== null && (unit === null || raw.unit < unit)) unit = raw.unit;
        }
        for (const r of raw.functions) {
          const a = sums.get(r.name);
          if (a) {
            a.flat += r.flat;
            a.cum += r.cum;
          } else sums.set(r.name, { flat: r.flat, cum: r.cum });
        }
      }
      this.last = stats;
      const fns: FunctionSums = [...sums].filter(([, v]) => v.flat !== 0n || v.cum !== 0n).map(([name, v]) => ({ name, flat: v.flat, cum: v.cum }));
      return finishTop(q, sampleType, { total, unit }, fns);
    } finally {
      conn.closeSync();
    }
  }

  /** The raw rows of the files the window cuts (or whose profiles are partly dropped), in the window, the drops applied. */
  private async rawSums(
    conn: DuckDBConnection,
    q: TopQuery,
    sampleType: string,
    files: Record<TableName, TableFileSet>,
    pr: FreshFile[],
    fn: FreshFile[],
    dropKeys: string[],
  ): Promise<{ total: bigint | null; unit: string | null; functions: FunctionSums }> {
    const params: SqlParams = { st: sampleType };
    let total: bigint | null = null;
    let unit: string | null = null;
    if (pr.length > 0) {
      await fetchFiles(this.store, files.profiles, pr.map((f) => f.path));
      const rows = `(${viewRowsSql({ fresh: tierSource(TABLES.profiles, 'fresh', pr.map((f) => f.path)), dropped: dropKeys, extra: '' })})`;
      const pred = cohortPredicate(q, 'profiles', { alias: 'p', prefix: 'tt_' });
      const r = (
        await conn.runAndReadAll(`SELECT SUM(s.total)::HUGEINT AS total, MIN(s.unit) AS unit FROM (SELECT UNNEST(p.sample_types) AS s FROM ${rows} p WHERE ${pred.sql}) WHERE s.type = $st`, { ...pred.params, ...params })
      ).getRowObjectsJS()[0];
      total = (r?.total as bigint | null) ?? null;
      unit = (r?.unit as string | null) ?? null;
    }
    let functions: FunctionSums = [];
    if (fn.length > 0) {
      await fetchFiles(this.store, files.functions, fn.map((f) => f.path));
      const rows = `(${viewRowsSql({ fresh: tierSource(TABLES.functions, 'fresh', fn.map((f) => f.path)), dropped: dropKeys, extra: '' })})`;
      const pred = cohortPredicate(q, 'functions', { alias: 't', prefix: 'wr_' });
      functions = (
        await conn.runAndReadAll(`SELECT t.function AS name, SUM(t.flat)::HUGEINT AS flat, SUM(t.cum)::HUGEINT AS cum FROM ${rows} t WHERE ${pred.sql} AND t.sample_type = $st GROUP BY ALL`, { ...pred.params, ...params })
      )
        .getRowObjectsJS()
        .map((r) => ({ name: String(r.name), flat: r.flat as bigint, cum: r.cum as bigint }));
    }
    return { total, unit, functions };
  }

  /**
   * Forgets the summaries of files of the listed dts that the listing no longer shows (merged
   * inputs, a compacted hour's fresh files once deleted or not its job's, a quarantined or deleted
   * file): what is kept is what can still be asked for (`kept`: compacted hours' inputs).
   */
  private forgetUnlisted(files: Record<TableName, TableFileSet>, kept: readonly string[]): void {
    const live = new Set<string>(kept);
    const dts = new Set<string>();
    for (const t of WARM_TABLES) {
      for (const p of files[t].fresh) {
        live.add(p);
        const m = DT_RE.exec(p);
        if (m) dts.add(m[1]);
      }
    }
    this.cache.forget((p) => {
      if (live.has(p)) return false;
      const m = DT_RE.exec(p);
      return m !== null && dts.has(m[1]);
    });
  }

  /** The instance that reads the summaries and cut files: only files under `dir`, configuration locked (no user SQL runs here either). */
  private open(): Promise<DuckDBInstance> {
    this.instance ??= (async () => {
      const instance = await openDuckDb(this.opts.settings);
      const conn = await instance.connect();
      try {
        await conn.run('SET parquet_metadata_cache = true');
        await conn.run(`SET allowed_directories = ['${sqlString(path.resolve(this.dir) + path.sep)}']`);
        await conn.run('SET enable_external_access = false');
        await conn.run('SET lock_configuration = true');
      } finally {
        conn.closeSync();
      }
      return instance;
    })();
    this.instance.catch(() => (this.instance = undefined));
    return this.instance;
  }

  close(): void {
    this.closed = true;
    void this.instance?.then((i) => i.closeSync(), () => undefined);
  }
}

interface IdFile {
  path: string;
  hour: number;
  batch: string;
  /** FreshFile key (hour/batch). */
  key: string;
  ids: readonly string[];
}

/**
 * Per hour, how many listed profiles files hold each CPU id, updated by the files a request lists
 * that the last one did not (and back for those it no longer lists): the dedupe rule finds no
 * repeated id in the usual state at a cost of the files that changed, not of the hour's ~60,000 ids
 * at 1,000 instances (a map of them built per request was ~25 ms of CPU and its garbage). Only
 * when some id is on two files of an hour are that hour's drops worked out file by file. At most
 * `maxHours` hours are kept (least recently asked dropped: an hour is asked here until an hour
 * after it ends, while the compaction keeps its inputs); the ids are the summaries' own arrays, held here too while their hour is kept
 * (~60,000 per hour at 1,000 instances, a few MB), outside the summaries' byte bound.
 */
export class HourIds {
  private readonly hours = new Map<number, { files: Map<string, readonly string[]>; count: Map<string, number>; repeated: number; lastUsed: number }>();
  private clock = 0;

  /** 4: the current hour and the one before (the last hour reaches it), and room for a window over both while another asks one. */
  constructor(readonly maxHours = 4) {}

  /** Hours kept, and ids counted over them. */
  get size(): { hours: number; ids: number } {
    let ids = 0;
    for (const h of this.hours.values()) ids += h.count.size;
    return { hours: this.hours.size, ids };
  }

  /**
   * The dropped ids per file key (the rule: per id and hour the smallest batch counts) of the
   * files listed now, each hour's state brought to exactly those files first. Synchronous: a
   * concurrent request cannot interleave between the update and the answer.
   */
  drops(files: readonly IdFile[]): { dropped: Map<string, Set<string>>; repeats: number } {
    const now = ++this.clock;
    const byHour = new Map<number, IdFile[]>();
    for (const f of files) {
      if (!byHour.has(f.hour)) byHour.set(f.hour, []);
      byHour.get(f.hour)!.push(f);
    }
    const dropped = new Map<string, Set<string>>();
    let repeats = 0;
    for (const [hour, listed] of byHour) {
      let h = this.hours.get(hour);
      if (!h) this.hours.set(hour, (h = { files: new Map(), count: new Map(), repeated: 0, lastUsed: now }));
      h.lastUsed = now;
      const want = new Set(listed.map((f) => f.path));
      for (const [p, ids] of h.files) {
        if (want.has(p)) continue;
        for (const id of ids) {
          const c = h.count.get(id)!;
          if (c === 2) h.repeated--;
          if (c === 1) h.count.delete(id);
          else h.count.set(id, c - 1);
        }
        h.files.delete(p);
      }
      for (const f of listed) {
        if (h.files.has(f.path)) continue;
        for (const id of f.ids) {
          const c = h.count.get(id) ?? 0;
          if (c === 1) h.repeated++;
          h.count.set(id, c + 1);
        }
        h.files.set(f.path, f.ids);
      }
      if (h.repeated === 0) continue;
      // Some id is on two files of this hour: the smallest batch keeps it.
      const first = new Set<string>();
      for (const f of [...listed].sort((a, b) => (a.batch < b.batch ? -1 : a.batch > b.batch ? 1 : 0))) {
        for (const id of f.ids) {
          if (h.count.get(id)! < 2) continue;
          if (!first.has(id)) first.add(id);
          else {
            repeats++;
            if (!dropped.has(f.key)) dropped.set(f.key, new Set());
            dropped.get(f.key)!.add(id);
          }
        }
      }
    }
    if (this.hours.size > this.maxHours) {
      const byAge = [...this.hours].sort((a, b) => a[1].lastUsed - b[1].lastUsed);
      for (const [hour] of byAge.slice(0, this.hours.size - this.maxHours)) this.hours.delete(hour);
    }
    return { dropped, repeats };
  }
}
