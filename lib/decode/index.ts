import type { Profile } from '../model/profile';
import { DecodeError, isDecodeError } from './errors';
import type { ByteSource, Decoded, DecodedInput, DecodeContext, DecodeOptions, Head, InputFormat } from './format';
import { DEFAULT_MAX_DECOMPRESSED, gunzip, isGzip } from './gunzip';
import { FORMATS, INPUT_FORMATS, PROFILE_FORMATS } from './registry';

// The one dispatcher from bytes to a decoded input: gunzip, recognize the format by its head
// (lib/decode/registry.ts lists them in order), decode. Ingest, upload and scrape all come here.

export type { ByteSource, Decoded, DecodedInput, DecodeContext, DecodeOptions, InputFormat } from './format';

const HEAD_BYTES = 64 * 1024;

/** The input decompressed (within the size limit), refusing empty input. */
export function inflate(bytes: Uint8Array, opts: DecodeOptions = {}): Uint8Array {
  if (bytes.length === 0) throw new DecodeError('empty', 'empty input');
  const raw = isGzip(bytes) ? gunzip(bytes, opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED, opts.inflate) : bytes;
  if (raw.length === 0) throw new DecodeError('empty', 'empty input (after gunzip)');
  return raw;
}

function headOf(raw: Uint8Array): Head {
  const bytes = raw.subarray(0, HEAD_BYTES);
  // The text only when a sniff asks for it, once: decoding 64 KiB of a binary input (a bundle's
  // tar, a pprof protobuf) as UTF-8 was ~10% of preparing an agent bundle, for sniffs that look
  // at the bytes or stop at the first character.
  let text: string | undefined;
  return {
    bytes,
    get text() {
      return (text ??= Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    },
  };
}

/** The format whose sniff claims the (decompressed) input first. */
export function formatOf(raw: Uint8Array, formats: readonly InputFormat[] = FORMATS): InputFormat {
  const head = headOf(raw);
  const f = formats.find((x) => x.sniff(head));
  if (!f) throw new DecodeError('unsupported', 'no input format recognizes the content');
  return f;
}

function decodeAmong(bytes: Uint8Array, ctx: DecodeContext, formats: readonly InputFormat[]): Decoded {
  const raw = inflate(bytes, ctx);
  const chosen = formatOf(raw, formats);
  try {
    return chosen.decode(raw, ctx);
  } catch (e) {
    // 'unsupported' is how a decoder refuses content it does not read; only then is a full scan worth it.
    if (!isDecodeError(e) || e.code !== 'unsupported') throw e;
    const second = formats.find((f) => f !== chosen && f.sniffAll?.(raw));
    if (!second) throw e;
    return second.decode(raw, ctx);
  }
}

/**
 * Any input: gzipped or not, any format of the registry. Throws DecodeError with a reason for
 * anything else.
 */
export function decodeInput(bytes: Uint8Array, ctx: DecodeContext = {}): Decoded {
  return decodeAmong(bytes, ctx, FORMATS);
}

/**
 * A plain (not gzipped) input decoded from its source without holding it whole, when the format
 * its head names can (InputFormat.decodeSource: gctrace). undefined when it cannot, or when the
 * head is not enough to tell (then read the input whole and decodeInput it: same routing, same
 * result, the second-chance sniffing included).
 */
export function decodeFromSource(src: ByteSource, ctx: DecodeContext = {}): DecodedInput | undefined {
  const head = headBytes(src);
  if (head.length === 0 || isGzip(head)) return undefined;
  const f = FORMATS.find((x) => x.sniff(headOf(head)));
  if (!f?.decodeSource) return undefined;
  try {
    return f.decodeSource(src, ctx) as DecodedInput;
  } catch (e) {
    if (isDecodeError(e) && e.code === 'unsupported') return undefined;
    throw e;
  }
}

function headBytes(src: ByteSource): Uint8Array {
  const parts: Uint8Array[] = [];
  let n = 0;
  for (const s of src.slices()) {
    parts.push(s);
    n += s.length;
    if (n >= HEAD_BYTES) break;
  }
  return Buffer.concat(parts).subarray(0, HEAD_BYTES);
}

/**
 * One input that must not be a bundle (a bundle's member: bundles do not nest). Throws
 * DecodeError with a reason, naming a bundle found inside.
 */
export function decodeSingleInput(bytes: Uint8Array, ctx: DecodeContext = {}): DecodedInput {
  const raw = inflate(bytes, ctx);
  if (formatOf(raw).input === 'bundle') throw new DecodeError('unsupported', 'a bundle inside a bundle is not accepted');
  return decodeAmong(raw, ctx, INPUT_FORMATS) as DecodedInput;
}

/** Decodes with one given format (after gunzip), e.g. when the upload declares it. */
export function decodeAs<D extends Decoded>(format: InputFormat<D>, bytes: Uint8Array, ctx: DecodeContext = {}): D {
  return format.decode(inflate(bytes, ctx), ctx);
}

/**
 * Decodes a Go profile: gzipped or raw pprof protobuf, or one of Go's debug=1 text forms.
 * Throws DecodeError with a reason for anything else.
 */
export function decodeProfile(bytes: Uint8Array, opts: DecodeOptions = {}): Profile {
  const d = decodeAmong(bytes, opts, PROFILE_FORMATS);
  if (d.input !== 'profile') throw new DecodeError('unsupported', `not a profile: ${d.input}`);
  return d.profile;
}
