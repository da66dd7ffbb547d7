// Every limit of one profile (lib/model/limits.ts, docs/security.md "Input limits") refuses just
// over it with code `limit` (or `out-of-range`) and a reason naming the limit, and accepts at it:
// frames per stack, samples, distinct label sets, name length, capture time, duration. Refusal
// happens in prepareBytes (decode + normalize), before anything is written, so the Lambda
// quarantines and the CLI reports (test/poison.test.ts carries one of each through the handler).
import { gzipSync } from 'node:zlib';
import { Writer } from 'protobufjs/minimal';
import { isDecodeError } from '../lib/decode/errors';
import { prepareBytes } from '../lib/ingest';
import { LIMITS } from '../lib/model/limits';
import { parseSourceMeta } from '../lib/model/source';
import { encodeProfile, type PProfile } from './helpers/pprof-builder';

const NOW_NS = BigInt(Date.now() - 3600e3) * 1_000_000n;
const meta = parseSourceMeta({ service: 'svc', instance: 'i', version: 'v1', startUs: Number(NOW_NS / 1000n), source: 'x', sourceId: 'test:x' });

/** A cpu profile: `frames` functions in one stack, or the samples given, names as given. */
function profile(o: { frames?: number; names?: string[]; timeNanos?: bigint; durationNanos?: bigint }): Uint8Array {
  const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds', 'k'];
  const names = o.names ?? Array.from({ length: o.frames ?? 1 }, (_, i) => `main.f${i}`);
  const fns = names.map((n, i) => ({ id: i + 1, name: strings.push(n) - 1 }));
  const p: PProfile = {
    sampleTypes: [{ type: 1, unit: 2 }, { type: 3, unit: 4 }],
    samples: [{ locationIds: fns.map((f) => f.id), values: [1, 10] }],
    locations: fns.map((f) => ({ id: f.id, lines: [{ functionId: f.id, line: 1 }] })),
    functions: fns.map((f) => ({ id: f.id, name: f.name })),
    stringTable: strings,
    timeNanos: o.timeNanos ?? NOW_NS,
    durationNanos: o.durationNanos ?? 1_000_000_000n,
  };
  return gzipSync(encodeProfile(p));
}

function refusal(bytes: Uint8Array): { code: string; message: string } | undefined {
  try {
    prepareBytes(bytes, meta);
    return undefined;
  } catch (e) {
    if (!isDecodeError(e)) throw e;
    return { code: e.code, message: e.message };
  }
}


test('frames per stack: 16,384 accepted, 16,385 refused', () => {
  expect(refusal(profile({ frames: LIMITS.maxFramesPerStack }))).toBeUndefined();
  expect(refusal(profile({ frames: LIMITS.maxFramesPerStack + 1 }))).toEqual({ code: 'limit', message: expect.stringMatching(/frames in the stack of sample 1: 16,385 is over the limit of 16,384/) });
});

test('distinct label sets: 100,000 accepted, 100,001 refused', () => {
  expect(refusal(manySamples(LIMITS.maxLabelSets, true))).toBeUndefined();
  expect(refusal(manySamples(LIMITS.maxLabelSets + 1, true))).toEqual({ code: 'limit', message: expect.stringMatching(/label sets.*100,001 is over the limit of 100,000/) });
});

/**
 * A cpu profile of `n` one-frame samples, each with its own label set when `ownLabels`, written
 * directly (the test builder spreads arrays, and takes ~20 s for 100k labelled samples).
 */
function manySamples(n: number, ownLabels = false): Uint8Array {
  const w = Writer.create();
  const sub = (field: number, f: (m: Writer) => void) => {
    w.uint32((field << 3) | 2).fork();
    f(w);
    w.ldelim();
  };
  sub(1, (m) => m.uint32(8).int64(1).uint32(16).int64(2));
  sub(1, (m) => m.uint32(8).int64(3).uint32(16).int64(4));
  for (let i = 0; i < n; i++) {
    sub(2, (m) => {
      m.uint32(10).fork().uint64(1).ldelim().uint32(18).fork().int64(1).int64(10).ldelim();
      if (ownLabels) m.uint32(26).fork().uint32(8).int64(6).uint32(24).int64(i + 1).ldelim(); // label {key: "k", num: i + 1}
    });
  }
  sub(4, (m) => m.uint32(8).uint64(1).uint32(34).fork().uint32(8).uint64(1).uint32(16).int64(1).ldelim());
  sub(5, (m) => m.uint32(8).uint64(1).uint32(16).int64(5));
  for (const s of ['', 'samples', 'count', 'cpu', 'nanoseconds', 'main.main', 'k']) w.uint32((6 << 3) | 2).string(s);
  w.uint32(9 << 3).int64(Number(NOW_NS));
  return gzipSync(w.finish());
}

test('samples: 1,000,001 refused (counted before they are built)', () => {
  expect(refusal(manySamples(1000))).toBeUndefined();
  expect(refusal(manySamples(LIMITS.maxSamples + 1))).toEqual({ code: 'limit', message: expect.stringMatching(/samples in the profile: 1,000,001 is over the limit of 1,000,000/) });
});

test('name length: 65,536 characters accepted, 65,537 refused', () => {
  expect(refusal(profile({ names: ['x'.repeat(LIMITS.maxNameLength)] }))).toBeUndefined();
  expect(refusal(profile({ names: ['x'.repeat(LIMITS.maxNameLength + 1)] }))).toEqual({ code: 'limit', message: expect.stringMatching(/65,537 is over the limit of 65,536/) });
});

test('capture time and duration: outside 2000-01-01 .. now + 1 day refused, negative duration refused', () => {
  expect(refusal(profile({ timeNanos: BigInt(Date.parse('1999-12-31T23:59:59Z')) * 1_000_000n }))).toEqual({ code: 'out-of-range', message: expect.stringMatching(/outside the accepted range 2000-01-01T00:00:00Z/) });
  expect(refusal(profile({ timeNanos: BigInt(Date.now() + 2 * 86400e3) * 1_000_000n }))).toEqual({ code: 'out-of-range', message: expect.stringMatching(/outside the accepted range/) });
  expect(refusal(profile({ timeNanos: BigInt(Date.now() + 3600e3) * 1_000_000n }))).toBeUndefined();
  expect(refusal(profile({ durationNanos: -1n }))).toEqual({ code: 'out-of-range', message: expect.stringMatching(/duration_nanos -1 is negative/) });
});
