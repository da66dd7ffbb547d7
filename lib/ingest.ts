import { decodeAs, decodeFromSource, decodeInput, decodeProfile, type ByteSource, type DecodedInput, type DecodeOptions } from './decode';
import { DecodeError } from './decode/errors';
import { expandUpload } from './decode/inputs';
import { gctraceFormat } from './decode/formats/gctrace';
import { runtimeMetricsFormat } from './decode/formats/runtime-metrics';
import { detectKind } from './decode/kind';
import type { GcCycleRow, GctraceSummary, MetricSnapshotRow, RowStream } from './model/gc';
import type { Profile, ProfileKind } from './model/profile';
import type { TableName, TableRows } from './model/schema';
import type { SourceMeta } from './model/source';
import { gcCycleRows, runtimeMetricRows } from './normalize/gc-rows';
import { captureTimeUs, profileRows } from './normalize/profile-rows';
import { DAY_US, sourceToProfileId, utcDate } from './store/layout';
import { rowCount } from './store/parquet';
import { publishEntries, type ChunkedEntry, type PublishTarget, type TableEntry } from './store/publish';
import { checkRowTimes } from './normalize/limits';

// bytes -> decode -> normalize -> publish. The same functions run in the CLI and the ingest
// Lambda; only the Store differs. Which format an input is, is the dispatcher's business
// (lib/decode/index.ts and the registry); here each decoded kind has its one path to the tables.
// `prepareBytes` is decode + normalize (CPU only, no store); the rows it returns go into a
// FreshBatch with other inputs' (the Lambda's SQS batch, a chunk of `fleetprof ingest` inputs), which
// writes one file per table per hour. `ingestBytes` is one input as a batch of its own.

export { FreshBatch, publishEntries, type TableEntry } from './store/publish';

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
  /** The UTC days the rows landed in, ascending (known once the rows were written). */
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

/** An input decoded and normalized: its result (keys still empty) and its rows for a batch. */
export interface Prepared<R extends IngestBytesResult = IngestBytesResult> {
  readonly result: R;
  readonly entries: TableEntry[];
}

/**
 * One input, routed by content (lib/decode/registry.ts) to its tables' rows; writes nothing. A
 * bundle holds several inputs: prepareUpload takes those (and single inputs alike).
 */
export function prepareBytes(bytes: Uint8Array, meta: SourceMeta, decode?: DecodeOptions): Prepared {
  const d = decodeInput(bytes, { ...decode, startUs: meta.startUs });
  if (d.input === 'bundle') throw new DecodeError('unsupported', 'a bundle holds several inputs: ingest it with ingestUpload');
  return prepareDecoded(d, meta);
}

/**
 * A large plain input (a log file) decoded and normalized from a source read in slices, never held
 * whole (lib/decode decodeFromSource); undefined when its format needs the bytes whole (then read
 * them and prepareUpload them). Its rows reach the batch a chunk at a time, read from the source
 * again when the batch is published.
 */
export function prepareSource(src: ByteSource, meta: SourceMeta, decode?: DecodeOptions): Prepared | undefined {
  const d = decodeFromSource(src, { ...decode, startUs: meta.startUs });
  return d && prepareDecoded(d, meta);
}

/**
 * A large upload as a source (a file, a spooled object: prepareSource) in the shape prepareUpload
 * returns, or undefined when its format needs the bytes whole. Its `bytes` are empty: what the
 * source holds is never read whole (a single input is quarantined by its key, not its bytes).
 */
export function prepareUploadSource(src: ByteSource, meta: SourceMeta, decode?: DecodeOptions): PreparedUpload | undefined {
  const prepared = prepareSource(src, meta, decode);
  return prepared && { container: 'single', notes: [], inputs: [{ ok: true, source: meta.source, bytes: new Uint8Array(0), prepared }] };
}

function prepareDecoded(d: Exclude<DecodedInput, { input: 'bundle' }>, meta: SourceMeta): Prepared {
  switch (d.input) {
    case 'profile': {
      const p = prepareProfile(d.profile, meta);
      return { result: { input: 'profile', ...p.result }, entries: p.entries };
    }
    case 'gctrace':
      return prepareGctrace(d.parsed, d.cycles, meta);
    case 'runtime-metrics':
      return prepareRuntimeMetrics(d.snapshots, meta);
  }
}

/** One input as a batch of its own. */
export async function ingestBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<IngestBytesResult> {
  return publishPrepared(ctx, prepareBytes(bytes, meta, ctx.decode));
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

/** An upload's inputs, decoded and normalized (or each member's failure); writes nothing. */
export type PreparedInput =
  | { readonly ok: true; readonly member?: string; readonly source: string; readonly bytes: Uint8Array; readonly prepared: Prepared }
  | Extract<InputOutcome, { ok: false }>;

export interface PreparedUpload {
  readonly container: 'bundle' | 'single';
  readonly notes: readonly string[];
  readonly inputs: readonly PreparedInput[];
}

/**
 * Any upload: one input, or a bundle's members (lib/decode/inputs.ts), each decoded and normalized
 * on its own. A single input's failure throws, as prepareBytes does; a member's failure is that
 * member's outcome (the Lambda quarantines it alone with quarantineMember, lib/aws/quarantine.ts),
 * and the other members still go into the batch.
 */
export function prepareUpload(bytes: Uint8Array, meta: SourceMeta, decode?: DecodeOptions): PreparedUpload {
  const up = expandUpload(bytes, meta, decode);
  const inputs: PreparedInput[] = [];
  for (const input of up.inputs) {
    if (!input.ok) {
      inputs.push({ ok: false, member: input.member.name, source: input.meta.source, bytes: input.bytes, error: input.error });
      continue;
    }
    try {
      inputs.push({ ok: true, member: input.member?.name, source: input.meta.source, bytes: input.bytes, prepared: prepareDecoded(input.decoded, input.meta) });
    } catch (error) {
      if (!input.member) throw error;
      inputs.push({ ok: false, member: input.member.name, source: input.meta.source, bytes: input.bytes, error });
    }
  }
  return { container: up.container, notes: up.notes, inputs };
}

/**
 * Any upload as a batch of its own: its inputs' rows in one file per table per hour. Should the
 * writer refuse the batch, each input is written alone, so only the guilty member fails (a single
 * input's failure throws).
 */
export async function ingestUpload(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<UploadIngestResult> {
  const up = prepareUpload(bytes, meta, ctx.decode);
  const ok = up.inputs.filter((i): i is Extract<PreparedInput, { ok: true }> => i.ok);
  const done = new Map<Extract<PreparedInput, { ok: true }>, InputOutcome>();
  try {
    const keys = await publishEntries(ctx, ok.flatMap((i) => i.prepared.entries));
    for (const i of ok) done.set(i, { ok: true, member: i.member, source: i.source, result: { ...i.prepared.result, keys } });
  } catch (e) {
    if (up.container === 'single') throw e;
    for (const i of ok) {
      try {
        done.set(i, { ok: true, member: i.member, source: i.source, result: await publishPrepared(ctx, i.prepared) });
      } catch (error) {
        done.set(i, { ok: false, member: i.member ?? '', source: i.source, bytes: new Uint8Array(0), error });
      }
    }
  }
  return { container: up.container, notes: up.notes, inputs: up.inputs.map((i) => (i.ok ? done.get(i)! : i)) };
}

export async function ingestProfileBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<IngestResult> {
  return publishPrepared(ctx, prepareProfile(decodeProfile(bytes, ctx.decode), meta));
}

export async function ingestGctraceBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<GcIngestResult> {
  const d = decodeAs(gctraceFormat, bytes, { ...ctx.decode, startUs: meta.startUs });
  return publishPrepared(ctx, prepareGctrace(d.parsed, d.cycles, meta));
}

export async function ingestRuntimeMetricsBytes(bytes: Uint8Array, meta: SourceMeta, ctx: IngestContext): Promise<GcIngestResult> {
  return publishPrepared(ctx, prepareRuntimeMetrics(decodeAs(runtimeMetricsFormat, bytes, ctx.decode).snapshots, meta));
}

async function publishPrepared<R extends { keys: string[] }>(ctx: PublishTarget, p: { result: R; entries: TableEntry[] }): Promise<R> {
  const keys = await publishEntries(ctx, p.entries);
  return { ...p.result, keys };
}

function prepareProfile(profile: Profile, meta: SourceMeta): { result: IngestResult; entries: TableEntry[] } {
  const kind = detectKind(profile, meta.kind);
  const profileId = sourceToProfileId(meta.sourceId, captureTimeUs(profile, meta));
  const rows = profileRows(profile, kind, meta, profileId);
  return {
    result: {
      profileId,
      kind,
      timeUs: rows.timeUs,
      rows: { profiles: rows.profiles.length, functions: rows.functions.length, stacks: rowCount(rows.stacks) },
      keys: [],
    },
    entries: [
      { table: 'functions', rows: rows.functions },
      { table: 'stacks', rows: rows.stacks },
      { table: 'profiles', rows: rows.profiles },
    ],
  };
}

// gctrace logs and runtime/metrics snapshots: a log can span several UTC hours and days; the batch
// splits its rows into one file per hour like any other rows. Their rows stay a RowStream (lib/model/
// gc.ts) up to the batch writer: the entry is a ChunkedEntry, read a chunk at a time when the batch
// is published, so an input's rows are never all in memory (#13). Which days they landed in is
// known only then: `dts` is filled as the chunks pass (read it after publishing).

function chunkedEntry<R, N extends 'gc_cycles' | 'runtime_metrics'>(
  table: N,
  stream: RowStream<R>,
  toRows: (rows: R[]) => TableRows[N],
): { entry: ChunkedEntry<N>; days: () => string[] } {
  const days = new Set<string>();
  let lastDay = -1;
  const entry: ChunkedEntry<N> = {
    table,
    count: stream.count,
    *chunks() {
      for (const c of stream.chunks()) {
        const rows = toRows(c);
        for (const r of rows) {
          const d = Math.floor(r.time / DAY_US);
          if (d !== lastDay) days.add(utcDate((lastDay = d) * DAY_US));
        }
        yield rows;
      }
    },
  };
  return { entry, days: () => [...days].sort() };
}

/** A small stream's rows read now and held (see HELD_METRICS_ROWS), with the days they fall in. */
function heldEntry<R, N extends 'runtime_metrics'>(table: N, stream: RowStream<R>, toRows: (rows: R[]) => TableRows[N]): { entry: TableEntry<N>; days: () => string[] } {
  const rows: TableRows[N][number][] = [];
  for (const c of stream.chunks()) for (const r of toRows(c)) rows.push(r);
  const days = new Set<string>();
  let lastDay = -1;
  for (const r of rows) {
    const d = Math.floor(r.time / DAY_US);
    if (d !== lastDay) days.add(utcDate((lastDay = d) * DAY_US));
  }
  return { entry: { table, rows: rows as TableRows[N] }, days: () => [...days].sort() };
}

function prepareGctrace(parsed: GctraceSummary, cycles: RowStream<GcCycleRow>, meta: SourceMeta): Prepared<GcIngestResult> {
  checkRowTimes('gctrace: cycle time', [cycles.firstUs, cycles.lastUs]);
  const profileId = sourceToProfileId(meta.sourceId, cycles.firstUs);
  const { entry, days } = chunkedEntry('gc_cycles', cycles, (c) => gcCycleRows(c, meta, profileId));
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
  const result: GcIngestResult = {
    input: 'gctrace',
    profileId,
    rows: { gc_cycles: cycles.count },
    keys: [],
    get dts() {
      return days();
    },
    firstUs: cycles.firstUs,
    lastUs: cycles.lastUs,
    linesRead: parsed.linesRead,
    segments: parsed.segments,
    malformed: parsed.malformed,
    malformedExamples: parsed.malformedExamples,
    warnings,
  };
  return { result, entries: [entry] };
}

/**
 * runtime/metrics inputs of at most this many rows (the agent's snapshots of one period: ~700)
 * become held rows, as a profile's are, instead of a chunked entry: the batch then writes them
 * with the other inputs' rows of the table and hour in one COPY, and the columns every row of the
 * input shares (profile_id, service, instance, version, labels, process) reach DuckDB once per
 * input instead of once per row. Through the chunked path (ParquetWriter.rowFile) those per-row
 * copies were ~7 ms of CPU per agent bundle, more than its six profiles' stacks took in JS.
 * It is one chunk (METRICS_CHUNK_ROWS), so memory stays as bounded as the chunked path's.
 */
const HELD_METRICS_ROWS = 4096;

function prepareRuntimeMetrics(snapshots: RowStream<MetricSnapshotRow>, meta: SourceMeta): Prepared<GcIngestResult> {
  const profileId = sourceToProfileId(meta.sourceId, snapshots.firstUs);
  const { entry, days } = snapshots.count <= HELD_METRICS_ROWS ? heldEntry('runtime_metrics', snapshots, (c) => runtimeMetricRows(c, meta, profileId)) : chunkedEntry('runtime_metrics', snapshots, (c) => runtimeMetricRows(c, meta, profileId));
  const result: GcIngestResult = {
    input: 'runtime-metrics',
    profileId,
    rows: { runtime_metrics: snapshots.count },
    keys: [],
    get dts() {
      return days();
    },
    firstUs: snapshots.firstUs,
    lastUs: snapshots.lastUs,
    malformed: 0,
    malformedExamples: [],
    warnings: [],
  };
  return { result, entries: [entry] };
}
