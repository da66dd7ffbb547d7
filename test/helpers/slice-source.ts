import type { ByteSource, Slices } from '../../lib/decode/format';

/** Bytes as a source of `slice`-byte slices (a file read in slices), counting its passes. */
export function sliceSource(bytes: Uint8Array, slice: number): ByteSource & { passes: number } {
  const s = {
    size: bytes.length,
    passes: 0,
    *slices() {
      s.passes++;
      for (let i = 0; i < bytes.length; i += slice) yield bytes.subarray(i, i + slice);
    },
  };
  return s;
}

/**
 * Like sliceSource, but each slice is a copy in a buffer of the source's own, and a slice handed
 * back through next() (ByteSource's Slices) is filled with `}` at once and read into again: a
 * consumer that still used a slice it handed back would read garbage. Counts buffers allocated
 * and slices read.
 */
export function recyclingSource(bytes: Uint8Array, slice: number): ByteSource & { passes: number; allocated: number; read: number } {
  const mine = new WeakSet<ArrayBufferLike>();
  const s = {
    size: bytes.length,
    passes: 0,
    allocated: 0,
    read: 0,
    *slices(): Slices {
      s.passes++;
      const spare: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += slice) {
        let buf = spare.pop();
        if (!buf) {
          buf = new Uint8Array(slice);
          mine.add(buf.buffer);
          s.allocated++;
        }
        const n = Math.min(slice, bytes.length - i);
        buf.set(bytes.subarray(i, i + n));
        s.read++;
        const back: Uint8Array | undefined = yield buf.subarray(0, n);
        if (back && mine.has(back.buffer)) {
          const whole = new Uint8Array(back.buffer, 0, slice).fill(0x7d);
          if (!spare.some((x) => x.buffer === whole.buffer)) spare.push(whole);
        }
      }
    },
  };
  return s;
}
