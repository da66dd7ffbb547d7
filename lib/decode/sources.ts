import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import type { ByteSource, Slices } from './format';
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
  // The slice buffers this source allocated (unpooled, each its own ArrayBuffer).
  const mine = new WeakSet<ArrayBuffer>();
  return {
    size: st.size,
    *slices(): Slices {
      const fd = openSync(file, 'r');
      try {
        const now = fstatSync(fd);
        if (now.size !== st.size || now.mtimeMs !== st.mtimeMs) throw changed();
        // Slices handed back (Slices): read into again. Otherwise a fresh buffer per slice, since a
        // consumer may keep a slice while asking for the next.
        const spare: ArrayBuffer[] = [];
        for (let pos = 0; pos < st.size; ) {
          const want = Math.min(sliceBytes, st.size - pos);
          let mem = spare.pop();
          if (!mem) mine.add((mem = Buffer.allocUnsafeSlow(Math.min(sliceBytes, st.size)).buffer as ArrayBuffer));
          const buf = Buffer.from(mem, 0, want);
          const n = readSync(fd, buf, 0, buf.length, pos);
          if (n === 0) throw changed();
          pos += n;
          const back: Uint8Array | undefined = yield buf.subarray(0, n);
          // Only this source's own buffers (never memory another owner may still use), once each.
          if (back && mine.has(back.buffer as ArrayBuffer) && !spare.includes(back.buffer as ArrayBuffer)) spare.push(back.buffer as ArrayBuffer);
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
    *slices(): Slices {
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
