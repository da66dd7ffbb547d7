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
  return engine === 'zlib' ? gunzipZlib(bytes, limit) : gunzipPako(bytes, limit);
}

/**
 * Output chunk size for node:zlib: the gzip trailer's ISIZE (uncompressed size mod 2^32) lets one
 * chunk hold the whole output, measured 25% faster than the 16 KiB default on our fixtures. The
 * trailer is untrusted, so the hint is clamped; a lie only costs speed, never the size limit.
 */
export function zlibChunkSize(bytes: Uint8Array, limit: number): number {
  const n = bytes.length;
  const isize = n >= 18 ? (bytes[n - 4] | (bytes[n - 3] << 8) | (bytes[n - 2] << 16) | (bytes[n - 1] << 24)) >>> 0 : 0;
  return Math.max(16 * 1024, Math.min(isize + 64, limit, 8 * 1024 * 1024));
}

function gunzipZlib(bytes: Uint8Array, limit: number): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: limit, chunkSize: zlibChunkSize(bytes, limit) });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new DecodeError('too-large', `decompressed size exceeds the limit of ${limit} bytes`);
    }
    if (err.code === 'Z_BUF_ERROR' || err.errno === constants.Z_BUF_ERROR) {
      throw new DecodeError('bad-gzip', 'truncated gzip stream (unexpected end of file)');
    }
    throw new DecodeError('bad-gzip', `invalid gzip data: ${err.message}`);
  }
}

function gunzipPako(bytes: Uint8Array, limit: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  // pako 2 continues across concatenated gzip members by itself.
  const inf = new Inflate();
  inf.onData = (chunk: Uint8Array) => {
    total += chunk.length;
    // Throwing aborts inflation at once: a bomb costs `limit` bytes of work, not 2 GiB.
    if (total > limit) throw new DecodeError('too-large', `decompressed size exceeds the limit of ${limit} bytes`);
    chunks.push(chunk);
  };
  inf.push(bytes, true);
  if (inf.err) throw new DecodeError('bad-gzip', `invalid gzip data: ${inf.msg || 'error ' + inf.err}`);
  if (!(inf as unknown as { ended: boolean }).ended) throw new DecodeError('bad-gzip', 'truncated gzip stream (unexpected end of file)');
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
