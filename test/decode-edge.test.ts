import * as PF from 'pprof-format';
import { decodeProfile } from '../lib/decode';
import { DecodeError, type DecodeErrorCode } from '../lib/decode/errors';
import type { Int64, Profile } from '../lib/model/profile';
import { functionStats, totalAbs, type SampleTypeStats } from '../lib/normalize/functions';
import {
  bytesField,
  concat,
  encodeProfile,
  sampleProfile,
  SCHEMA_ORDER,
  StringTable,
  tag,
  varint,
  varintField,
  type PProfile,
} from './helpers/pprof-builder';

// Decoder edge cases of the reference decoder (google/pprof `profile/proto.go`, `encode.go`,
// `profile.go`: packed and unpacked repeated fields, string_table[0] = "", id and index checks,
// label rules, concatenated profiles), on hand-built protobufs.

const decode = (p: PProfile, opts?: Parameters<typeof encodeProfile>[1]): Profile => decodeProfile(encodeProfile(p, opts));

function decodeError(bytes: Uint8Array): DecodeError {
  try {
    decodeProfile(bytes);
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw new Error(`expected a DecodeError, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
  }
  throw new Error('expected a DecodeError, but the input decoded');
}

function expectDecodeError(bytes: Uint8Array, code: DecodeErrorCode, message: RegExp): DecodeError {
  const e = decodeError(bytes);
  expect({ code: e.code, message: e.message }).toEqual({ code, message: expect.stringMatching(message) });
  return e;
}

/** flat/cum per function name for one sample type. */
function byName(stats: SampleTypeStats): Record<string, { flat: Int64; cum: Int64 }> {
  const out: Record<string, { flat: Int64; cum: Int64 }> = {};
  for (const f of stats.functions) out[f.name] = { flat: f.flat, cum: f.cum };
  return out;
}

function statsFor(p: Profile, type: string): SampleTypeStats {
  const s = functionStats(p).find((x) => x.sampleType === type);
  if (!s) throw new Error(`no sample type ${type}`);
  return s;
}

/** Stack of sample i as function names, leaf (innermost inlined) first. */
function stackNames(p: Profile, i: number): string[] {
  const out: string[] = [];
  for (let j = p.samples.stackStart[i]; j < p.samples.stackStart[i + 1]; j++) {
    for (const ln of p.locations[p.samples.stack[j]].lines) out.push(p.functions[ln.fn].name);
  }
  return out;
}

/** A richer profile than sampleProfile(): many samples, labels, several comments, big values. */
function richProfile(): PProfile {
  const base = sampleProfile();
  const s = new StringTable();
  for (const str of base.stringTable!.slice(1)) s.id(str);
  return {
    ...base,
    samples: [
      ...base.samples!,
      { locationIds: [1, 2, 1], values: [5, 2n ** 60n], labels: [{ key: s.id('bytes'), num: 4096, numUnit: s.id('bytes') }] },
      { locationIds: [2], values: [-7, -3], labels: [{ key: s.id('handler'), str: s.id('/api') }, { key: s.id('n'), num: -1 }] },
    ],
    comments: [s.id('one'), s.id('two'), s.id('three')],
    defaultSampleType: s.id('cpu'),
    docUrl: s.id('https://example.com/doc'),
    dropFrames: s.id('runtime\\..*'),
    keepFrames: s.id('runtime\\.main'),
    stringTable: s.strings,
  };
}

describe('the builder', () => {
  test('writes protobuf that an independent decoder (pprof-format) reads back', () => {
    const p = richProfile();
    const bytes = encodeProfile(p, { shuffleSeed: 7, packed: false });
    const q = PF.Profile.decode(bytes);
    expect(q.stringTable.strings).toEqual(p.stringTable);
    expect(q.sample.map((x) => x.locationId.map(Number))).toEqual(p.samples!.map((x) => x.locationIds!.map(Number)));
    // pprof-format reads int64 as unsigned: compare two's complement.
    expect(q.sample.map((x) => x.value.map((v) => BigInt.asIntN(64, BigInt(v))))).toEqual(p.samples!.map((x) => x.values!.map((v) => BigInt(v))));
    expect(BigInt(q.timeNanos)).toBe(1_700_000_000_000_000_000n);
    expect(q.location[1].line.map((l) => Number(l.functionId))).toEqual([3, 2]);
  });

  test('writes int64 as two-complement 10-byte varints and uint64 above 2^63', () => {
    expect([...varint(-1)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(varint(-(2n ** 63n)).length).toBe(10);
    expect(varint(2n ** 64n - 1n).length).toBe(10);
    expect([...varint(300)]).toEqual([0xac, 0x02]);
  });
});

describe('wire encoding', () => {
  test('packed and unpacked repeated fields give identical profiles', () => {
    const p = richProfile();
    const packed = encodeProfile(p, { packed: true });
    const unpacked = encodeProfile(p, { packed: false });
    expect(Buffer.from(packed).equals(Buffer.from(unpacked))).toBe(false);
    expect(decodeProfile(unpacked)).toEqual(decodeProfile(packed));
  });

  test('packed and unpacked records of one field concatenate (as Go mixes them)', () => {
    const p = sampleProfile();
    // Sample: location_id 2 unpacked, then [1] packed; values [4] packed, then 40 unpacked.
    const sample = concat(varintField(1, 2), bytesField(1, varint(1)), bytesField(2, varint(4)), varintField(2, 40));
    const bytes = concat(encodeProfile({ ...p, samples: [] }), bytesField(2, sample));
    const got = decodeProfile(bytes);
    const want = decode({ ...p, samples: [{ locationIds: [2, 1], values: [4, 40] }] });
    expect(got).toEqual(want);
  });

  test('strings and ids resolve the same whatever the field order', () => {
    const p = richProfile();
    const want = decode(p);
    const orders: (typeof SCHEMA_ORDER)[number][][] = [
      ['string_table'], // string table first
      [...SCHEMA_ORDER.filter((f) => f !== 'string_table'), 'string_table'], // last, as Go writes it
      ['sample', 'function', 'location', 'mapping', 'sample_type'], // definitions after their uses
      [...SCHEMA_ORDER].reverse(),
    ];
    for (const order of orders) expect(decode(p, { order })).toEqual(want);
    for (let seed = 1; seed <= 25; seed++) expect(decode(p, { shuffleSeed: seed, packed: seed % 2 === 0 })).toEqual(want);
  });

  test('unknown fields (any valid wire type) are skipped', () => {
    const p = sampleProfile();
    const unknown = concat(
      varintField(16, 123456789),
      tag(17, 1),
      new Uint8Array(8),
      bytesField(18, new Uint8Array([1, 2, 3])),
      tag(19, 5),
      new Uint8Array(4),
      varintField(1000, -1),
    );
    expect(decode({ ...p, trailer: unknown })).toEqual(decode(p));
  });

  test('every resolved field of a well-formed profile', () => {
    const got = decode(richProfile());
    expect(got.format).toBe('pprof');
    expect(got.sampleTypes).toEqual([
      { type: 'samples', unit: 'count' },
      { type: 'cpu', unit: 'nanoseconds' },
    ]);
    expect(got.periodType).toEqual({ type: 'cpu', unit: 'nanoseconds' });
    expect(got.period).toBe(10_000_000);
    expect(got.timeNanos).toBe(1_700_000_000_000_000_000n);
    expect(got.durationNanos).toBe(1_500_000_000);
    expect(got.comments).toEqual(['one', 'two', 'three']);
    expect(got.docUrl).toBe('https://example.com/doc');
    expect(got.dropFrames).toBe('runtime\\..*');
    expect(got.keepFrames).toBe('runtime\\.main');
    expect(got.mappings).toEqual([
      {
        id: 1,
        memoryStart: 0x400000,
        memoryLimit: 0x800000,
        fileOffset: 0,
        filename: '/bin/svc',
        buildId: 'abc123',
        hasFunctions: true,
        hasFilenames: false,
        hasLineNumbers: false,
        hasInlineFrames: false,
      },
    ]);
    expect(got.functions.map((f) => [f.id, f.name, f.systemName, f.filename, f.startLine])).toEqual([
      [1, 'main.main', 'main.main', 'main.go', 10],
      [2, 'main.work', 'main.work', 'main.go', 20],
      [3, 'main.leaf', 'main.leaf', 'main.go', 30],
    ]);
    expect(got.samples.count).toBe(5);
    expect(stackNames(got, 0)).toEqual(['main.leaf', 'main.work', 'main.main']);
    expect(stackNames(got, 3)).toEqual(['main.main', 'main.leaf', 'main.work', 'main.main']);
  });

  test('a profile with no samples and no sample types decodes', () => {
    const got = decode({ stringTable: [''] });
    expect(got.samples.count).toBe(0);
    expect(got.sampleTypes).toEqual([]);
    expect(got.defaultSampleType).toBe('');
    expect(functionStats(got)).toEqual([]);
  });
});

describe('inlined frames', () => {
  test('line[0] is the innermost frame; flat goes to line[0] of the leaf location', () => {
    const p = decode(sampleProfile());
    const loc = p.locations[1];
    expect(loc.lines.map((l) => p.functions[l.fn].name)).toEqual(['main.leaf', 'main.work']);
    expect(loc.lines.map((l) => l.line)).toEqual([33, 25]);
    const cpu = statsFor(p, 'cpu');
    // The sample with no locations (20ms) counts toward the total only.
    expect(cpu.total).toBe(60_000_000);
    expect(byName(cpu)).toEqual({
      'main.leaf': { flat: 30_000_000, cum: 30_000_000 },
      'main.work': { flat: 0, cum: 30_000_000 },
      'main.main': { flat: 10_000_000, cum: 40_000_000 },
    });
  });

  test('worked example of pprof driver_test.go cpuProfile', () => {
    const s = new StringTable();
    const names = [1000, 2000, 2001, 3000, 3001, 3002];
    const fid = (n: number) => names.indexOf(n) + 1;
    const lines = (...ns: number[]) => ns.map((n) => ({ functionId: fid(n), line: n }));
    const p: PProfile = {
      sampleTypes: [
        { type: s.id('samples'), unit: s.id('count') },
        { type: s.id('cpu'), unit: s.id('milliseconds') },
      ],
      periodType: { type: s.id('cpu'), unit: s.id('milliseconds') },
      period: 1,
      functions: names.map((n) => ({ id: fid(n), name: s.id(`line${n}`), systemName: s.id(`line${n}`), filename: s.id(`file${n}.src`) })),
      locations: [
        { id: 1000, address: 0x1000, lines: lines(1000) },
        { id: 2000, address: 0x2000, lines: lines(2001, 2000) },
        { id: 3000, address: 0x3000, lines: lines(3002, 3001, 3000) },
        { id: 3001, address: 0x3001, lines: lines(3001, 3000) },
        { id: 3002, address: 0x3002, lines: lines(3002, 3000) },
      ],
      samples: [
        { locationIds: [1000, 2000, 3000], values: [1000, 1000] },
        { locationIds: [1000, 3001], values: [100, 100] },
        { locationIds: [2000, 3002], values: [10, 10] },
        { locationIds: [3000], values: [10, 10] },
      ],
      stringTable: s.strings,
    };
    const prof = decode(p);
    expect(prof.defaultSampleType).toBe('cpu');
    const cpu = statsFor(prof, 'cpu');
    expect(cpu.total).toBe(1120);
    // Showing nodes accounting for 1.12s, 100% of 1.12s total
    expect(byName(cpu)).toEqual({
      line1000: { flat: 1100, cum: 1100 },
      line2001: { flat: 10, cum: 1010 },
      line3002: { flat: 10, cum: 1020 },
      line2000: { flat: 0, cum: 1010 },
      line3000: { flat: 0, cum: 1120 },
      line3001: { flat: 0, cum: 1110 },
    });
    // Same answer whatever the encoding.
    expect(byName(statsFor(decode(p, { packed: false, shuffleSeed: 3 }), 'cpu'))).toEqual(byName(cpu));
  });

  test('recursion adds cum once per sample', () => {
    const p = decode(richProfile());
    const samples = statsFor(p, 'samples');
    // Sample 3 is main.main > main.work > main.leaf > main.main (location 1 twice), value 5.
    // main.main: cum 3 + 1 + 5 = 9 (not 14), flat 1 + 5 = 6 (sample 3's leaf is location 1).
    expect(byName(samples)['main.main']).toEqual({ flat: 6, cum: 9 });
  });
});

describe('default_sample_type', () => {
  const withDefault = (name: string | number | undefined): Profile => {
    const p = sampleProfile();
    const s = new StringTable();
    for (const str of p.stringTable!.slice(1)) s.id(str);
    const idx = typeof name === 'string' ? s.id(name) : name;
    return decode({ ...p, defaultSampleType: idx, stringTable: s.strings });
  };
  test('resolved by name', () => expect(withDefault('samples').defaultSampleType).toBe('samples'));
  test('last sample type when unset', () => expect(withDefault(undefined).defaultSampleType).toBe('cpu'));
  test('last sample type when 0 (the empty string)', () => expect(withDefault(0).defaultSampleType).toBe('cpu'));
  test('last sample type when the name is no sample type', () => {
    expect(withDefault('bogus').defaultSampleType).toBe('cpu');
    expect(withDefault('count').defaultSampleType).toBe('cpu'); // a unit, not a type
  });
  test('an out-of-range index is an error', () => {
    expectDecodeError(encodeProfile({ ...sampleProfile(), defaultSampleType: 999 }), 'malformed', /default_sample_type: string index 999 out of range/);
  });
});

describe('labels', () => {
  const s = new StringTable();
  const base = (() => {
    const p = sampleProfile();
    for (const str of p.stringTable!.slice(1)) s.id(str);
    return p;
  })();
  const withLabels = (...labels: NonNullable<PProfile['samples']>[number]['labels'][]): Profile =>
    decode({ ...base, samples: labels.map((l) => ({ locationIds: [1], values: [1, 1], labels: l })), stringTable: s.strings });
  const labelsOf = (p: Profile, i: number) => p.samples.labelSets[p.samples.labelSet[i]];

  test('string labels, numeric labels with and without unit', () => {
    const p = withLabels([
      { key: s.id('handler'), str: s.id('/api') },
      { key: s.id('bytes'), num: 524288 },
      { key: s.id('size'), num: 3, numUnit: s.id('kilobytes') },
      { key: s.id('delta'), num: -42, numUnit: s.id('count') },
      { key: s.id('huge'), num: 2n ** 62n + 1n },
    ]);
    expect(labelsOf(p, 0)).toEqual([
      { key: 'handler', str: '/api' },
      { key: 'bytes', num: 524288, numUnit: '' },
      { key: 'size', num: 3, numUnit: 'kilobytes' },
      { key: 'delta', num: -42, numUnit: 'count' },
      { key: 'huge', num: 2n ** 62n + 1n, numUnit: '' },
    ]);
  });

  test('a label with str=0, num=0 and num_unit=0 is dropped (explicit or absent)', () => {
    const p = withLabels(
      [{ key: s.id('empty'), str: 0, num: 0, numUnit: 0 }],
      [{ key: s.id('absent') }],
      [{ key: s.id('empty'), str: 0, num: 0, numUnit: 0 }, { key: s.id('kept'), str: s.id('yes') }],
      [{ key: s.id('zero-with-unit'), num: 0, numUnit: s.id('bytes') }],
    );
    expect(p.samples.labelSet[0]).toBe(0);
    expect(p.samples.labelSet[1]).toBe(0);
    expect(p.samples.labelSets[0]).toEqual([]);
    expect(labelsOf(p, 2)).toEqual([{ key: 'kept', str: 'yes' }]);
    // A unit alone keeps a numeric label (pprof: num != 0 || num_unit != 0).
    expect(labelsOf(p, 3)).toEqual([{ key: 'zero-with-unit', num: 0, numUnit: 'bytes' }]);
  });

  test('identical label sets are shared', () => {
    const l = [{ key: s.id('handler'), str: s.id('/api') }];
    const p = withLabels(l, [], l, [{ key: s.id('handler'), str: s.id('/other') }]);
    expect(p.samples.labelSet[0]).toBe(p.samples.labelSet[2]);
    expect(p.samples.labelSet[1]).toBe(0);
    expect(p.samples.labelSet[3]).not.toBe(p.samples.labelSet[0]);
    expect(p.samples.labelSets).toHaveLength(3);
  });

  test('label string indices are bounds-checked', () => {
    const bad = encodeProfile({ ...base, samples: [{ locationIds: [1], values: [1, 1], labels: [{ key: 500, str: 1 }] }], stringTable: s.strings });
    expectDecodeError(bad, 'malformed', /label\.key: string index 500 out of range/);
  });
});

describe('values', () => {
  test('samples with no locations count toward the total but no function', () => {
    const p = sampleProfile();
    const prof = decode({ ...p, samples: [{ locationIds: [], values: [7, 70] }, { locationIds: [1], values: [1, 10] }] });
    expect(prof.samples.stackStart[1] - prof.samples.stackStart[0]).toBe(0);
    const cpu = statsFor(prof, 'cpu');
    expect(cpu.total).toBe(80);
    expect(cpu.functions).toEqual([{ name: 'main.main', flat: 10, cum: 10 }]);
    // Only location-less samples: a total and no functions.
    const only = statsFor(decode({ ...p, samples: [{ values: [1, 5] }, { locationIds: [], values: [2, 6] }] }), 'cpu');
    expect(only).toEqual({ sampleType: 'cpu', unit: 'nanoseconds', total: 11, functions: [] });
  });

  test('int64 values above 2^53 stay exact (bigint), and so do totals', () => {
    const p = sampleProfile();
    const big = 2n ** 60n + 1n; // not representable as a double
    const max = 2n ** 63n - 1n;
    const prof = decode({
      ...p,
      samples: [
        { locationIds: [2, 1], values: [1, big] },
        { locationIds: [1], values: [2, max] },
        { locationIds: [1], values: [3, 2 ** 53 - 1] },
        { locationIds: [], values: [4, -(2n ** 63n)] },
      ],
    });
    expect(prof.samples.values.exact).toBe('bigint');
    expect([...(prof.samples.values.data as BigInt64Array)]).toEqual([1n, big, 2n, max, 3n, 2n ** 53n - 1n, 4n, -(2n ** 63n)]);
    const cpuIndex = 1;
    const total = big + max + (2n ** 53n - 1n) + 2n ** 63n;
    expect(totalAbs(prof, cpuIndex)).toEqual({ total, exact: false });
    const cpu = statsFor(prof, 'cpu');
    expect(cpu.total).toBe(total);
    expect(byName(cpu)).toEqual({
      'main.leaf': { flat: big, cum: big },
      'main.work': { flat: 0, cum: big },
      'main.main': { flat: max + 2n ** 53n - 1n, cum: big + max + 2n ** 53n - 1n },
    });
    // The other sample type is small: its numbers come back as plain numbers.
    expect(statsFor(prof, 'samples').total).toBe(10);
  });

  test('2^53 - 1 is a number, 2^53 already a bigint', () => {
    const p = sampleProfile();
    const small = decode({ ...p, samples: [{ locationIds: [1], values: [1, 2 ** 53 - 1] }] });
    expect(small.samples.values).toEqual({ exact: 'number', data: Float64Array.of(1, 2 ** 53 - 1) });
    const big = decode({ ...p, samples: [{ locationIds: [1], values: [1, 2n ** 53n] }] });
    expect(big.samples.values).toEqual({ exact: 'bigint', data: BigInt64Array.of(1n, 2n ** 53n) });
  });

  test('sums of safe values beyond 2^53 are still exact', () => {
    const p = sampleProfile();
    const v = 2 ** 52 + 1;
    const prof = decode({ ...p, samples: [{ locationIds: [1], values: [1, v] }, { locationIds: [1], values: [1, v] }, { locationIds: [1], values: [1, v] }] });
    expect(prof.samples.values.exact).toBe('number');
    const cpu = statsFor(prof, 'cpu');
    expect(cpu.total).toBe(3n * BigInt(v));
    expect(cpu.functions).toEqual([{ name: 'main.main', flat: 3n * BigInt(v), cum: 3n * BigInt(v) }]);
  });

  test('negative values (diff profiles): kept as is, |v| in the total', () => {
    const p = sampleProfile();
    const prof = decode({
      ...p,
      samples: [
        { locationIds: [2, 1], values: [-3, -300] },
        { locationIds: [1], values: [1, 100] },
      ],
    });
    expect(prof.samples.values).toEqual({ exact: 'number', data: Float64Array.of(-3, -300, 1, 100) });
    const cpu = statsFor(prof, 'cpu');
    expect(cpu.total).toBe(400);
    expect(byName(cpu)).toEqual({
      'main.leaf': { flat: -300, cum: -300 },
      'main.work': { flat: 0, cum: -300 },
      'main.main': { flat: 100, cum: -200 },
    });
  });

  test('uint64 ids and addresses above 2^53 resolve exactly', () => {
    const p = sampleProfile();
    const idA = 2n ** 63n + 7n;
    const idB = 2n ** 64n - 1n;
    const prof = decode({
      ...p,
      mappings: [{ ...p.mappings![0], id: idB, memoryStart: 0xffffffff00000000n, memoryLimit: 2n ** 64n - 1n }],
      functions: [...p.functions!, { id: idA, name: p.functions![0].name }],
      locations: [
        { id: idA, mappingId: idB, address: 0xffffffff81000123n, lines: [{ functionId: idA, line: 1 }] },
        { id: idB, mappingId: idB, address: 2n ** 53n + 1n, lines: [{ functionId: 2 }] },
        { id: 2n ** 53n, lines: [{ functionId: 3 }] },
      ],
      samples: [{ locationIds: [idA, idB, 2n ** 53n], values: [1, 1] }],
    });
    expect(prof.locations.map((l) => l.id)).toEqual([idA, idB, 2n ** 53n]);
    expect(prof.locations[0].address).toBe(0xffffffff81000123n);
    expect(prof.locations[1].address).toBe(2n ** 53n + 1n);
    expect(prof.locations[0].mapping).toBe(0);
    expect(prof.locations[2].mapping).toBe(-1);
    expect(prof.mappings[0].memoryLimit).toBe(2n ** 64n - 1n);
    expect([...prof.samples.stack]).toEqual([0, 1, 2]);
    expect(prof.functions[prof.locations[0].lines[0].fn].id).toBe(idA);
  });

  test('ids need not be dense', () => {
    const p = sampleProfile();
    const prof = decode({
      ...p,
      functions: p.functions!.map((f) => ({ ...f, id: Number(f.id) * 1_000_003 })),
      locations: p.locations!.map((l) => ({ ...l, id: Number(l.id) * 7_000_001, lines: l.lines!.map((ln) => ({ ...ln, functionId: Number(ln.functionId) * 1_000_003 })) })),
      samples: p.samples!.map((x) => ({ ...x, locationIds: x.locationIds!.map((id) => Number(id) * 7_000_001) })),
    });
    expect(functionStats(prof)).toEqual(functionStats(decode(p)));
  });
});

describe('malformed input is a DecodeError naming the problem', () => {
  const p = sampleProfile();

  test("string_table[0] != ''", () => {
    expectDecodeError(encodeProfile({ ...p, stringTable: ['x', ...p.stringTable!.slice(1)] }), 'malformed', /string_table\[0\] must be ''/);
    expectDecodeError(encodeProfile({ ...p, stringTable: [] }), 'malformed', /string_table\[0\]/);
  });

  test('string index out of range', () => {
    const n = p.stringTable!.length;
    expectDecodeError(encodeProfile({ ...p, functions: [{ ...p.functions![0], name: n }, ...p.functions!.slice(1)] }), 'malformed', new RegExp(`function\\.name: string index ${n} out of range`));
    expectDecodeError(encodeProfile({ ...p, sampleTypes: [{ type: 1, unit: 9999 }, p.sampleTypes![1]] }), 'malformed', /sample_type: string index 9999 out of range/);
    expectDecodeError(encodeProfile({ ...p, comments: [1, 77777] }), 'malformed', /comment: string index 77777 out of range/);
    expectDecodeError(encodeProfile({ ...p, docUrl: n + 1 }), 'malformed', /doc_url: string index/);
    expectDecodeError(encodeProfile({ ...p, functions: [{ ...p.functions![0], name: -1 }] }), 'malformed', /index out of range: -1/);
    expectDecodeError(encodeProfile({ ...p, functions: [{ ...p.functions![0], name: 2n ** 40n }] }), 'malformed', /index out of range/);
  });

  test('id 0', () => {
    expectDecodeError(encodeProfile({ ...p, locations: [{ ...p.locations![0], id: 0 }, p.locations![1]] }), 'malformed', /location id 0 is reserved/);
    expectDecodeError(encodeProfile({ ...p, functions: [{ ...p.functions![0], id: undefined }] }), 'malformed', /function id 0 is reserved/);
    expectDecodeError(encodeProfile({ ...p, mappings: [{ ...p.mappings![0], id: 0 }] }), 'malformed', /mapping id 0 is reserved/);
  });

  test('duplicate ids', () => {
    expectDecodeError(encodeProfile({ ...p, locations: [p.locations![0], { ...p.locations![1], id: 1 }] }), 'malformed', /duplicate location id 1/);
    expectDecodeError(encodeProfile({ ...p, functions: [...p.functions!, { ...p.functions![0] }] }), 'malformed', /duplicate function id 1/);
    expectDecodeError(encodeProfile({ ...p, mappings: [p.mappings![0], p.mappings![0]] }), 'malformed', /duplicate mapping id 1/);
    const big = 2n ** 60n;
    expectDecodeError(encodeProfile({ ...p, locations: [{ ...p.locations![0], id: big }, { ...p.locations![1], id: big }] }), 'malformed', new RegExp(`duplicate location id ${big}`));
  });

  test('dangling location id in a sample', () => {
    expectDecodeError(encodeProfile({ ...p, samples: [{ locationIds: [1, 42], values: [1, 1] }] }), 'malformed', /sample refers to unknown location id 42/);
    expectDecodeError(encodeProfile({ ...p, samples: [{ locationIds: [0], values: [1, 1] }] }), 'malformed', /unknown location id 0/);
    expectDecodeError(encodeProfile({ ...p, samples: [{ locationIds: [2n ** 64n - 2n], values: [1, 1] }] }), 'malformed', /unknown location id 18446744073709551614/);
    expectDecodeError(encodeProfile({ ...p, samples: [{ locationIds: [9_000_000_000], values: [1, 1] }] }), 'malformed', /unknown location id 9000000000/);
  });

  test('line with unknown function, location with unknown mapping', () => {
    expectDecodeError(encodeProfile({ ...p, locations: [{ id: 1, lines: [{ functionId: 9, line: 1 }] }], samples: [] }), 'malformed', /location 1 has a line with unknown function 9/);
    expectDecodeError(encodeProfile({ ...p, locations: [{ id: 1, lines: [{ line: 1 }] }], samples: [] }), 'malformed', /unknown function 0/);
    expectDecodeError(encodeProfile({ ...p, locations: [{ id: 1, mappingId: 5 }], samples: [] }), 'malformed', /location 1 refers to unknown mapping 5/);
  });

  test('value count != number of sample types', () => {
    expectDecodeError(encodeProfile({ ...p, samples: [{ locationIds: [1], values: [1] }] }), 'malformed', /sample value count does not match the 2 sample types/);
    expectDecodeError(encodeProfile({ ...p, samples: [{ locationIds: [1], values: [1, 2, 3] }] }), 'malformed', /does not match the 2 sample types/);
    expectDecodeError(
      encodeProfile({ ...p, samples: [{ locationIds: [1], values: [1, 2] }, { locationIds: [1], values: [1] }] }),
      'malformed',
      /sample 1 has 1 values, earlier samples have 2/,
    );
  });

  test('samples without sample_type', () => {
    expectDecodeError(encodeProfile({ ...p, sampleTypes: [] }), 'malformed', /samples present but no sample_type/);
    expectDecodeError(encodeProfile({ ...p, sampleTypes: [], samples: [{ locationIds: [1] }] }), 'malformed', /no sample_type/);
  });

  test('truncated varint', () => {
    const good = encodeProfile(p);
    // period tag, then a varint whose continuation bit promises more bytes.
    expectDecodeError(concat(good, tag(12, 0), new Uint8Array([0xff, 0xff])), 'malformed', /truncated varint/);
    expectDecodeError(concat(encodeProfile({ ...p, timeNanos: undefined }), tag(9, 0), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), 'malformed', /truncated varint/);
    // Inside an embedded message: the varint runs into the end of the message, not of the data.
    const fn = concat(tag(1, 0), new Uint8Array([0x85]));
    expectDecodeError(concat(bytesField(5, fn), varintField(6, 0)), 'malformed', /truncated/);
    // A tag cut short.
    expectDecodeError(concat(good, new Uint8Array([0x80])), 'malformed', /truncated|end of the data/);
  });

  test('varint longer than 10 bytes', () => {
    const eleven = new Uint8Array(11).fill(0xff);
    eleven[10] = 0x01;
    expectDecodeError(concat(encodeProfile({ ...p, timeNanos: undefined }), tag(9, 0), eleven), 'malformed', /varint.*longer than 10 bytes|bad varint/);
    expectDecodeError(concat(encodeProfile(p), tag(12, 0), eleven), 'malformed', /longer than 10 bytes/);
    // As a tag.
    expectDecodeError(concat(encodeProfile(p), eleven, varint(0)), 'malformed', /varint/);
  });

  test('unknown wire type', () => {
    for (const wire of [3, 4, 6, 7]) {
      expectDecodeError(concat(encodeProfile(p), tag(20, wire), new Uint8Array(8)), 'malformed', new RegExp(`unknown wire type ${wire}`));
    }
    // A known field with the wrong wire type.
    expectDecodeError(concat(encodeProfile(p), tag(6, 0), varint(1)), 'malformed', /string_table has wire type 0, expected 2/);
    expectDecodeError(concat(encodeProfile({ ...p, timeNanos: undefined }), tag(9, 2), varint(0)), 'malformed', /time_nanos has wire type 2/);
  });

  test('concatenated profiles (time_nanos twice)', () => {
    expectDecodeError(encodeProfile({ ...p, timeNanos: [1, 2] }), 'malformed', /concatenated profiles/);
    const one = encodeProfile(p);
    expectDecodeError(concat(one, one), 'malformed', /concatenated profiles detected/);
  });

  test('a length running past the end', () => {
    const good = encodeProfile({ ...p, samples: [] });
    // An embedded message whose length exceeds the data.
    expectDecodeError(concat(good, tag(2, 2), varint(100), varintField(1, 1)), 'malformed', /sample message runs past the end/);
    // A string.
    expectDecodeError(concat(good, tag(6, 2), varint(50), new Uint8Array([0x61, 0x62])), 'malformed', /truncated data, a field runs past the end/);
    // An unknown length-delimited field.
    expectDecodeError(concat(good, tag(30, 2), varint(1000)), 'malformed', /truncated data, a field runs past the end/);
    // A packed field longer than its enclosing message.
    const sample = concat(tag(1, 2), varint(20), varint(1), varint(2));
    expectDecodeError(concat(good, bytesField(2, sample)), 'malformed', /packed field runs past the end of its message/);
    // A nested message (line in location) longer than its parent.
    const loc = concat(varintField(1, 7), tag(4, 2), varint(30), varintField(1, 1));
    expectDecodeError(concat(good, bytesField(4, loc)), 'malformed', /line message runs past the end/);
    // Cut a valid profile at every byte: never anything but a DecodeError.
    const full = encodeProfile(richProfile());
    for (let n = 1; n < full.length; n++) {
      try {
        decodeProfile(full.subarray(0, n));
      } catch (e) {
        if (!(e instanceof DecodeError)) throw new Error(`cut at ${n}: ${(e as Error).message}`, { cause: e });
      }
    }
  });
});
