import { readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import type { ByteSource } from '../decode';
import { DEFAULT_MAX_DECOMPRESSED, InflateCounter, inflatedSize, isGzip, trailerSize } from '../decode/gunzip';
import { fileSource, gunzipSource } from '../decode/sources';
import { ObjectTooLargeError } from './classify';

// An uploaded object's body read with memory bounded by design (#13), whatever its size: the
// ingest Lambda held every object whole, then its decompressed bytes whole (a 285 MB log was
// 2 x 285 MB before decoding began). Small objects (the agent's bundles, single profiles) are
// still read whole and decoded as ever: one inflate, no disk. A larger one becomes a ByteSource:
// - an object over WHOLE_BYTES as stored is streamed to a spool file in /tmp as stored (so /tmp
//   holds at most the batch's objects, each within the object limit), and a gzipped one is
//   counted while it arrives (InflateCounter): a bomb is refused with the reason as soon as it
//   passes the decompressed limit, and stops the download;
// - a gzipped object held whole whose decompressed size (its trailer, else counted) is over
//   WHOLE_BYTES is inflated a piece at a time on each pass, never into one buffer.
// Decoders that read a source in passes (lib/decode decodeFromSource: gctrace) never see the input
// whole; the others (pprof, bundles) get the object's bytes read whole, as before.

/** Objects and decompressed inputs up to this size are read whole (the CLI's SOURCE_BYTES). */
export const WHOLE_BYTES = 16 * 1024 * 1024;

export type ObjectBody =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | {
      readonly kind: 'source';
      /** The decompressed input, read in slices on each pass. */
      readonly source: ByteSource;
      /** The object as stored, read whole: for the formats that cannot decode from a source. */
      readonly stored: () => Uint8Array;
    };

export interface BodyLimits {
  readonly maxObjectBytes: number;
  readonly maxDecompressedBytes?: number;
  /** Where a large object is spooled (a directory the caller removes after the batch). */
  readonly spoolDir: () => string;
  /** Default WHOLE_BYTES (smaller in tests). */
  readonly wholeBytes?: number;
}

type Body = AsyncIterable<Uint8Array> & { transformToByteArray(): Promise<Uint8Array>; destroy?: () => void };

let spooled = 0;

/** `body` of an object of `size` bytes (ContentLength, already checked against the object limit). */
export async function readObjectBody(body: Body, size: number, o: BodyLimits): Promise<ObjectBody> {
  const whole = o.wholeBytes ?? WHOLE_BYTES;
  const limit = o.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED;
  if (size > whole) return spool(body, o, limit);
  const bytes = await body.transformToByteArray();
  if (!isGzip(bytes) || trailerSize(bytes) <= whole) return { kind: 'bytes', bytes };
  // The trailer claims more than WHOLE_BYTES (or the stream has several members): count first,
  // keeping no output; a bomb is refused here.
  const n = inflatedSize(bytes, limit);
  if (n <= whole) return { kind: 'bytes', bytes };
  return { kind: 'source', source: gunzipSource(() => [bytes], n), stored: () => bytes };
}

/** The body to a spool file as it arrives: its size checked, a gzip stream counted on the way. */
async function spool(body: Body, o: BodyLimits, limit: number): Promise<ObjectBody> {
  const file = path.join(o.spoolDir(), `object-${process.pid}-${++spooled}`);
  const out = await open(file, 'w');
  let counter: InflateCounter | undefined;
  // The first chunks, until the gzip magic (2 bytes) can be told.
  let head: Uint8Array[] | undefined = [];
  let stored = 0;
  try {
    for await (const chunk of body) {
      stored += chunk.length;
      // S3 sends what ContentLength said; a body that runs past the limit anyway is not read on.
      if (stored > o.maxObjectBytes) throw new ObjectTooLargeError(stored, o.maxObjectBytes);
      const { bytesWritten } = await out.write(chunk);
      if (bytesWritten !== chunk.length) throw new Error(`short write to the spool file (${bytesWritten} of ${chunk.length} bytes)`);
      if (head) {
        head.push(chunk);
        if (stored < 2) continue;
        const first = Buffer.concat(head);
        head = undefined;
        if (isGzip(first)) (counter = new InflateCounter(limit)).push(first);
      } else counter?.push(chunk);
    }
  } catch (e) {
    body.destroy?.();
    throw e;
  } finally {
    await out.close();
  }
  const st = statSync(file);
  const src = fileSource(file, st);
  const read = () => readFileSync(file);
  if (!counter) return { kind: 'source', source: src, stored: read };
  return { kind: 'source', source: gunzipSource(() => src.slices(), counter.end()), stored: read };
}
