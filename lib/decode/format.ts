import type { BundleMemberInfo } from '../model/bundle';
import type { GcCycleRow, GctraceSummary, MetricSnapshotRow, RowStream } from '../model/gc';
import type { Profile } from '../model/profile';
import type { UploadKind } from '../model/upload-key';
import type { DecodeError } from './errors';
import type { InflateEngine } from './gunzip';

// What an input format is, speedscope `src/import/` style: each format is one file in
// lib/decode/formats/ exporting an InputFormat (how to recognize it, how to decode it), listed once
// in lib/decode/registry.ts; lib/decode/index.ts is the one dispatcher ingest, upload and scrape use.
// A new format that yields a Profile (say OTLP profiles) needs its decoder file, its registry entry
// and, when uploads must name it, an upload-contract kind (lib/model/upload-key.ts).

export interface DecodeOptions {
  /** Refuse inputs that decompress to more than this many bytes (default 256 MiB). */
  maxDecompressedBytes?: number;
  inflate?: InflateEngine;
}

export interface DecodeContext extends DecodeOptions {
  /** Capture start (epoch microseconds) for inputs without a clock of their own (gctrace). */
  readonly startUs?: number;
}

/**
 * An input read in slices, as many times as its decoder needs, and never held whole: a large log
 * file given to `fleetprof ingest` (#13: a 285 MB gctrace log was 293 MB of bytes in memory before
 * decoding began). Each slices() call starts again at the first byte; a slice may be dropped once
 * the next is asked for.
 */
export interface ByteSource {
  readonly size: number;
  slices(): Slices;
}

/**
 * One pass over a source. A consumer may hand a slice it no longer holds (nor any view of it) back
 * through `next(slice)`: the source may read the next slice into it (fileSource does). A pass then
 * allocates the few slices its consumer holds at once, not one per MiB of input: dropped slices are
 * external memory V8 frees only at its next full GC, ~25 MB of the 1M-key runtime/metrics
 * document's peak (docs/performance.md, "Hostile inputs"). `for ... of` hands nothing back.
 */
export type Slices = Iterator<Uint8Array, unknown, Uint8Array | undefined> & Iterable<Uint8Array>;

/** What a format may look at to recognize an input: its first 64 KiB, decompressed. */
export interface Head {
  readonly bytes: Uint8Array;
  /** The same bytes as UTF-8 text. */
  readonly text: string;
}

/** What one input decodes to; each variant has one path to the tables (lib/ingest.ts). */
export type DecodedInput =
  | { readonly input: 'profile'; readonly profile: Profile }
  | { readonly input: 'gctrace'; readonly parsed: GctraceSummary; readonly cycles: RowStream<GcCycleRow> }
  | { readonly input: 'runtime-metrics'; readonly snapshots: RowStream<MetricSnapshotRow> };

/**
 * What an upload decodes to: one input, or a bundle of several (lib/decode/formats/bundle.ts),
 * which lib/decode/inputs.ts expands into its members' DecodedInputs.
 */
export type Decoded = DecodedInput | { readonly input: 'bundle'; readonly bundle: Bundle };

export type InputKind = Decoded['input'];

/** A member a bundle's manifest lists: its bytes as stored (maybe gzipped), or why it has none. */
export type BundleEntry =
  | { readonly info: BundleMemberInfo; readonly bytes: Uint8Array }
  | { readonly info: BundleMemberInfo; readonly problem: DecodeError };

export interface Bundle {
  readonly members: readonly BundleEntry[];
  /** Archive entries the manifest does not list: ignored (e.g. macOS `._*` files), named here. */
  readonly unlisted: readonly string[];
}

export interface InputFormat<D extends Decoded = Decoded> {
  readonly name: string;
  readonly input: D['input'];
  /** The upload-contract kind of its objects; profile formats: undefined (the profile's own kind). */
  readonly uploadKind?: UploadKind;
  /** Whether the head looks like this format (its shape, not its validity: decode reports that). */
  sniff(head: Head): boolean;
  /**
   * A second chance over the whole decompressed input, tried only when the format the head chose
   * refused the input as 'unsupported' (a log whose first 64 KiB are application output).
   */
  sniffAll?(raw: Uint8Array): boolean;
  /** Decodes the whole decompressed input; throws DecodeError with the reason. */
  decode(raw: Uint8Array, ctx: DecodeContext): D;
  /**
   * Formats that decode in passes over slices (gctrace) may also decode a plain (not gzipped)
   * input from a ByteSource without it ever being in memory whole; the same result as decode.
   */
  decodeSource?(src: ByteSource, ctx: DecodeContext): D;
}
