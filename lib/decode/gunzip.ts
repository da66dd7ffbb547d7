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
export function inflatedSize(bytes: Uint8Array, limit: number): number {
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

/** Compressed bytes handed to pako per push: bounds the output one push makes (deflate expands at most ~1032x). */
export const PUSH_BYTES = 16 * 1024;

/**
 * A gzip stream inflated synchronously as its compressed bytes arrive in pieces (pako), each
 * piece of output handed to `onData`. pako follows concatenated members only inside one push;
 * here a member that ends exactly at a piece's end is followed into the next piece the same way
 * (a fresh inflater for the next member; a zero byte after a member is padding and the rest is
 * ignored, as pako does inside a push), so the output never depends on where the pieces were cut.
 */
export class PieceInflater {
  private inf: Inflate;
  /** Ended inside a piece (padding or an error follows): later pieces are ignored, as pako would. */
  private done = false;

  constructor(private readonly onData: (chunk: Uint8Array) => void) {
    this.inf = this.fresh();
  }

  private fresh(): Inflate {
    const inf = new Inflate({ chunkSize: 256 * 1024 });
    inf.onData = this.onData;
    return inf;
  }

  push(piece: Uint8Array): void {
    for (let i = 0; i < piece.length && !this.done; i += PUSH_BYTES) {
      const part = piece.subarray(i, i + PUSH_BYTES);
      if (ended(this.inf)) {
        if (this.inf.err || part[0] === 0) {
          this.done = true;
          return;
        }
        this.inf = this.fresh();
      }
      this.inf.push(part, false);
      if (ended(this.inf) && (this.inf as unknown as { strm: { avail_in: number } }).strm.avail_in > 0) this.done = true;
    }
  }

  end(): void {
    if (!ended(this.inf)) this.inf.push(new Uint8Array(0), true);
    pakoOutcome(this.inf);
  }
}

function ended(inf: Inflate): boolean {
  return (inf as unknown as { ended: boolean }).ended;
}

/**
 * Counts a gzip stream's decompressed size as its compressed pieces arrive (a download), keeping
 * no output, and refuses as soon as the count passes `limit`: a bomb costs constant memory and
 * stops the download early.
 */
export class InflateCounter {
  private total = 0;
  private readonly inf: PieceInflater;

  constructor(private readonly limit: number) {
    this.inf = new PieceInflater((chunk) => {
      this.total += chunk.length;
      if (this.total > this.limit) throw tooLarge(this.limit, 'counted while inflating');
    });
  }

  push(piece: Uint8Array): void {
    this.inf.push(piece);
  }

  /** The decompressed size; throws if the stream is truncated or invalid. */
  end(): number {
    this.inf.end();
    return this.total;
  }
}
