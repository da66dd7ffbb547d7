import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import type { ByteSource } from '../../lib/decode';

// A file as a ByteSource (lib/decode/format.ts): read in slices on each pass, never held whole, so
// `fleetprof ingest` of a 285 MB log costs the decoder's passes, not the file's size (#13).

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
