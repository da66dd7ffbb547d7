// A gzip stream inflated from pieces (the ingest Lambda's large objects, #13): the same bytes as
// inflating it whole wherever the pieces are cut (members ending at a cut, zero padding, several
// members), the same refusals (truncated, invalid, over the limit), and a source that re-inflates
// on each pass and never holds the output whole.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { gunzip, InflateCounter, inflatedSize } from '../lib/decode/gunzip';
import { gunzipSource } from '../lib/decode/sources';

/** `bytes` cut at the given (sorted, deduplicated) offsets. */
function cut(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const edges = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const e of [...edges, bytes.length]) {
    out.push(bytes.subarray(from, e));
    from = e;
  }
  return out;
}

const text = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => `line ${seed}:${i} ${'x'.repeat((i * 7 + seed) % 40)}\n`).join(''));

function passOf(pieces: Uint8Array[], size: number): Buffer {
  return Buffer.concat([...gunzipSource(() => pieces, size).slices()]);
}

test('pieces cut anywhere inflate to what the whole stream does, members and padding included', () => {
  const a = text(3000, 1);
  const b = text(10, 2);
  const c = text(2000, 3);
  const members = Buffer.concat([gzipSync(a), gzipSync(b), gzipSync(c)]);
  const cases: [Buffer, Buffer][] = [
    [members, Buffer.concat([a, b, c])],
    // A zero byte after a member is padding: what follows is ignored (pako and node:zlib alike).
    [Buffer.concat([gzipSync(a), Buffer.alloc(7), gzipSync(b)]), a],
    [gzipSync(Buffer.alloc(0)), Buffer.alloc(0)],
  ];
  const mb = gzipSync(a).length;
  for (const [gz, want] of cases) {
    // (Buffer.equals: jest's toEqual walks a buffer element by element, seconds for 100 KB.)
    expect(Buffer.from(gunzip(gz, 1 << 30)).equals(want)).toBe(true);
    // Cuts at each member's end, and random ones.
    const fixed = [[], [mb], [mb, mb + 1], [1], [gz.length - 1]];
    for (const at of fixed) {
      const pieces = cut(gz, at);
      const c0 = new InflateCounter(1 << 30);
      for (const p of pieces) c0.push(p);
      expect(c0.end()).toBe(want.length);
      expect(passOf(pieces, want.length).equals(want)).toBe(true);
    }
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), (at) => {
        const pieces = cut(gz, at);
        const c1 = new InflateCounter(1 << 30);
        for (const p of pieces) c1.push(p);
        return c1.end() === want.length && passOf(pieces, want.length).equals(want);
      }),
      { numRuns: 60 },
    );
  }
});

test('refusals: over the limit as it is counted, truncated, invalid; a pass that differs from the count fails', () => {
  const bomb = gzipSync(Buffer.alloc(8 << 20), { level: 9 });
  const counter = new InflateCounter(1 << 20);
  // Refused while pushing, long before the stream ends.
  expect(() => {
    for (const p of cut(bomb, [100, 200, 300])) counter.push(p);
  }).toThrow(/decompressed size exceeds the limit of 1048576 bytes/);
  expect(() => inflatedSize(bomb, 1 << 20)).toThrow(/exceeds the limit/);

  const gz = gzipSync(text(500, 4));
  const truncated = new InflateCounter(1 << 30);
  truncated.push(gz.subarray(0, gz.length - 10));
  expect(() => truncated.end()).toThrow(/truncated gzip stream/);
  // A deflate block of the reserved type 3 after the 10-byte header.
  const bad = Buffer.concat([gz.subarray(0, 10), Buffer.from([0x07]), Buffer.alloc(200, 0xff)]);
  expect(() => inflatedSize(bad, 1 << 30)).toThrow(/invalid gzip data: invalid block type/);
  const invalid = new InflateCounter(1 << 30);
  expect(() => {
    for (const p of cut(bad, [5, 11])) invalid.push(p);
    invalid.end();
  }).toThrow(/invalid gzip data: invalid block type/);

  expect(() => passOf([gz], 12345)).toThrow(/inflated to \d+ bytes on this pass, 12345 when counted/);
});

test('a source pass yields the output a piece at a time, never the whole output at once', () => {
  const raw = Buffer.alloc(64 << 20, 'a');
  const gz = gzipSync(raw, { level: 9 });
  let largest = 0;
  let total = 0;
  for (const s of gunzipSource(() => [gz], raw.length).slices()) {
    largest = Math.max(largest, s.length);
    total += s.length;
  }
  expect(total).toBe(raw.length);
  // pako's output chunks (256 KiB): a 16 KiB push of zeros-like input makes ~16 MiB at most.
  expect(largest).toBeLessThanOrEqual(256 * 1024);
});
