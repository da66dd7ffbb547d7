import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { decodeProfile, type DecodeOptions } from './decode';
import { isDecodeError } from './decode/errors';
import { detectKind } from './decode/kind';
import { containsGctrace, ingestGctraceBytes, ingestRuntimeMetricsBytes, routeText, type GcIngestResult } from './ingest-gc';
import type { ProfileKind } from './model/profile';
import { TABLES, type TableName, type TableRows } from './model/schema';
import type { SourceMeta } from './model/source';
import { profileRows } from './normalize/profile-rows';
import { sourceToProfileId, tableKey, utcDate } from './store/layout';
import { rowCount, type ParquetWriter, type TableData } from './store/parquet';
import type { Store } from './store/store';
import { alreadyCompacted } from './store/manifest';

// bytes -> decode -> normalize -> write. The same function runs in the CLI and the ingest
// Lambda; only the Store differs.

export interface IngestContext {
  readonly store: Store;
  readonly writer: ParquetWriter;
  readonly decode?: DecodeOptions;
}

export interface IngestResult {
  readonly profileId: string;
  readonly kind: ProfileKind;
  readonly timeUs: number;
  readonly rows: Record<'profiles' | 'functions' | 'stacks', number>;
  readonly keys: string[];
}

export type IngestBytesResult = ({ readonly input: 'profile' } & IngestResult) | GcIngestResult;

/**
 * Any upload, routed by content: gctrace logs and runtime/metrics JSON go to gc_cycles /
 * runtime_metrics (lib/ingest-gc.ts), everything else to the profile path. A text log whose first
 * 64 KiB hold no gc line is still recognized once the profile decoders have refused it.
 */
export async function ingestBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<IngestBytesResult> {
  const route = routeText(bytes);
  if (route === 'gctrace') return ingestGctraceBytes(bytes, meta, ctx);
  if (route === 'runtime-metrics') return ingestRuntimeMetricsBytes(bytes, meta, ctx);
  try {
    return { input: 'profile', ...(await ingestProfileBytes(bytes, meta, ctx)) };
  } catch (e) {
    // 'unsupported' is how the profile decoders refuse plain text; only then is a full scan worth it.
    if (isDecodeError(e) && e.code === 'unsupported' && containsGctrace(bytes, ctx.decode?.maxDecompressedBytes)) {
      return ingestGctraceBytes(bytes, meta, ctx);
    }
    throw e;
  }
}

export async function ingestProfileBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<IngestResult> {
  const profile = decodeProfile(bytes, ctx.decode);
  const kind = detectKind(profile, meta.kind);
  const profileId = sourceToProfileId(meta.sourceId);
  const rows = profileRows(profile, kind, meta, profileId);
  const dt = utcDate(rows.timeUs);
  // profiles goes last: a profile row is only visible once its functions and stacks are.
  const keys = await publish(ctx, dt, meta.service, profileId, [
    ['functions', rows.functions],
    ['stacks', rows.stacks],
    ['profiles', rows.profiles],
  ]);
  return {
    profileId,
    kind,
    timeUs: rows.timeUs,
    rows: { profiles: rows.profiles.length, functions: rows.functions.length, stacks: rowCount(rows.stacks) },
    keys,
  };
}

/** One file to publish: the rows of one table for one partition, named by its source. */
export interface PublishEntry<N extends TableName = TableName> {
  readonly table: N;
  readonly dt: string;
  readonly service: string;
  readonly fileId: string;
  readonly rows: TableRows[N];
}

/**
 * Writes every entry's file to scratch first and publishes only when all were written, so a
 * failure leaves nothing half-written behind. A file whose source a compaction already merged
 * is not written again: its rows are in the compacted file, and a second copy would double them.
 */
export async function publishEntries(ctx: IngestContext, entries: readonly PublishEntry[]): Promise<string[]> {
  await fs.mkdir(ctx.store.scratchDir, { recursive: true });
  const staged: [string, string][] = [];
  try {
    for (const e of entries) {
      const key = tableKey(e.table, e.dt, e.service, e.fileId);
      if (await alreadyCompacted(ctx.store, key, e.fileId)) continue;
      const tmp = path.join(ctx.store.scratchDir, `${randomUUID()}.parquet`);
      staged.push([key, tmp]);
      await ctx.writer.write(TABLES[e.table], e.rows, tmp);
    }
    for (const [key, tmp] of staged) await ctx.store.putFile(key, tmp);
    return staged.map(([key]) => key);
  } finally {
    for (const [, tmp] of staged) await fs.rm(tmp, { force: true });
  }
}

/** The profile path's tables, all in the partition of the profile's capture day. */
export async function publish(
  ctx: IngestContext,
  dt: string,
  service: string,
  fileId: string,
  tables: [TableName, TableData][],
): Promise<string[]> {
  return publishEntries(
    ctx,
    tables.map(([table, rows]) => ({ table, dt, service, fileId, rows })),
  );
}
