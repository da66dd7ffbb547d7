import { DecodeError } from './errors';
import { DEFAULT_MAX_DECOMPRESSED, gunzip, isGzip, type InflateEngine } from './gunzip';
import { decodePprofMessage } from './pprof';
import { decodeTextProfile, sniffTextProfile } from './pprof-text';
import type { Profile } from '../model/profile';

export interface DecodeOptions {
  /** Refuse inputs that decompress to more than this many bytes (default 256 MiB). */
  maxDecompressedBytes?: number;
  inflate?: InflateEngine;
}

/**
 * Decodes a Go profile: gzipped or raw pprof protobuf, or one of Go's debug=1 text forms.
 * Throws DecodeError with a reason for anything else.
 */
export function decodeProfile(bytes: Uint8Array, opts: DecodeOptions = {}): Profile {
  if (bytes.length === 0) throw new DecodeError('empty', 'empty input');
  const raw = isGzip(bytes) ? gunzip(bytes, opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED, opts.inflate) : bytes;
  if (raw.length === 0) throw new DecodeError('empty', 'empty input (after gunzip)');
  if (raw[0] === 0) {
    // A protobuf never starts with field 0; this is the pre-Go-1.8 / gperftools binary format.
    throw new DecodeError('unsupported', 'legacy binary CPU profile (Go <= 1.7, gperftools or Java) is not supported; capture with Go >= 1.8');
  }
  const form = sniffTextProfile(raw);
  if (form) return decodeTextProfile(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'), form);
  try {
    return decodePprofMessage(raw);
  } catch (e) {
    if (e instanceof DecodeError && looksLikeText(raw)) {
      throw new DecodeError('unsupported', 'plain text that is not a Go profile (no pprof text header recognized)');
    }
    throw e;
  }
}

function looksLikeText(b: Uint8Array): boolean {
  const n = Math.min(b.length, 512);
  let printable = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i];
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127) || c >= 0xc0) printable++;
  }
  return printable >= n * 0.95;
}
