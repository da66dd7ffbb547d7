import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { compactedDtPrefix, symlinkKey } from './layout';
import type { Store } from './store';

// Per table and dt, the compacted tier's state (`<table>/dt=D/_manifest.json`; the underscore
// makes Athena skip it): which compacted files are live, which fresh batch files their rows came
// from (readers skip those), and which replaced files wait for their deferred delete. Publishing
// it (one compare-and-swap object write) is the moment a compaction takes effect for fleetprof;
// the Athena symlink manifest (`athena/<table>/dt=D/symlink.txt`) lists the same live files and
// is written just before it. See lib/store/compact.ts for the order of effects.

export const MANIFEST_NAME = '_manifest.json';

export interface LiveFile {
  /** File name inside `<table>/dt=D/`. */
  readonly name: string;
  /** UTC hours (0..23) whose rows the file holds; a day file holds them all. */
  readonly hours: readonly number[];
  /** 'pending' until the rollup builder's outputs for this file are live (lib/store/rollup-hook.ts). */
  readonly rollup?: 'pending';
  /** Rows the file holds (written by the compactor since 2026-12-03; the day close plans from it without reading the files). */
  readonly rows?: number;
}

export interface Retired {
  /** Store key of a replaced file (compacted or fresh) to delete once `at` (or `until`) + grace has passed. */
  readonly key: string;
  /** When it stopped being live, epoch ms. */
  readonly at: number;
  /**
   * Not deleted before this either (epoch ms): a compacted hour's fresh inputs are kept until the
   * hour has left every last-hour window (the hour's end + RETAIN_INPUTS_MS), so a warm process
   * (lib/query/warm-top.ts) answers the last hour from them instead of the compacted files.
   */
  readonly until?: number;
}

/**
 * How long after its hour ends a compacted hour's fresh inputs are kept (lib/store/compact-jobs.ts
 * finalizeJob): the last hour, `top`'s most asked window (issue #11 point 5), reaches an hour
 * until an hour after it ended. Readers skip them (they are merged) and Athena never reads fresh
 * files, so only the warm path reads them: storage holds about one more hour of fresh files.
 */
export const RETAIN_INPUTS_MS = 60 * 60_000;
/** The tables whose compacted hours' inputs are kept (RETAIN_INPUTS_MS): those lib/query/warm-top.ts reads. */
export const RETAIN_INPUTS_TABLES: readonly string[] = ['profiles', 'functions'];

/** Whether a retired file's deferred delete is due at `now` (its grace counted from `at`, or from `until` when later). */
export function retiredDue(r: Retired, grace: number, now: number): boolean {
  return Math.max(r.at, r.until ?? r.at) + grace <= now;
}

export interface DayManifest {
  readonly version: 2;
  readonly live: readonly LiveFile[];
  /** Fresh batch keys whose rows the live files hold and that may still exist: readers skip them. */
  readonly merged: readonly string[];
  readonly retired: readonly Retired[];
}

export const EMPTY_MANIFEST: DayManifest = { version: 2, live: [], merged: [], retired: [] };

export function manifestKey(table: string, dt: string): string {
  return compactedDtPrefix(table, dt) + MANIFEST_NAME;
}

/** The manifest and its version tag (null when the dt was never compacted). */
export async function readManifest(store: Store, table: string, dt: string): Promise<{ manifest: DayManifest; etag: string | null }> {
  const v = await store.readVersioned(manifestKey(table, dt));
  if (!v) return { manifest: EMPTY_MANIFEST, etag: null };
  const m = JSON.parse(Buffer.from(v.bytes).toString('utf8')) as DayManifest;
  if (m.version !== 2) throw new Error(`${manifestKey(table, dt)}: unknown manifest version ${String(m.version)}`);
  return { manifest: m, etag: v.etag };
}

/** Compare-and-swap: false when someone else changed the manifest since `etag` was read. */
export async function writeManifest(store: Store, table: string, dt: string, m: DayManifest, etag: string | null): Promise<boolean> {
  return store.putIfMatch(manifestKey(table, dt), Buffer.from(JSON.stringify(m, null, 1)), etag);
}

/** Athena's view of a dt: the live files' full S3 URIs, one a line (SymlinkTextInputFormat). */
export async function writeSymlink(store: Store, table: string, dt: string, m: DayManifest): Promise<void> {
  const text = m.live.map((f) => store.uri(compactedDtPrefix(table, dt) + f.name) + '\n').join('');
  await putText(store, symlinkKey(table, dt), text);
}

export async function putText(store: Store, key: string, text: string): Promise<void> {
  await fs.mkdir(store.scratchDir, { recursive: true });
  const tmp = path.join(store.scratchDir, `${randomUUID()}.txt`);
  await fs.writeFile(tmp, text);
  await store.putFile(key, tmp);
}

/** Hours of the day covered by some live file. */
export function coveredHours(m: DayManifest): Set<number> {
  return new Set(m.live.flatMap((f) => f.hours));
}

/**
 * Lists a fresh `key` as merged and retired (readers skip it at once; the deferred delete takes it
 * after the grace): a merge's abandoned output, or a quarantined file (lib/store/unreadable.ts).
 */
export async function retireFresh(store: Store, table: string, dt: string, key: string, now: number): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const { manifest: m, etag } = await readManifest(store, table, dt);
    if (m.merged.includes(key)) return;
    if (await writeManifest(store, table, dt, { ...m, merged: [...m.merged, key].sort(), retired: [...m.retired, { key, at: now }] }, etag)) return;
  }
  throw new Error(`${table} dt=${dt}: lost the manifest swap 5 times in a row`);
}
