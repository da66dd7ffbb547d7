import { memberMeta, type BundleMemberInfo } from '../model/bundle';
import type { SourceMeta } from '../model/source';
import { DecodeError, isDecodeError } from './errors';
import type { DecodedInput, DecodeOptions } from './format';
import { DEFAULT_MAX_DECOMPRESSED } from './gunzip';
import { decodeInput, decodeSingleInput, inflate } from './index';

// An upload -> the inputs it holds, each with its own SourceMeta: one for a single-input upload,
// one per member for a bundle (lib/model/bundle.ts). This is what ingest consumes (lib/ingest.ts,
// the batch writer, the Lambda, `fleetprof ingest`): it never has to know about bundles beyond
// reporting a failed member by name.
//
// Members are decoded lazily, one per step of the iteration, so at most one member's decoded
// form is alive here at a time (the consumer decides what it keeps). A member that fails is
// yielded as a failure of that member (its bytes kept for quarantine); the others still decode.
// Memory is bounded by design: the archive is inflated within maxDecompressedBytes, its member
// count is limited (BUNDLE_LIMITS), and the members' own decompressed sizes share one budget of
// maxDecompressedBytes: a member that would pass it is refused with the reason.

export type UploadInput =
  | {
      readonly ok: true;
      /** The input's own SourceMeta (a member's: memberMeta in lib/model/bundle.ts). */
      readonly meta: SourceMeta;
      /** The bundle member it is; undefined for a single-input upload. */
      readonly member?: BundleMemberInfo;
      /** Its bytes as uploaded (a member's as stored in the bundle), e.g. for quarantine. */
      readonly bytes: Uint8Array;
      readonly decoded: DecodedInput;
    }
  | {
      readonly ok: false;
      readonly meta: SourceMeta;
      readonly member: BundleMemberInfo;
      /** The member's bytes as stored in the bundle (empty when the archive lacks it). */
      readonly bytes: Uint8Array;
      readonly error: unknown;
    };

export interface ExpandedUpload {
  /** 'bundle' when the upload was a bundle (then `inputs` yields one entry per listed member). */
  readonly container: 'bundle' | 'single';
  /** Things worth telling the uploader that fail nothing (archive entries the manifest omits). */
  readonly notes: readonly string[];
  readonly inputs: Iterable<UploadInput>;
}

/**
 * The inputs of an upload. A single input that does not decode, and a bundle whose archive or
 * manifest is unusable, throw (the whole upload is bad); a bundle's bad member does not.
 */
export function expandUpload(bytes: Uint8Array, meta: SourceMeta, opts: DecodeOptions = {}): ExpandedUpload {
  const d = decodeInput(bytes, { ...opts, startUs: meta.startUs });
  if (d.input !== 'bundle') return { container: 'single', notes: [], inputs: [{ ok: true, meta, bytes, decoded: d }] };
  const { members, unlisted } = d.bundle;
  const notes = unlisted.length > 0 ? [`${unlisted.length} archive entr${unlisted.length === 1 ? 'y' : 'ies'} not listed in manifest.json ignored: ${unlisted.slice(0, 5).join(', ')}${unlisted.length > 5 ? ', …' : ''}`] : [];
  const limit = opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED;
  function* inputs(): Generator<UploadInput> {
    let used = 0;
    for (const m of members) {
      const mm = memberMeta(meta, m.info);
      if ('problem' in m) {
        yield { ok: false, meta: mm, member: m.info, bytes: new Uint8Array(0), error: m.problem };
        continue;
      }
      let out: UploadInput;
      try {
        const remaining = limit - used;
        if (remaining <= 0) throw budgetSpent(limit);
        let raw: Uint8Array;
        try {
          raw = inflate(m.bytes, { ...opts, maxDecompressedBytes: remaining });
        } catch (e) {
          throw isDecodeError(e) && e.code === 'too-large' && used > 0 ? budgetSpent(limit) : e;
        }
        used += raw.length;
        out = { ok: true, meta: mm, member: m.info, bytes: m.bytes, decoded: decodeSingleInput(raw, { ...opts, startUs: mm.startUs }) };
      } catch (error) {
        out = { ok: false, meta: mm, member: m.info, bytes: m.bytes, error };
      }
      yield out;
    }
  }
  return { container: 'bundle', notes, inputs: inputs() };
}

function budgetSpent(limit: number): DecodeError {
  return new DecodeError('too-large', `the bundle's members decompress to more than the limit of ${limit} bytes together (the decompressed size limit, docs/upload-contract.md)`);
}
