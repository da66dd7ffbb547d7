import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import type { ByteSource } from './format';
import { PieceInflater, PUSH_BYTES } from './gunzip';

// ByteSources (lib/decode/format.ts): inputs read in slices on each pass, never held whole, so a
// large input costs its decoder's passes, not its size (#13: a 285 MB gctrace log).
// - fileSource: a file (`fleetprof ingest` of a large file; the ingest Lambda's spooled object).
// - gunzipSource: a gzip stream stored in pieces (in memory, or a spooled file), inflated again on
//   each pass a piece at a time.

const SLICE_BYTES = 1024 * 1024;

/**
 * `file` as read on each slices() call. The decoder's passes must see the same bytes: a file that
 * changed size or mtime since `st` was taken fails the pass with the reason.
 */
export function fileSource(file: string, st: Pick<Stats, 'size' | 'mtimeMs'>, sliceBytes = SLICE_BYTES): ByteSource {
  const changed = () => new Error(`${file} changed while it was being ingested`);
  return {
    size: st.size,
    *slices() {
      const fd = openSync(file, 'r');
      try {
        const now = fstatSync(fd);
        if (now.size !== st.size || now.mtimeMs !== st.mtimeMs) throw changed();
        for (let pos = 0; pos < st.size; ) {
          // A fresh buffer per slice: a consumer may keep a slice while asking for the next.
          const buf = Buffer.allocUnsafe(Math.min(sliceBytes, st.size - pos));
          const n = readSync(fd, buf, 0, buf.length, pos);
          if (n === 0) throw changed();
          pos += n;
          yield n === buf.length ? buf : buf.subarray(0, n);
        }
      } finally {
        closeSync(fd);
      }
    },
  };
}

/**
 * A gzip stream stored in pieces as a ByteSource of its decompressed bytes. `size` is the
 * decompressed size, counted before with the same stream (InflateCounter, which refuses a bomb):
 * a pass that inflates to another size fails (the stored bytes changed). The output a pass holds
 * at once is what one push of PUSH_BYTES makes, never the input.
 */
export function gunzipSource(stored: () => Iterable<Uint8Array>, size: number): ByteSource {
  return {
    size,
    *slices() {
      let out: Uint8Array[] = [];
      let n = 0;
      const inf = new PieceInflater((chunk) => {
        out.push(chunk);
        n += chunk.length;
      });
      for (const piece of stored()) {
        for (let i = 0; i < piece.length; i += PUSH_BYTES) {
          inf.push(piece.subarray(i, i + PUSH_BYTES));
          if (out.length > 0) {
            const ready = out;
            out = [];
            yield* ready;
          }
        }
      }
      inf.end();
      yield* out;
      if (n !== size) throw new Error(`a gzip source inflated to ${n} bytes on this pass, ${size} when counted`);
    },
  };
}
