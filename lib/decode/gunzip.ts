import { gunzipSync, constants } from 'node:zlib';
import { Inflate } from 'pako';
import { DecodeError } from './errors';

/** Default cap on decompressed size: a 2 MB gzip bomb must not become 2 GiB in memory. */
export const DEFAULT_MAX_DECOMPRESSED = 256 * 1024 * 1024;

export type InflateEngine = 'zlib' | 'pako';

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Gunzips (multi-member aware, like Go's gzip.Reader) and refuses to produce more than `limit`
 * bytes. node:zlib is the default: docs/performance.md has the measurement against pako.
 */
export function gunzip(bytes: Uint8Array, limit = DEFAULT_MAX_DECOMPRESSED, engine: InflateEngine = 'zlib'): Uint8Array {
  const isize = trailerSize(bytes);
  if (engine === 'zlib' && isize <= Math.min(limit, COUNT_FIRST_ABOVE)) {
    try {
      return zlibOnce(bytes, Math.max(isize, 1), limit);
    } catch (e) {
      if (!(e instanceof DecodeError && e.code === 'too-large')) throw e;
    }
  }
  const size = inflatedSize(bytes, limit);
  return engine === 'zlib' ? zlibOnce(bytes, size, limit) : pakoInto(bytes, size, limit);
}

/**
 * Bounded in memory by what the output may be, never by a bomb (a 2 GiB bomb cost ~380 MB when
 * zlib was simply capped at the limit):
 * - The gzip trailer's ISIZE is the last member's size mod 2^32. For a one-member gzip it is the
 *   exact output size (zlib verifies it), so inflating with the output capped at ISIZE cannot be
 *   made to hold more: a trailer that understates just fails the cap.
 * - A claim above COUNT_FIRST_ABOVE, or output beyond the claim (several members, a lying or
 *   truncated trailer), gets a streaming pass first that counts the real size keeping no output
 *   and refuses past the limit; only then is the output inflated, capped at the counted size.
 * So a bomb costs at most COUNT_FIRST_ABOVE plus constant memory, and a large legitimate input
 * one extra inflate pass.
 */
const COUNT_FIRST_ABOVE = 16 * 1024 * 1024;

/** The gzip trailer's ISIZE: uncompressed size mod 2^32 of the last member (0 when too short). */
export function trailerSize(bytes: Uint8Array): number {
  const n = bytes.length;
  return n >= 18 ? (bytes[n - 4] | (bytes[n - 3] << 8) | (bytes[n - 2] << 16) | (bytes[n - 1] << 24)) >>> 0 : 0;
}

function tooLarge(limit: number, how: string): DecodeError {
  return new DecodeError('too-large', `decompressed size exceeds the limit of ${limit} bytes (${how})`);
}

/**
 * Inflates with the output capped at `cap`, into one chunk of that size: zlib fills it and returns
 * it without a copy, where 8 MiB chunks were concatenated at the end (twice the output at the peak,
 * e.g. +30 MB for a 26 MB profile, #13). `cap` is a trailer's claim of at most COUNT_FIRST_ABOVE or
 * a size counted within the limit, so the chunk is never larger than the output may be.
 */
function zlibOnce(bytes: Uint8Array, cap: number, limit: number): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: cap, chunkSize: Math.max(16 * 1024, cap + 64) });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw tooLarge(limit, 'while inflating');
    if (err.code === 'Z_BUF_ERROR' || err.errno === constants.Z_BUF_ERROR) {
      throw new DecodeError('bad-gzip', 'truncated gzip stream (unexpected end of file)');
    }
    throw new DecodeError('bad-gzip', `invalid gzip data: ${err.message}`);
  }
}

/** The decompressed size, counted in a streaming pass that keeps no output; refuses past `limit`. */
function inflatedSize(bytes: Uint8Array, limit: number): number {
  let total = 0;
  const inf = new Inflate({ chunkSize: 256 * 1024 });
  inf.onData = (chunk: Uint8Array) => {
    total += chunk.length;
    if (total > limit) throw tooLarge(limit, 'counted while inflating');
  };
  inf.push(bytes, true);
  pakoOutcome(inf);
  return total;
}

/** pako into a buffer of the counted size: no chunk list to concatenate (2x the output). */
function pakoInto(bytes: Uint8Array, size: number, limit: number): Uint8Array {
  const out = new Uint8Array(size);
  let o = 0;
  // pako 2 continues across concatenated gzip members by itself.
  const inf = new Inflate({ chunkSize: 256 * 1024 });
  inf.onData = (chunk: Uint8Array) => {
    if (o + chunk.length > size) throw tooLarge(limit, 'while inflating');
    out.set(chunk, o);
    o += chunk.length;
  };
  inf.push(bytes, true);
  pakoOutcome(inf);
  return out;
}

function pakoOutcome(inf: Inflate): void {
  // Z_BUF_ERROR (-5): the input ended inside the stream.
  if (inf.err === -5 || (!inf.err && !(inf as unknown as { ended: boolean }).ended)) {
    throw new DecodeError('bad-gzip', 'truncated gzip stream (unexpected end of file)');
  }
  if (inf.err) throw new DecodeError('bad-gzip', `invalid gzip data: ${inf.msg || 'error ' + inf.err}`);
}
