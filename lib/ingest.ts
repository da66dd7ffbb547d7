import { decodeAs, decodeInput, decodeProfile, type DecodedInput, type DecodeOptions } from './decode';
import { DecodeError } from './decode/errors';
import { expandUpload } from './decode/inputs';
import { gctraceFormat } from './decode/formats/gctrace';
import { runtimeMetricsFormat } from './decode/formats/runtime-metrics';
import { detectKind } from './decode/kind';
import type { GcCycleRow, GctraceSummary, MetricSnapshotRow, RowStream } from './model/gc';
import type { Profile, ProfileKind } from './model/profile';
import type { TableName } from './model/schema';
import type { SourceMeta } from './model/source';
import { gcCycleRows, runtimeMetricRows } from './normalize/gc-rows';
import { profileRows } from './normalize/profile-rows';
import { sourceToProfileId, utcDate } from './store/layout';
import { rowCount } from './store/parquet';
import { publish, publishChunksByDay, type PublishTarget } from './store/publish';
import { checkRowTimes } from './normalize/limits';

// bytes -> decode -> normalize -> publish. The same functions run in the CLI and the ingest
// Lambda; only the Store differs. Which format an input is, is the dispatcher's business
// (lib/decode/index.ts and the registry); here each decoded kind has its one path to the tables.

export { publish, publishEntries, type PublishEntry } from './store/publish';

export interface IngestContext extends PublishTarget {
  readonly decode?: DecodeOptions;
}

export interface IngestResult {
  readonly profileId: string;
  readonly kind: ProfileKind;
  readonly timeUs: number;
  readonly rows: Record<'profiles' | 'functions' | 'stacks', number>;
  readonly keys: string[];
}

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

export type IngestBytesResult = ({ readonly input: 'profile' } & IngestResult) | GcIngestResult;

/**
 * One input, routed by content (lib/decode/registry.ts) to its table path. A bundle holds several
 * inputs: ingestUpload takes those (and single inputs alike).
 */
export async function ingestBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<IngestBytesResult> {
  const d = decodeInput(bytes, { ...ctx.decode, startUs: meta.startUs });
  if (d.input === 'bundle') throw new DecodeError('unsupported', 'a bundle holds several inputs: ingest it with ingestUpload');
  return ingestDecoded(d, meta, ctx);
}

async function ingestDecoded(d: DecodedInput, meta: SourceMeta, ctx: IngestContext): Promise<IngestBytesResult> {
  switch (d.input) {
    case 'profile':
      return { input: 'profile', ...(await ingestProfile(d.profile, meta, ctx)) };
    case 'gctrace':
      return ingestGctrace(d.parsed, d.cycles, meta, ctx);
    case 'runtime-metrics':
      return ingestRuntimeMetrics(d.snapshots, meta, ctx);
  }
}

/** What became of one input of an upload (a bundle's member, or the upload itself). */
export type InputOutcome =
  | { readonly ok: true; readonly member?: string; readonly source: string; readonly result: IngestBytesResult }
  | {
      readonly ok: false;
      readonly member: string;
      readonly source: string;
      /** The member's bytes as stored in the bundle (what a quarantine keeps). */
      readonly bytes: Uint8Array;
      readonly error: unknown;
    };

export interface UploadIngestResult {
  readonly container: 'bundle' | 'single';
  /** Notes that fail nothing (archive entries the manifest does not list). */
  readonly notes: readonly string[];
  readonly inputs: readonly InputOutcome[];
}

/**
 * Any upload: one input, or a bundle's members (lib/decode/inputs.ts), each ingested on its own.
 * For the batch writer (layout v2, one file per table per batch): take the inputs from
 * `expandUpload(bytes, meta, decode)` and normalize each ok input's `decoded` with its own `meta`
 * into the batch; a not-ok input, or one whose rows the writer refuses, is that member's failure
 * (the Lambda quarantines it alone with quarantineMember, lib/aws/quarantine.ts).
 * A single input's failure throws, as ingestBytes does; a member's failure (decoding it,
 * normalizing or publishing it) is that member's outcome, and the other members still ingest.
 * The caller tells the member's poison from a transient store failure (lib/aws/ingest-object.ts).
 */
export async function ingestUpload(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<UploadIngestResult> {
  const up = expandUpload(bytes, meta, ctx.decode);
  const inputs: InputOutcome[] = [];
  for (const input of up.inputs) {
    if (!input.ok) {
      inputs.push({ ok: false, member: input.member.name, source: input.meta.source, bytes: input.bytes, error: input.error });
      continue;
    }
    try {
      inputs.push({ ok: true, member: input.member?.name, source: input.meta.source, result: await ingestDecoded(input.decoded, input.meta, ctx) });
    } catch (error) {
      if (!input.member) throw error;
      inputs.push({ ok: false, member: input.member.name, source: input.meta.source, bytes: input.bytes, error });
    }
  }
  return { container: up.container, notes: up.notes, inputs };
}

export async function ingestProfileBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<IngestResult> {
  return ingestProfile(decodeProfile(bytes, ctx.decode), meta, ctx);
}

export async function ingestGctraceBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<GcIngestResult> {
  const d = decodeAs(gctraceFormat, bytes, { ...ctx.decode, startUs: meta.startUs });
  return ingestGctrace(d.parsed, d.cycles, meta, ctx);
}

export async function ingestRuntimeMetricsBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<GcIngestResult> {
  return ingestRuntimeMetrics(decodeAs(runtimeMetricsFormat, bytes, ctx.decode).snapshots, meta, ctx);
}

async function ingestProfile(profile: Profile, meta: SourceMeta, ctx: IngestContext): Promise<IngestResult> {
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

// gctrace logs and runtime/metrics snapshots: same contract as the profile path (files named by
// the source id, so re-ingesting replaces), but a log can span several UTC days, so its rows get
// one file per dt, `<profile_id>-<dt>.parquet`.

// Rows arrive a chunk at a time (lib/model/gc.ts RowStream): the input's rows are never all in
// memory, only the chunk being written (#13).

async function ingestGctrace(parsed: GctraceSummary, cycles: RowStream<GcCycleRow>, meta: SourceMeta, ctx: IngestContext): Promise<GcIngestResult> {
  checkRowTimes('gctrace: cycle time', [cycles.firstUs, cycles.lastUs]);
  const profileId = sourceToProfileId(meta.sourceId);
  const published = await publishChunksByDay(ctx, 'gc_cycles', meta.service, profileId, mapChunks(cycles, (c) => gcCycleRows(c, meta, profileId)));
  const warnings: string[] = [];
  if (parsed.malformed > 0) {
    const eg = parsed.malformedExamples.map((l) => JSON.stringify(l)).join(', ');
    warnings.push(`${parsed.malformed} malformed gc line(s) skipped, e.g. ${eg}`);
  }
  if (parsed.estimatedSegments > 0) {
    warnings.push(
      `${parsed.estimatedSegments} restart(s) in the log without absolute timestamps: those cycles' times are estimated (time_estimated = true)`,
    );
  }
  return {
    input: 'gctrace',
    profileId,
    rows: { gc_cycles: cycles.count },
    keys: published.keys,
    dts: published.dts,
    firstUs: cycles.firstUs,
    lastUs: cycles.lastUs,
    linesRead: parsed.linesRead,
    segments: parsed.segments,
    malformed: parsed.malformed,
    malformedExamples: parsed.malformedExamples,
    warnings,
  };
}

async function ingestRuntimeMetrics(snapshots: RowStream<MetricSnapshotRow>, meta: SourceMeta, ctx: IngestContext): Promise<GcIngestResult> {
  const profileId = sourceToProfileId(meta.sourceId);
  const published = await publishChunksByDay(ctx, 'runtime_metrics', meta.service, profileId, mapChunks(snapshots, (c) => runtimeMetricRows(c, meta, profileId)));
  return {
    input: 'runtime-metrics',
    profileId,
    rows: { runtime_metrics: snapshots.count },
    keys: published.keys,
    dts: published.dts,
    firstUs: snapshots.firstUs,
    lastUs: snapshots.lastUs,
    malformed: 0,
    malformedExamples: [],
    warnings: [],
  };
}

function* mapChunks<R, T>(s: RowStream<R>, f: (rows: R[]) => T): Generator<T> {
  for (const c of s.chunks()) yield f(c);
}

