import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeInput, decodeProfile, type DecodeOptions } from '../lib/decode';
import { DecodeError } from '../lib/decode/errors';
import type { Profile } from '../lib/model/profile';
import { functionStats } from '../lib/normalize/functions';
import { profileRows } from '../lib/normalize/profile-rows';
import { parseSourceMeta } from '../lib/model/source';
import { fuzz, fuzzBudget } from './helpers/fuzz-budget';

// Mutation fuzzing of real Go profiles: whatever the bytes, decodeProfile either returns a
// profile that holds together (and functionStats can run on it) or throws a DecodeError. Any other
// exception, or a slow decode, fails.
//
// Bounded by time (test/helpers/fuzz-budget.ts): each property runs FLOOR times, then on until
// its budget is spent, and prints how many runs it did. Reproducible from the printed seed;
// FUZZ_SEED, FUZZ_MS (budget per property) and FUZZ_FLOOR override the defaults, e.g.
//   FUZZ_MS=300000 FUZZ_SEED=$RANDOM npx jest test/fuzz.test.ts
// fast-check prints the seed and path of a failure to replay it.

/**
 * 4 s a property (9 properties: ~40 s of CI) and at least 300 runs (~1-2 s each property on an
 * idle runner, so a busy one still stays within the test timeout).
 */
const BUDGET = fuzzBudget({ seed: 20261121, budgetMs: 4000, floor: 300 });
/**
 * A single decode costing more CPU than this is a bug (the inputs are at most ~20 kB raw; a
 * quadratic path is what it catches). CPU time of the process, not wall time: at a load average
 * of ~100 a 10 ms decode waited seconds for a core and failed a wall-clock bound.
 */
const SLOW_CPU_MS = 2000;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const OPTS: DecodeOptions = { maxDecompressedBytes: 16 * 1024 * 1024 };

const DIR = path.resolve(__dirname, 'fixtures/go/svc-a-v1-i1');
const GZ = readdirSync(DIR)
  .filter((f) => f.endsWith('.pb.gz'))
  .sort()
  .map((f) => readFileSync(path.join(DIR, f)));
const RAW = GZ.map((b) => gunzipSync(b));
const TEXT = readdirSync(DIR)
  .filter((f) => f.endsWith('.debug1.txt'))
  .sort()
  .map((f) => readFileSync(path.join(DIR, f)))
  // Large heap/allocs texts: their first ~32 kB (whole lines) keep each run fast.
  .map((b) => (b.length < 64 * 1024 ? b : b.subarray(0, b.lastIndexOf(10, 32 * 1024) + 1)));

// ---------------------------------------------------------------------------------------------
// Mutations. Positions are drawn as naturals and reduced modulo the current length, so one
// arbitrary fits inputs of any size.

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'overwrite'; at: number; bytes: Uint8Array }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; n: number }
  | { op: 'duplicate'; at: number; n: number };

const pos = fc.nat({ max: 1 << 20 });
const someBytes = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 12 }),
  // Bytes that matter to protobuf: continuation bits, wire types, lengths, 0.
  fc.constantFrom(...[[0x00], [0x80], [0xff], [0x7f], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0x0f], [0x4a, 0x00], [0x12, 0x7f]].map((b) => Uint8Array.from(b))),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: pos, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('overwrite' as const), at: pos, bytes: someBytes }),
  fc.record({ op: fc.constant('truncate' as const), at: pos }),
  fc.record({ op: fc.constant('insert' as const), at: pos, bytes: someBytes }),
  fc.record({ op: fc.constant('delete' as const), at: pos, n: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: pos, n: fc.integer({ min: 1, max: 256 }) }),
);
const mutations = fc.array(mutation, { minLength: 1, maxLength: 6 });

function apply(input: Uint8Array, ms: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.op) {
      case 'flip':
        if (at < b.length) b[at] ^= 1 << m.bit;
        break;
      case 'overwrite':
        for (let i = 0; i < m.bytes.length && at + i < b.length; i++) b[at + i] = m.bytes[i];
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + m.n), b.subarray(at)]);
        break;
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// The property.

/** Structural checks: every index in the profile points at something that exists. */
function checkProfile(p: Profile): void {
  const fail = (why: string): never => {
    throw new Error(`decoded profile is inconsistent: ${why}`);
  };
  const { count, stackStart, stack, values, labelSet, labelSets } = p.samples;
  const nTypes = p.sampleTypes.length;
  if (stackStart.length !== count + 1) fail('stackStart length');
  for (let i = 0; i < count; i++) if (stackStart[i] > stackStart[i + 1]) fail('stackStart not monotone');
  if (stackStart[count] !== stack.length) fail('stack length');
  for (const l of stack) if (l >= p.locations.length) fail(`location index ${l}`);
  if (values.data.length !== count * nTypes) fail('value count');
  if (labelSet.length !== count) fail('labelSet length');
  for (const s of labelSet) if (s >= labelSets.length) fail(`label set ${s}`);
  for (const loc of p.locations) {
    if (loc.mapping < -1 || loc.mapping >= p.mappings.length) fail(`mapping index ${loc.mapping}`);
    for (const ln of loc.lines) if (ln.fn < 0 || ln.fn >= p.functions.length) fail(`function index ${ln.fn}`);
  }
  if (nTypes > 0 && !p.sampleTypes.some((t) => t.type === p.defaultSampleType)) fail(`default sample type ${p.defaultSampleType}`);
  for (const s of [p.dropFrames, p.keepFrames, p.docUrl, ...p.comments]) if (typeof s !== 'string') fail('string field');
}

let decoded = 0;
let refused = 0;

/** Runs one input: true when the property holds (throws, with the reason, otherwise). */
function survives(bytes: Uint8Array): boolean {
  const t0 = cpuMs();
  let p: Profile | undefined;
  try {
    p = decodeProfile(bytes, OPTS);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw new Error(`${(e as Error)?.constructor?.name} escaped decodeProfile: ${(e as Error)?.stack}`, { cause: e });
    if (e.message.length === 0) throw new Error('DecodeError without a message', { cause: e });
    refused++;
  }
  if (p) {
    checkProfile(p);
    functionStats(p);
    decoded++;
  }
  const ms = cpuMs() - t0;
  if (ms > SLOW_CPU_MS) throw new Error(`decode took ${ms.toFixed(0)} ms of CPU`);
  return true;
}

const params = { endOnFailure: false };
/** Inputs are drawn by index, so a counterexample prints as a small number, not a whole file. */
const pick = (list: readonly Buffer[]) => fc.nat({ max: list.length - 1 });

describe(`decodeProfile under mutation (seed ${BUDGET.seed}, ${BUDGET.budgetMs} ms and at least ${BUDGET.floor} runs per property)`, () => {
  afterAll(() => {
    if (process.env.FUZZ_VERBOSE) process.stderr.write(`fuzz: ${decoded} decoded, ${refused} refused\n`);
  });

  test('the unmutated fixtures decode', () => {
    for (const b of [...GZ, ...RAW, ...TEXT]) expect(() => survives(b)).not.toThrow();
    expect(RAW.length).toBeGreaterThanOrEqual(5);
  });

  test('raw protobuf (after gunzip)', async () => {
    await fuzz('raw protobuf (after gunzip)', fc.property(pick(RAW), mutations, (i, ms) => survives(apply(RAW[i], ms))), BUDGET, params);
  });

  test('raw protobuf mutated, then gzipped again', async () => {
    await fuzz('raw protobuf mutated, then gzipped again', fc.property(pick(RAW), mutations, (i, ms) => survives(gzipSync(apply(RAW[i], ms), { level: 1 }))), BUDGET, params);
  });

  test('gzipped bytes', async () => {
    await fuzz('gzipped bytes', 
      fc.property(pick(GZ), mutations, fc.boolean(), (i, ms, pako) => {
        const bytes = apply(GZ[i], ms);
        survives(bytes);
        if (pako) {
          try {
            decodeProfile(bytes, { ...OPTS, inflate: 'pako' });
          } catch (e) {
            if (!(e instanceof DecodeError)) throw e;
          }
        }
        return true;
      }),
      BUDGET,
      params,
    );
  });

  test('splices of two profiles', async () => {
    await fuzz('splices of two profiles', 
      fc.property(pick(RAW), pick(RAW), pos, pos, fc.boolean(), (ia, ib, i, j, gz) => {
        const [a, b] = [RAW[ia], RAW[ib]];
        const spliced = Buffer.concat([a.subarray(0, i % (a.length + 1)), b.subarray(j % (b.length + 1))]);
        return survives(gz ? gzipSync(spliced, { level: 1 }) : spliced);
      }),
      BUDGET,
      params,
    );
  });

  test('debug=1 text profiles', async () => {
    await fuzz('debug=1 text profiles', fc.property(pick(TEXT), mutations, (i, ms) => survives(apply(TEXT[i], ms))), BUDGET, params);
  });

  test('small random protobuf-ish inputs', async () => {
    // Short inputs built from protobuf-significant bytes reach corners real profiles never do.
    const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x01, 0x08, 0x0a, 0x10, 0x12, 0x1a, 0x22, 0x2a, 0x32, 0x48, 0x80, 0xff));
    await fuzz('small random protobuf-ish inputs', fc.property(fc.array(byte, { maxLength: 64 }), (bs) => survives(Uint8Array.from(bs))), BUDGET, params);
  });
});

// ---------------------------------------------------------------------------------------------
// Every decoder through the one dispatcher (gctrace logs and runtime/metrics JSON too), and the
// profile path on to its rows (limits and time checks included): whatever the bytes, a result or
// a DecodeError, never another exception (a RangeError from deep nesting, a TypeError, ...).

const GCTRACE = readFileSync(path.join(DIR, 'gctrace.log')).subarray(0, 16 * 1024);
const METRICS = Buffer.from(
  JSON.stringify({
    time: '2026-11-21T20:54:20.123456789Z',
    metrics: {
      '/gc/heap/goal:bytes': 4194304,
      '/sched/gomaxprocs:threads': 8,
      '/gc/pauses:seconds': { buckets: ['-Inf', 0, 1e-6, 1e-3, '+Inf'], counts: [0, 5, 1, 0] },
      '/cpu/classes/gc/total:cpu-seconds': 0.25,
    },
  }) + '\n',
);
const TEXT_INPUTS = [GCTRACE, METRICS, Buffer.concat([METRICS, METRICS])];
const META = parseSourceMeta({ service: 'fuzz', instance: 'i1', startUs: Date.UTC(2026, 10, 21) * 1000, source: 'fuzz', sourceId: 'fuzz' });

let inputsDecoded = 0;
function survivesAny(bytes: Uint8Array): boolean {
  const t0 = cpuMs();
  try {
    const d = decodeInput(bytes, { ...OPTS, startUs: META.startUs });
    if (d.input === 'profile') profileRows(d.profile, 'cpu', META, 'p');
    inputsDecoded++;
  } catch (e) {
    if (!(e instanceof DecodeError)) throw new Error(`${(e as Error)?.constructor?.name} escaped decodeInput: ${(e as Error)?.stack}`, { cause: e });
    if (e.message.length === 0) throw new Error('DecodeError without a message', { cause: e });
  }
  const ms = cpuMs() - t0;
  if (ms > SLOW_CPU_MS) throw new Error(`decode took ${ms.toFixed(0)} ms of CPU`);
  return true;
}

/** Structure-aware JSON: nesting, huge and odd numbers, odd times, where the metrics decoder looks. */
const jsonValue = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(0, -1, 1e300, -1e300, 2 ** 53, 2 ** 64, 0.5, null, '-Inf', '+Inf', 'NaN', ''),
    fc.string({ maxLength: 8 }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('v'), { maxKeys: 3 }),
  ),
})).v;
const time = fc.constantFrom('2026-11-21T20:54:20Z', '9999-12-31T23:59:59Z', '0000-01-01T00:00:00Z', '2026-11-21T20:54:20+99:99', '2026-02-30T00:00:00Z', '1999-12-31T23:59:59Z', 'now', '');

describe(`every decoder through decodeInput, on to rows (seed ${BUDGET.seed})`, () => {
  afterAll(() => {
    if (process.env.FUZZ_VERBOSE) process.stderr.write(`fuzz decodeInput: ${inputsDecoded} decoded\n`);
  });

  test('the unmutated text inputs decode', () => {
    for (const b of TEXT_INPUTS) expect(decodeInput(b, { startUs: META.startUs }).input).not.toBe('profile');
  });

  test('gctrace and runtime/metrics text, mutated (raw and gzipped)', async () => {
    await fuzz('gctrace and runtime/metrics text, mutated (raw and gzipped)', 
      fc.property(pick(TEXT_INPUTS), mutations, fc.boolean(), (i, ms, gz) => {
        const b = apply(TEXT_INPUTS[i], ms);
        return survivesAny(gz ? gzipSync(b, { level: 1 }) : b);
      }),
      BUDGET,
      params,
    );
  });

  test('runtime/metrics documents with arbitrary values and times', async () => {
    await fuzz('runtime/metrics documents with arbitrary values and times', 
      fc.property(time, fc.dictionary(fc.constantFrom('/gc/heap/goal:bytes', '/gc/pauses:seconds', '/x:bytes', 'bad'), jsonValue, { maxKeys: 3 }), (t, metrics) =>
        survivesAny(Buffer.from(JSON.stringify({ time: t, metrics }))),
      ),
      BUDGET,
      params,
    );
  });

  test('profiles through normalize: mutated protobuf on to rows', async () => {
    await fuzz('profiles through normalize: mutated protobuf on to rows', fc.property(pick(RAW), mutations, (i, ms) => survivesAny(apply(RAW[i], ms))), BUDGET, params);
  });
});
