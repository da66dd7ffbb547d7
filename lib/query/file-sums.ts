import type { DuckDBConnection } from '@duckdb/node-api';
import * as path from 'node:path';
import { isMergeBatch } from '../store/merge';
import { sqlString } from '../store/parquet';

// Per-file summaries of fresh Parquet files for the warm `top` path (lib/query/warm-top.ts). A
// fresh file is immutable (ingest and the merger write new names; compaction and quarantine only
// retire or move files), so what a file adds to a CPU `top` is computed once per process and kept
// here, bounded by bytes: a warm process reads only the files it has not seen.
//
// - a functions file: its CPU rows summed per (service, version, sample type, function), with the
//   time range of those rows; a merge's pre-sums file (functions_merge) is the same summary
//   written by the merger, with the range of the merge's profiles of every kind (wider: a window
//   holds it whole less often, never wrongly);
// - a profiles file: its CPU profiles' ids (the dedupe rule, lib/store/dedupe.ts, looks for an id
//   on two files of one hour), their time range, and their totals per (service, version, sample
//   type).
// CPU profiles weigh 1 in every window (lib/query/window.ts), so a window holding a file whole adds
// exactly these sums.

export type Group = { service: string | null; version: string | null; sampleType: string };

export interface FunctionsSummary {
  readonly table: 'functions';
  /** Epoch us of the first and last CPU row (lo > hi: none). */
  readonly lo: number;
  readonly hi: number;
  readonly groups: readonly (Group & { fns: ReadonlyMap<string, { flat: bigint; cum: bigint }> })[];
  readonly bytes: number;
}

export interface ProfilesSummary {
  readonly table: 'profiles';
  readonly lo: number;
  readonly hi: number;
  /** The CPU profiles' ids (a file holds an id once, lib/store/dedupe.ts). */
  readonly ids: readonly string[];
  readonly totals: readonly (Group & { unit: string | null; total: bigint })[];
  readonly bytes: number;
}

export type FileSummary = FunctionsSummary | ProfilesSummary;

/** What a summary source is: a functions file, a merge's pre-sums file, a profiles file. */
export type SummaryKind = 'functions' | 'functions_merge' | 'profiles';

// Rough bytes a summary holds in V8 (strings are 1 byte a char here, plus object and map overhead):
// the cache bound counts these, not the process's heap.
const STR = (s: string | null) => 24 + (s?.length ?? 0);
const ENTRY = 96;

const list = (files: readonly string[]) => `[${files.map((f) => `'${sqlString(f)}'`).join(', ')}]`;
const src = (files: readonly string[], unionByName: boolean) => `read_parquet(${list(files)}, filename = true, hive_partitioning = false, union_by_name = ${unionByName})`;

/**
 * A statement over files read by column name as the first file has them (union_by_name reads every
 * file's schema first: ~30% of summarizing a request's few new batch files); files written before
 * a column was added differ, and the statement runs again with union_by_name.
 */
async function runRead(conn: DuckDBConnection, sql: (unionByName: boolean) => string) {
  try {
    return await conn.runAndReadAll(sql(false));
  } catch {
    return conn.runAndReadAll(sql(true));
  }
}
const num = (v: unknown) => (v === null || v === undefined ? NaN : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
const groupKey = (g: Group) => JSON.stringify([g.service, g.version, g.sampleType]);

/** The summaries of `files` (one kind), read in one statement per kind; every file gets one (an empty one without CPU rows). */
export async function summarize(conn: DuckDBConnection, kind: SummaryKind, files: readonly string[]): Promise<Map<string, FileSummary>> {
  const out = new Map<string, FileSummary>();
  if (files.length === 0) return out;
  if (kind === 'profiles') {
    // A merge holds ~1,000 CPU profiles at 1,000 instances: its totals summed by DuckDB (a process's
    // first request, 59 merges: 0.25-0.29 s, against 1.1-1.4 s turning every profile's row into JS).
    // A batch file holds ~10: one statement, the sums here (~10-15 ms less per request while
    // batches arrive).
    const merges = files.filter((f) => isMergeBatch(path.basename(f).split('.')[0]));
    const batches = files.filter((f) => !isMergeBatch(path.basename(f).split('.')[0]));
    if (merges.length > 0 && batches.length > 0) return new Map([...(await summarize(conn, kind, merges)), ...(await summarize(conn, kind, batches))]);
    if (merges.length > 0) return profilesAggregated(conn, files);
    const rows = (await runRead(conn, (ubn) => `SELECT filename AS f, profile_id AS id, epoch_us("time") AS t, service, version, sample_types AS s FROM ${src(files, ubn)} WHERE kind = 'cpu'`)).getRowObjectsJS();
    const acc = new Map<string, { lo: number; hi: number; ids: string[]; totals: Map<string, Group & { unit: string | null; total: bigint }> }>();
    for (const r of rows) {
      const f = String(r.f);
      let a = acc.get(f);
      if (!a) acc.set(f, (a = { lo: Infinity, hi: -Infinity, ids: [], totals: new Map() }));
      const t = num(r.t);
      a.lo = Math.min(a.lo, t);
      a.hi = Math.max(a.hi, t);
      a.ids.push(String(r.id));
      for (const st of (r.s as { type: string; unit: string | null; total: bigint | number }[] | null) ?? []) {
        const g: Group = { service: str(r.service), version: str(r.version), sampleType: String(st.type) };
        const k = groupKey(g);
        const cur = a.totals.get(k);
        const unit = str(st.unit);
        if (!cur) a.totals.set(k, { ...g, unit, total: BigInt(st.total) });
        else {
          cur.total += BigInt(st.total);
          if (unit !== null && (cur.unit === null || unit < cur.unit)) cur.unit = unit;
        }
      }
    }
    for (const f of files) {
      const a = acc.get(f);
      const ids = a?.ids ?? [];
      const t = a ? [...a.totals.values()] : [];
      out.set(f, { table: 'profiles', lo: a?.lo ?? Infinity, hi: a?.hi ?? -Infinity, ids, totals: t, bytes: profilesBytes(ids, t) });
    }
    return out;
  }
  const [lo, hi] = kind === 'functions_merge' ? ['first_time', 'last_time'] : ['"time"', '"time"'];
  const rows = (
    await runRead(
      conn,
      (ubn) => `SELECT filename AS f, service, version, sample_type AS st, function AS fn, sum(flat)::HUGEINT AS flat, sum(cum)::HUGEINT AS cum, min(epoch_us(${lo})) AS lo, max(epoch_us(${hi})) AS hi
       FROM ${src(files, ubn)} WHERE kind = 'cpu' GROUP BY ALL`,
    )
  ).getRowObjectsJS();
  const acc = new Map<string, { lo: number; hi: number; groups: Map<string, Group & { fns: Map<string, { flat: bigint; cum: bigint }> }>; bytes: number }>();
  for (const r of rows) {
    const f = String(r.f);
    let a = acc.get(f);
    if (!a) acc.set(f, (a = { lo: Infinity, hi: -Infinity, groups: new Map(), bytes: ENTRY }));
    a.lo = Math.min(a.lo, num(r.lo));
    a.hi = Math.max(a.hi, num(r.hi));
    const g: Group = { service: str(r.service), version: str(r.version), sampleType: String(r.st) };
    const k = groupKey(g);
    let grp = a.groups.get(k);
    if (!grp) {
      a.groups.set(k, (grp = { ...g, fns: new Map() }));
      a.bytes += ENTRY + STR(g.service) + STR(g.version) + STR(g.sampleType);
    }
    grp.fns.set(String(r.fn), { flat: BigInt(r.flat as bigint), cum: BigInt(r.cum as bigint) });
    a.bytes += ENTRY + STR(String(r.fn));
  }
  for (const f of files) {
    const a = acc.get(f);
    out.set(f, { table: 'functions', lo: a?.lo ?? Infinity, hi: a?.hi ?? -Infinity, groups: a ? [...a.groups.values()] : [], bytes: a?.bytes ?? ENTRY });
  }
  return out;
}

const profilesBytes = (ids: readonly string[], t: readonly (Group & { unit: string | null })[]) =>
  ENTRY + ids.reduce((n, id) => n + 8 + STR(id), 0) + t.reduce((n, g) => n + ENTRY + STR(g.service) + STR(g.version) + STR(g.sampleType) + STR(g.unit), 0);

/** Profiles summaries with the totals summed by DuckDB (files of many CPU profiles: merges). */
async function profilesAggregated(conn: DuckDBConnection, files: readonly string[]): Promise<Map<string, FileSummary>> {
  const span = (await runRead(conn, (ubn) => `SELECT filename AS f, list(profile_id) AS ids, min(epoch_us("time")) AS lo, max(epoch_us("time")) AS hi FROM ${src(files, ubn)} WHERE kind = 'cpu' GROUP BY ALL`)).getRowObjectsJS();
  const tot = (
    await runRead(
      conn,
      (ubn) => `SELECT f, service, version, s.type AS st, min(s.unit) AS unit, sum(s.total)::HUGEINT AS total FROM (SELECT filename AS f, service, version, UNNEST(sample_types) AS s FROM ${src(files, ubn)} WHERE kind = 'cpu') GROUP BY ALL`,
    )
  ).getRowObjectsJS();
  const totals = new Map<string, (Group & { unit: string | null; total: bigint })[]>();
  for (const r of tot) {
    const f = String(r.f);
    if (!totals.has(f)) totals.set(f, []);
    totals.get(f)!.push({ service: str(r.service), version: str(r.version), sampleType: String(r.st), unit: str(r.unit), total: BigInt(r.total as bigint) });
  }
  const spans = new Map(span.map((r) => [String(r.f), r]));
  const out = new Map<string, FileSummary>();
  for (const f of files) {
    const s = spans.get(f);
    const ids = ((s?.ids as unknown[] | undefined) ?? []).map(String);
    const t = totals.get(f) ?? [];
    out.set(f, { table: 'profiles', lo: s ? num(s.lo) : Infinity, hi: s ? num(s.hi) : -Infinity, ids, totals: t, bytes: profilesBytes(ids, t) });
  }
  return out;
}

interface Entry {
  readonly summary: Promise<FileSummary>;
  bytes: number;
  lastUsed: number;
}

/**
 * Summaries by file path (a path names one immutable file: a local store's files are written once
 * under new names, an S3 download's path holds its ETag), least recently used dropped beyond
 * `maxBytes`; `forget` drops the files a listing no longer shows (merged, compacted, quarantined,
 * deleted). Concurrent requests for the same file share one read.
 */
export class FileSummaryCache {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  private held = 0;

  constructor(readonly maxBytes = 64 * 1024 * 1024) {}

  /** Entries kept (reads under way included). */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes the kept summaries hold (by their estimate). */
  get bytes(): number {
    return this.held;
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }

  /** The summaries of `files`: cached ones as they are, the others read by `read` in one call. */
  async get(files: readonly string[], read: (missing: string[]) => Promise<Map<string, FileSummary>>): Promise<Map<string, FileSummary>> {
    const now = ++this.clock;
    const missing = files.filter((f) => !this.entries.has(f));
    if (missing.length > 0) {
      const batch = read(missing);
      for (const f of missing) {
        const e: Entry = {
          summary: batch.then((m) => {
            const s = m.get(f);
            if (!s) throw new Error(`no summary read for ${f}`);
            return s;
          }),
          bytes: 0,
          lastUsed: now,
        };
        this.entries.set(f, e);
        e.summary.then(
          (s) => {
            if (this.entries.get(f) !== e) return; // forgotten meanwhile
            e.bytes = s.bytes;
            this.held += s.bytes;
          },
          () => {
            if (this.entries.get(f) === e) this.entries.delete(f);
          },
        );
      }
    }
    // Taken before any await: a concurrent request may forget or trim entries meanwhile.
    const mine = files.map((f) => [f, this.entries.get(f)!] as const);
    const out = new Map<string, FileSummary>();
    for (const [, e] of mine) e.lastUsed = now;
    for (const [f, e] of mine) out.set(f, await e.summary);
    this.trim();
    return out;
  }

  /** Drops the entries `gone` says are no longer listed. */
  forget(gone: (path: string) => boolean): void {
    for (const [f, e] of this.entries) if (gone(f)) this.drop(f, e);
  }

  /** Least recently used entries dropped while over the bound (a request holds what it already got). */
  private trim(): void {
    if (this.held <= this.maxBytes) return;
    const byAge = [...this.entries].sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [f, e] of byAge) {
      if (this.held <= this.maxBytes) break;
      if (e.bytes > 0) this.drop(f, e);
    }
  }

  private drop(f: string, e: Entry): void {
    this.entries.delete(f);
    this.held -= e.bytes;
  }
}
