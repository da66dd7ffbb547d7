// gctrace logs and runtime/metrics decode in two passes, their rows handed over a chunk at a time
// (#13, memory bounded by design): the chunks, concatenated, must be exactly the rows the
// whole-input parsers give, whatever the chunk size, for logs with restarts (timed from absolute
// timestamps, from the caller's start, and estimated), and for runtime/metrics inputs over the
// size where documents and "metrics" objects are scanned instead of parsed whole.
import { parseGctrace, streamGctrace } from '../lib/decode/formats/gctrace';
import { parseRuntimeMetrics, streamRuntimeMetrics } from '../lib/decode/formats/runtime-metrics';
import fc from 'fast-check';
import type { ByteSource } from '../lib/decode';
import { recyclingSource, sliceSource } from './helpers/slice-source';

const source = sliceSource;

const T0 = Date.UTC(2026, 0, 1) * 1000;
/** The size above which runtime/metrics inputs are scanned, lowered so the inputs stay small (production: 8 MiB). */
const LARGE = 20_000;
const line = (gc: number, at: number) =>
  `gc ${gc} @${at.toFixed(3)}s 2%: 0.018+0.91+0.003 ms clock, 0.073+0.21/0.80/0.45+0.013 ms cpu, 40->41->20 MB, 42 MB goal, 0 MB stacks, 0 MB globals, 8 P`;

function log(): string {
  const out: string[] = [];
  // Process 1: no timestamps (times from the caller's start); process 2: timestamped lines (its
  // start from the earliest); process 3: no timestamps again (estimated from the previous end).
  for (let i = 1; i <= 3000; i++) out.push(line(i, i * 0.5));
  out.push('some app output', 'gc 7 @1.0s garbled');
  for (let i = 1; i <= 2500; i++) out.push(`2026-01-01T03:00:${String(i % 60).padStart(2, '0')}.000Z ${line(i, i * 0.01)}`);
  for (let i = 1; i <= 2000; i++) out.push(line(i, i * 0.2));
  return out.join('\n') + '\n';
}

const concat = <R>(chunks: Iterable<R[]>): R[] => {
  const all: R[] = [];
  for (const c of chunks) all.push(...c);
  return all;
};

test('gctrace: the chunks are the whole parser rows, at any chunk size; the summary is known up front', () => {
  const text = log();
  const whole = parseGctrace(text, { startUs: T0 });
  const bytes = Buffer.from(text);
  for (const size of [1, 777, 100_000]) {
    const s = streamGctrace(bytes, T0, size);
    expect(s.parsed).toMatchObject({ cycles: 7500, segments: 3, malformed: whole.malformed, linesRead: whole.linesRead, estimatedSegments: 1 });
    expect(s.cycles.count).toBe(7500);
    const rows = concat(s.cycles.chunks());
    expect(rows).toEqual(whole.cycles);
    expect(s.cycles.firstUs).toBe(Math.min(...rows.map((r) => r.timeUs)));
    expect(s.cycles.lastUs).toBe(Math.max(...rows.map((r) => r.timeUs)));
    // Re-iterable: a second read gives the same rows.
    expect(concat(s.cycles.chunks())).toHaveLength(7500);
  }
});

test('runtime/metrics over the scan size: documents, a huge "metrics" object, arrays and JSON lines equal JSON.parse', () => {
  const metrics = (n: number, p: string) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`/bench/${p}${i}:bytes`, i]));
  const hist = { '/gc/pauses:seconds': { buckets: ['-Inf', 0, 1e-6, '+Inf'], counts: [0, 3, 1] } };
  // One document of ~10 MB (scanned member by member), then an array of two, then JSON lines.
  const big = JSON.stringify({ metrics: { ...hist, ...metrics(3000, 'm') }, time: '2026-01-01T00:00:00Z' });
  const small = { time: '2026-01-01T00:00:10Z', metrics: { ...hist, '/a:bytes': 1 } };
  for (const text of [big, `[${big}, ${JSON.stringify(small)}]`, `${big}\n\n${JSON.stringify(small)}\n`]) {
    expect(text.length).toBeGreaterThan(LARGE);
    const want = parseRuntimeMetrics(text);
    const s = streamRuntimeMetrics(Buffer.from(text), 500, LARGE);
    expect(s.count).toBe(want.length);
    const got = concat(s.chunks());
    expect(got).toEqual(want);
    // From a source read in slices (a large file, a spooled object), never held whole: the same
    // rows. "metrics" comes before "time" in the big document, so the scanner goes back to it
    // after reading the time: the source is read again from its start (an extra pass).
    for (const slice of [13, 4096, 1 << 20]) {
      const src = source(Buffer.from(text), slice);
      const fromSource = streamRuntimeMetrics(src, 500, LARGE);
      expect(fromSource.count).toBe(want.length);
      expect(concat(fromSource.chunks())).toEqual(want);
      if (slice < LARGE) expect(src.passes).toBeGreaterThan(2);
      // Slices handed back are read into again (and poisoned first): the same rows, from a few
      // buffers (the scanner holds up to LARGE bytes behind it), not one per slice read.
      const re = recyclingSource(Buffer.from(text), slice);
      expect(concat(streamRuntimeMetrics(re, 500, LARGE).chunks())).toEqual(want);
      if (slice < LARGE / 10) expect(re.allocated).toBeLessThan(re.read / 4);
    }
  }
});

test('runtime/metrics over the scan size: a name given twice in a scanned "metrics" object is a row each; escaped names decode', () => {
  const pad = Array.from({ length: 3000 }, (_, i) => `"/bench/m${i}:bytes":${i}`).join(',');
  const text = `{"time":"2026-01-01T00:00:00Z","metrics":{"/a:bytes":1,${pad},"/a:bytes":2,"/b\\u00e9:bytes":3,"/c\\"q:seconds":{"buckets":[null,1,null],"counts":[1,2]}}}`;
  expect(text.length).toBeGreaterThan(LARGE);
  const rows = concat(streamRuntimeMetrics(Buffer.from(text), 500, LARGE).chunks());
  expect(rows).toHaveLength(3004);
  expect(rows.filter((r) => r.name === '/a:bytes').map((r) => r.value)).toEqual([1, 2]);
  expect(rows.find((r) => r.name === '/b\u00e9:bytes')).toMatchObject({ unit: 'bytes', value: 3 });
  expect(rows.find((r) => r.name === '/c"q:seconds')).toMatchObject({ kind: 'histogram', buckets: [-Infinity, 1, Infinity], counts: [1, 2] });
});

test('runtime/metrics over the scan size: errors still name what is wrong, before any row', () => {
  const pad = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`/bench/m${i}:bytes`, i]));
  const doc = (m: object, time: unknown = '2026-01-01T00:00:00Z') => JSON.stringify({ time, metrics: m });
  const bytesRun = (text: string) => () => streamRuntimeMetrics(Buffer.from(text), 500, LARGE);
  // The same refusals from a source (checked against the bytes path's message).
  const run = (text: string) => () => {
    let want = '';
    try {
      bytesRun(text)();
    } catch (e) {
      want = (e as Error).message;
    }
    try {
      streamRuntimeMetrics(source(Buffer.from(text), 1000), 500, LARGE);
    } catch (e) {
      expect((e as Error).message).toBe(want);
      throw e;
    }
  };
  expect(run(doc({ ...pad, 'no name': 1 }))).toThrow(/"no name" is not a runtime\/metrics name/);
  expect(run(doc(pad, '2026-01-01T00:00:00'))).toThrow(/not an RFC 3339 timestamp with a zone/);
  expect(run(JSON.stringify({ time: '2026-01-01T00:00:00Z', other: pad }))).toThrow(/missing "metrics"/);
  expect(run(doc(pad).slice(0, -2))).toThrow(/not JSON/);
  expect(run(doc(pad) + ' x')).toThrow(/not JSON/);
});

test('runtime/metrics from a source = from the bytes, for mutated inputs over the scan size (the same rows or the same refusal)', () => {
  const pad = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`/bench/m${i}:bytes`, i]));
  const base = Buffer.from(`[${JSON.stringify({ metrics: pad, time: '2026-01-01T00:00:00Z' })},${JSON.stringify({ time: '2026-01-01T00:00:10Z', metrics: { '/a:bytes': 1 } })}]`);
  expect(base.length).toBeGreaterThan(LARGE);
  const outcome = (input: Uint8Array | ByteSource) => {
    try {
      const s = streamRuntimeMetrics(input, 500, LARGE);
      return { rows: concat(s.chunks()) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  };
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.constantFrom(0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x5c, 0x20, 0x31, 0x61)), { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 7, max: 5000 }), (flips, cut, slice) => {
      const m = Buffer.from(base);
      for (const [at, byte] of flips) m[at % m.length] = byte;
      const input = cut % 3 === 0 ? m.subarray(0, m.length - (cut % 50)) : m;
      expect(outcome(source(input, slice))).toEqual(outcome(input));
      expect(outcome(recyclingSource(input, slice))).toEqual(outcome(input));
    }),
    { numRuns: 40, seed: 20261203 },
  );
});

test('runtime/metrics of at most one chunk of rows is read once (its first pass kept); more is read again, a chunk at a time', () => {
  const doc = (n: number, t: string) => JSON.stringify({ time: t, metrics: Object.fromEntries(Array.from({ length: n }, (_, i) => [`/bench/m${i}:bytes`, i])) });
  for (const [rows, passes] of [
    [500, 1],
    [501, 2],
  ] as const) {
    const text = `${doc(rows - 100, '2026-01-01T00:00:00Z')}\n${doc(100, '2026-01-01T00:00:10Z')}\n`;
    const src = source(Buffer.from(text), 4096);
    const s = streamRuntimeMetrics(src, 500, LARGE);
    const want = parseRuntimeMetrics(text);
    expect(s.count).toBe(rows);
    expect(concat(s.chunks())).toEqual(want);
    expect(concat(s.chunks())).toEqual(want); // read again: the same rows
    // The first pass, then (over one chunk) one more per chunks() call.
    expect(src.passes).toBe(passes === 1 ? 1 : 3);
  }
});
