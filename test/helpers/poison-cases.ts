import { gzipSync } from 'node:zlib';
import { encodeProfile } from './pprof-builder';

// The hostile objects of #13 that are poison (test/poison.test.ts through the ingest handler,
// test/local-stack.test.ts through `fleetprof local`): each must be quarantined with a reason in
// words and its code, never retried.

const metrics = (time: string, m: Record<string, unknown>) => Buffer.from(JSON.stringify({ time, metrics: m }));
const deepJson = (depth: number) =>
  Buffer.from(`{"time":"2026-11-21T20:54:20Z","metrics":{"/gc/heap/goal:bytes":${'['.repeat(depth)}${']'.repeat(depth)}}}`);

/** A profile with a stack `frames` deep (one function per frame), as the Go runtime encodes it. */
function deepStackProfile(frames: number, timeNanos: bigint = 1_795_000_000_000_000_000n, values: bigint[][] = [[1n, 10_000_000n]]): Uint8Array {
  const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds'];
  const fns = Array.from({ length: frames }, (_, i) => ({ id: i + 1, name: strings.push(`main.f${i}`) - 1 }));
  return gzipSync(
    encodeProfile({
      sampleTypes: [{ type: 1, unit: 2 }, { type: 3, unit: 4 }],
      samples: values.map((v) => ({ locationIds: fns.map((f) => f.id), values: v })),
      locations: fns.map((f) => ({ id: f.id, lines: [{ functionId: f.id, line: 1 }] })),
      functions: fns.map((f) => ({ id: f.id, name: f.name })),
      stringTable: strings,
      timeNanos,
    }),
  );
}

export interface PoisonCase {
  name: string;
  key: string;
  body: Uint8Array;
  /** What the reason must say (the why, in words). */
  reason: RegExp;
  /** The reason's code (docs/security.md). */
  code: RegExp;
}

export const POISON_CASES: PoisonCase[] = [
  { name: 'deep JSON (200k nested arrays)', key: 'raw/svc-a/i2/20261121T205420.000Z_metrics_deep.json', body: deepJson(200_000), reason: /value must be a number|nests too deeply/, code: /malformed|too-deep/ },
  {
    name: 'a histogram count of 1e300',
    key: 'raw/svc-a/i2/20261121T205420.000Z_metrics_huge.json',
    body: metrics('2026-11-21T20:54:20Z', { '/gc/heap/allocs-by-size:bytes': { buckets: [0, 8, 16], counts: [1e300, 1] } }),
    reason: /count 0|cannot be stored/,
    code: /malformed|out-of-range|too-large/,
  },
  { name: 'a metrics time in year 9999', key: 'raw/svc-a/i2/20261121T205420.000Z_metrics_y9999.json', body: metrics('9999-12-31T23:59:59Z', { '/gc/cycles/total:gc-cycles': 3 }), reason: /9999.*outside the accepted range/, code: /out-of-range/ },
  { name: 'a metrics time in year 0000', key: 'raw/svc-a/i2/20261121T205420.000Z_metrics_y0000.json', body: metrics('0000-01-01T00:00:00Z', { '/gc/cycles/total:gc-cycles': 3 }), reason: /0000.*outside the accepted range/, code: /out-of-range/ },
  { name: 'a +99:99 offset', key: 'raw/svc-a/i2/20261121T205420.000Z_metrics_tz.json', body: metrics('2026-11-21T20:54:20+99:99', { '/gc/cycles/total:gc-cycles': 3 }), reason: /\+99:99/, code: /malformed|out-of-range/ },
  { name: 'an int64-extreme time_nanos', key: 'raw/svc-a/i3/20261121T205420.000Z_cpu.pb.gz', body: deepStackProfile(3, (1n << 63n) - 1n), reason: /time_nanos.*outside the accepted range/, code: /out-of-range/ },
  // Not a DecodeError: a RangeError deep in normalize. Poison because it happened while only the bytes were involved.
  { name: 'values whose sum overflows int64', key: 'raw/svc-a/i5/20261121T205420.000Z_cpu.pb.gz', body: deepStackProfile(2, undefined, [[1n, 1n << 62n], [1n, 1n << 62n]]), reason: /too large to process.*BIGINT/, code: /too-large/ },
  { name: 'a 100k-frame stack', key: 'raw/svc-a/i4/20261121T205420.000Z_cpu.pb.gz', body: deepStackProfile(100_000), reason: /frames.*limit/, code: /limit/ },
];
