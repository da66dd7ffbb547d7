import type { ByteSource } from '../../lib/decode';

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
