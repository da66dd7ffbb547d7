import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { DecodeError } from './decode/errors';
import { createGctraceParser } from './decode/gctrace';
import { DEFAULT_MAX_DECOMPRESSED, gunzip, isGzip } from './decode/gunzip';
import { parseRuntimeMetrics } from './decode/runtime-metrics';
import { looksLikeGctrace, looksLikeRuntimeMetrics } from './decode/sniff-text';
import { TABLES, type TableName } from './model/schema';
import type { SourceMeta } from './model/source';
import { sourceToProfileId, tableKey, utcDate } from './store/layout';
import { gcCycleRows, runtimeMetricRows } from './normalize/gc-rows';
import type { TableRows } from './model/schema';
import { publishEntries, type IngestContext } from './ingest';

// gctrace logs and runtime/metrics snapshots -> the gc_cycles and runtime_metrics tables.
// Same contract as the profile path: bytes + SourceMeta in, files published atomically under
// names derived from the source id, so re-ingesting the same source replaces its rows. A log can
// span several UTC days, so its rows are split by dt and each dt gets its own file
// `<profile_id>-<dt>.parquet`.

export type TextInput = 'gctrace' | 'runtime-metrics';

export interface GcIngestResult {
  readonly input: TextInput;
  readonly profileId: string;
  readonly rows: Partial<Record<TableName, number>>;
  readonly keys: string[];
  /** The UTC days the rows landed in, ascending. */
  readonly dts: string[];
  /** Earliest and latest row time, epoch microseconds. */
  readonly firstUs: number;
  readonly lastUs: number;
  /** gctrace only: lines read, process lifetimes (segments) seen. */
  readonly linesRead?: number;
  readonly segments?: number;
  /** gctrace only: gc-looking lines that did not parse (skipped, never fatal), first few quoted. */
  readonly malformed: number;
  readonly malformedExamples: string[];
  /** Human-readable notes for the operator (malformed lines, estimated times). */
  readonly warnings: string[];
}

const SNIFF_GZIP_PREFIX = 16 * 1024;
const SNIFF_MAX_OUTPUT = 1024 * 1024;
const SNIFF_CHARS = 64 * 1024;

/**
 * The first characters of the input as text (gunzipping a prefix when it is gzip), for routing
 * by content before anything is fully decoded. Never throws: bad gzip is the decoders' business.
 */
export function sniffHead(bytes: Uint8Array): string {
  let head: Uint8Array = bytes.subarray(0, SNIFF_CHARS);
  if (isGzip(bytes)) {
    try {
      // Z_SYNC_FLUSH lets zlib return what a truncated stream decodes to, so only a prefix is inflated.
      head = gunzipSync(bytes.subarray(0, SNIFF_GZIP_PREFIX), {
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
        maxOutputLength: SNIFF_MAX_OUTPUT,
      }).subarray(0, SNIFF_CHARS);
    } catch {
      return '';
    }
  }
  return Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('utf8');
}

/** Which text table an input belongs to, from its first 64 KiB; null: not one of them. */
export function routeText(bytes: Uint8Array): TextInput | null {
  const head = sniffHead(bytes);
  if (head.length === 0) return null;
  if (looksLikeRuntimeMetrics(head)) return 'runtime-metrics';
  if (looksLikeGctrace(head)) return 'gctrace';
  return null;
}

/**
 * Whether a gc line occurs anywhere in the (text) input, not just in the first 64 KiB: for logs
 * whose application output fills the head. Only called once the profile decoders have refused it.
 */
export function containsGctrace(bytes: Uint8Array, maxDecompressedBytes = DEFAULT_MAX_DECOMPRESSED): boolean {
  let raw: Uint8Array;
  try {
    raw = isGzip(bytes) ? gunzip(bytes, maxDecompressedBytes) : bytes;
  } catch {
    return false;
  }
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  const window = 64 * 1024;
  const overlap = 1024; // longer than any gc line head, so a line cut by a window edge is seen whole in the next
  for (let i = 0; i < text.length; i += window - overlap) {
    if (looksLikeGctrace(text.slice(i, i + window))) return true;
  }
  return false;
}

function textBytes(bytes: Uint8Array, ctx: IngestContext): Uint8Array {
  return isGzip(bytes) ? gunzip(bytes, ctx.decode?.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED, ctx.decode?.inflate) : bytes;
}

function timeRange(times: readonly number[]): { firstUs: number; lastUs: number } {
  let firstUs = Infinity;
  let lastUs = -Infinity;
  for (const t of times) {
    if (t < firstUs) firstUs = t;
    if (t > lastUs) lastUs = t;
  }
  return { firstUs, lastUs };
}

export async function ingestGctraceBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<GcIngestResult> {
  if (meta.startUs === undefined) {
    throw new DecodeError('unsupported', 'gctrace log needs a capture start: pass --start');
  }
  const parser = createGctraceParser({ startUs: meta.startUs });
  parser.push(textBytes(bytes, ctx));
  const parsed = parser.end();
  const profileId = sourceToProfileId(meta.sourceId);
  const rows = gcCycleRows(parsed.cycles, meta, profileId);
  const times = parsed.cycles.map((c) => c.timeUs);
  const published = await publishByDay(ctx, 'gc_cycles', meta.service, profileId, rows, times);
  const warnings: string[] = [];
  if (parsed.malformed > 0) {
    const eg = parsed.malformedExamples.map((l) => JSON.stringify(l)).join(', ');
    warnings.push(`${parsed.malformed} malformed gc line(s) skipped, e.g. ${eg}`);
  }
  const estimated = new Set(parsed.cycles.filter((c) => c.timeEstimated).map((c) => c.segment)).size;
  if (estimated > 0) {
    warnings.push(
      `${estimated} restart(s) in the log without absolute timestamps: those cycles' times are estimated (time_estimated = true)`,
    );
  }
  return {
    input: 'gctrace',
    profileId,
    rows: { gc_cycles: rows.length },
    keys: published.keys,
    dts: published.dts,
    ...timeRange(times),
    linesRead: parsed.linesRead,
    segments: parsed.segments,
    malformed: parsed.malformed,
    malformedExamples: parsed.malformedExamples,
    warnings,
  };
}

export async function ingestRuntimeMetricsBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<GcIngestResult> {
  const samples = parseRuntimeMetrics(Buffer.from(textBytes(bytes, ctx)).toString('utf8'));
  if (samples.length === 0) throw new DecodeError('empty', 'runtime/metrics: no metrics in the input');
  const profileId = sourceToProfileId(meta.sourceId);
  const rows = runtimeMetricRows(samples, meta, profileId);
  const times = samples.map((s) => s.timeUs);
  const published = await publishByDay(ctx, 'runtime_metrics', meta.service, profileId, rows, times);
  return {
    input: 'runtime-metrics',
    profileId,
    rows: { runtime_metrics: rows.length },
    keys: published.keys,
    dts: published.dts,
    ...timeRange(times),
    malformed: 0,
    malformedExamples: [],
    warnings: [],
  };
}

/**
 * Splits rows by the UTC day of their time and publishes one file per day, all staged first so a
 * failure publishes nothing. `timesUs[i]` is the time of `rows[i]`.
 */
async function publishByDay<N extends 'gc_cycles' | 'runtime_metrics'>(
  ctx: IngestContext,
  table: N,
  service: string,
  profileId: string,
  rows: TableRows[N],
  timesUs: number[],
): Promise<{ keys: string[]; dts: string[] }> {
  const byDay = new Map<string, TableRows[N][number][]>();
  rows.forEach((r, i) => {
    const dt = utcDate(timesUs[i]);
    const list = byDay.get(dt);
    if (list) list.push(r);
    else byDay.set(dt, [r]);
  });
  const dts = [...byDay.keys()].sort();
  const keys = await publishEntries(
    ctx,
    dts.map((dt) => ({ table, dt, service, fileId: `${profileId}-${dt}`, rows: byDay.get(dt)! as TableRows[N] })),
  );
  return { keys, dts };
}
