/**
 * Tests of the `go tool pprof -top` oracle itself (test/oracle/pprof.ts).
 *
 * - Parser unit tests on literal pprof output (no Go needed).
 * - A hand-computed profile (google/pprof `internal/driver/driver_test.go`
 *   cpuProfile, extended with
 *   partial-inline, names with spaces and values that pprof's default units
 *   would round), built with pprof-format and fed to the real pprof.
 * - google/pprof testdata profiles: Σflat == total and total == Σ sample values
 *   of `go tool pprof -raw` (and of the fixture's own `.string` printout).
 *
 * Everything that runs Go is skipped when `go` is not on PATH.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  Function as PFunction,
  Line,
  Location,
  Mapping,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from 'pprof-format';
import {
  OracleRow,
  OracleTop,
  goAvailable,
  parsePprofRaw,
  parsePprofTop,
  pprofRaw,
  pprofTop,
  pprofTopArgs,
  warmUpPprof,
} from './pprof';

const TESTDATA = process.env.FLEETPROF_PPROF_TESTDATA ?? '/work/shared/fixtures/google-pprof-testdata';
const haveGo = goAvailable();
const describeGo = haveGo ? describe : describe.skip;

function byName(rows: OracleRow[]): Record<string, Omit<OracleRow, 'name'>> {
  const out: Record<string, Omit<OracleRow, 'name'>> = {};
  for (const r of rows) {
    expect(out[r.name]).toBeUndefined(); // names are unique at function granularity
    out[r.name] = { flat: r.flat, cum: r.cum, inline: r.inline };
  }
  return out;
}

const sum = (xs: bigint[]): bigint => xs.reduce((a, b) => a + b, 0n);
const abs = (x: bigint): bigint => (x < 0n ? -x : x);

// ---------------------------------------------------------------------------
describe('parsePprofTop (no Go needed)', () => {
  const sample = [
    'File: gen',
    'Type: cpu',
    'Duration: 1.64s, Total samples = 1540000000ns (93.99%)',
    'Showing nodes accounting for 1540000000ns, 100% of 1540000000ns total',
    '      flat  flat%   sum%        cum   cum%',
    '1300000000ns 84.42% 84.42% 1500000000ns 97.40%  main.spin',
    '200000000ns 12.99% 97.40% 200000000ns 12.99%  main.small (inline)',
    '40000000ns  2.60%   100% 40000000ns  2.60%  std::vector<int, std::allocator<int> >::push_back (partial-inline)',
    '         0     0%   100% 1540000000ns   100%  runtime.main',
    '',
  ].join('\n');

  test('parses header, rows, inline suffixes and names with spaces', () => {
    const top = parsePprofTop(sample);
    expect(top.total).toBe(1540000000n);
    expect(top.unit).toBe('nanoseconds');
    expect(top.rows).toEqual([
      { name: 'main.spin', flat: 1300000000n, cum: 1500000000n, inline: false },
      { name: 'main.small', flat: 200000000n, cum: 200000000n, inline: true },
      {
        name: 'std::vector<int, std::allocator<int> >::push_back',
        flat: 40000000n,
        cum: 40000000n,
        inline: true,
      },
      { name: 'runtime.main', flat: 0n, cum: 1540000000n, inline: false },
    ]);
  });

  test('maps unit suffixes: B -> bytes, unscaled -unit string -> count, all zero -> ""', () => {
    const mk = (v: string) =>
      `Showing nodes accounting for ${v}, 100% of ${v} total\n      flat  flat%   sum%        cum   cum%\n${v}   100%   100% ${v}   100%  f\n`;
    expect(parsePprofTop(mk('1581310396B')).unit).toBe('bytes');
    expect(parsePprofTop(mk('154nanoseconds'))).toEqual({
      total: 154n,
      unit: 'count',
      rows: [{ name: 'f', flat: 154n, cum: 154n, inline: false }],
    });
    expect(parsePprofTop(mk('0')).unit).toBe('');
  });

  test('rejects rounded / scaled / inexact output', () => {
    const mk = (v: string) =>
      `Showing nodes accounting for ${v}, 100% of ${v} total\n      flat  flat%   sum%        cum   cum%\n${v}   100%   100% ${v}   100%  f\n`;
    expect(() => parsePprofTop(mk('1.54s'))).toThrow(/not an integer/);
    expect(() => parsePprofTop(mk('1544248.43kB'))).toThrow(/not an integer/);
    expect(() => parsePprofTop(mk('12s'))).toThrow(/unexpected unit suffix/);
    expect(() => parsePprofTop(mk('12'))).toThrow(/no unit suffix/);
    expect(() => parsePprofTop(mk('9007199254740994ns'))).toThrow(/2\^53/);
    expect(parsePprofTop(mk('9007199254740994ns'), true).total).toBe(9007199254740994n);
    expect(() => parsePprofTop('no header')).toThrow(/Showing nodes/);
  });

  test('parsePprofRaw parses the Samples section', () => {
    const raw = parsePprofRaw(
      [
        'PeriodType: space bytes',
        'Period: 524288',
        'Samples:',
        'alloc_objects/count alloc_space/bytes[dflt] inuse_objects/count inuse_space/bytes',
        '          4    2488234          1     829411: 1 2 3 ',
        '                bytes:[524288]',
        '       7085    1048724       1820     524432: ',
        '         -1 12345678901          0          0: 7 ',
        'Locations',
        '     1: 0x420cee M=1 ',
        'Mappings',
      ].join('\n'),
    );
    expect(raw.sampleTypes.map((t) => `${t.type}/${t.unit}`)).toEqual([
      'alloc_objects/count',
      'alloc_space/bytes',
      'inuse_objects/count',
      'inuse_space/bytes',
    ]);
    expect(raw.defaultIndex).toBe(1);
    expect(raw.samples).toEqual([
      { values: [4n, 2488234n, 1n, 829411n], locationIds: [1, 2, 3] },
      { values: [7085n, 1048724n, 1820n, 524432n], locationIds: [] },
      { values: [-1n, 12345678901n, 0n, 0n], locationIds: [7] },
    ]);
  });
});

// ---------------------------------------------------------------------------
/**
 * google/pprof `internal/driver/driver_test.go` cpuProfile (expected output:
 * `internal/driver/testdata/pprof.cpu.flat.functions.text`) plus:
 *  - location 4000 = [f1000 inlined into f4000] -> f1000 gets an inline and a
 *    non-inline caller -> "(partial-inline)";
 *  - function names with spaces;
 *  - three sample types (count, nanoseconds, bytes) with values that the
 *    default -unit=minimum would print rounded (1.13s, 5GB, ...).
 */
const F = {
  f1000: 'std::vector<int, std::allocator<int> >::push_back(int const&)',
  f2000: 'main.(*Server).handle',
  f2001: 'main.parse[go.shape.struct { A int; B string }]',
  f3000: 'runtime.main',
  f3001: 'main.main',
  f3002: 'main.main.func1',
  f4000: 'operator new(unsigned long)',
};
// locations, lines leaf (line[0], innermost inlined) first
const LOCS: Record<number, (keyof typeof F)[]> = {
  1000: ['f1000'],
  2000: ['f2001', 'f2000'],
  3000: ['f3002', 'f3001', 'f3000'],
  3001: ['f3001', 'f3000'],
  3002: ['f3002', 'f3000'],
  4000: ['f1000', 'f4000'],
};
// samples: location ids leaf first, and weights w1..w5 per sample type
const W_NS = [1_000_000_007n, 123_456_789n, 10_000_001n, 9_999_999n, 1n];
const W_BYTES = [5_368_709_121n, 3n, 1_048_577n, 0n, 7n]; // 5 GiB + 1, ...
const W_COUNT = [100n, 10n, 1n, 1n, 1n];
const STACKS = [[1000, 2000, 3000], [1000, 3001], [2000, 3002], [3000], [4000]];

interface ExpectedRow {
  flat: bigint;
  cum: bigint;
  inline: boolean;
}

/** Hand-derived from pprof's flat/cum rules (`internal/graph/graph.go` newGraph; see comments). */
function expectedTop(w: bigint[]): Record<string, ExpectedRow> {
  const [w1, w2, w3, w4, w5] = w as [bigint, bigint, bigint, bigint, bigint];
  const rows: Record<string, ExpectedRow> = {
    // leaf of S1, S2 (non-inline callers f2001 / f3001) and line[0] of S5 (inline caller f4000)
    [F.f1000]: { flat: w1 + w2 + w5, cum: w1 + w2 + w5, inline: true /* partial-inline */ },
    // line[0] of loc 2000: leaf of S3; on the stack of S1 and S3
    [F.f2001]: { flat: w3, cum: w1 + w3, inline: true },
    // line[0] of loc 3000 (S4's leaf); on the stacks of S1 (3000), S3 (3002), S4 (3000)
    [F.f3002]: { flat: w4, cum: w1 + w3 + w4, inline: true },
    [F.f2000]: { flat: 0n, cum: w1 + w3, inline: false },
    [F.f3000]: { flat: 0n, cum: w1 + w2 + w3 + w4, inline: false },
    // S1 (3000), S2 (3001), S4 (3000)
    [F.f3001]: { flat: 0n, cum: w1 + w2 + w4, inline: true },
    [F.f4000]: { flat: 0n, cum: w5, inline: false },
  };
  // pprof never prints nodes with flat == cum == 0
  for (const [k, v] of Object.entries(rows)) if (v.flat === 0n && v.cum === 0n) delete rows[k];
  return rows;
}

/** -noinlines keeps only the last line of each location (the real, outermost function). */
function expectedTopNoInlines(w: bigint[]): Record<string, ExpectedRow> {
  const [w1, w2, w3, w4, w5] = w as [bigint, bigint, bigint, bigint, bigint];
  return {
    [F.f1000]: { flat: w1 + w2, cum: w1 + w2, inline: false },
    [F.f2000]: { flat: w3, cum: w1 + w3, inline: false },
    [F.f3000]: { flat: w4, cum: w1 + w2 + w3 + w4, inline: false },
    [F.f4000]: { flat: w5, cum: w5, inline: false },
  };
}

function buildProfile(opts: { timeUnit?: string; values?: bigint[][] } = {}): Uint8Array {
  const st = new StringTable();
  const fnIds = new Map<string, number>();
  const functions: PFunction[] = [];
  for (const [key, name] of Object.entries(F)) {
    const id = functions.length + 1;
    fnIds.set(key, id);
    functions.push(
      new PFunction({ id, name: st.dedup(name), systemName: st.dedup(name), filename: st.dedup(`${key}.go`) }),
    );
  }
  const mapping = new Mapping({
    id: 1,
    memoryStart: 0x400000,
    memoryLimit: 0x800000,
    filename: st.dedup('/nonexistent/fleetprof-oracle-test'),
    hasFunctions: true,
    hasFilenames: true,
    hasLineNumbers: true,
    hasInlineFrames: true,
  });
  const locations = Object.entries(LOCS).map(
    ([id, lines]) =>
      new Location({
        id: Number(id),
        mappingId: 1,
        address: 0x400000 + Number(id),
        line: lines.map((k, i) => new Line({ functionId: fnIds.get(k)!, line: 10 + i })),
      }),
  );
  const values = opts.values ?? [W_COUNT, W_NS, W_BYTES];
  const samples = STACKS.map(
    (stack, i) => new Sample({ locationId: stack, value: values.map((col) => col[i]!) }),
  );
  const profile = new Profile({
    sampleType: [
      new ValueType({ type: st.dedup('samples'), unit: st.dedup('count') }),
      new ValueType({ type: st.dedup('cpu'), unit: st.dedup(opts.timeUnit ?? 'nanoseconds') }),
      new ValueType({ type: st.dedup('alloc_space'), unit: st.dedup('bytes') }),
    ].slice(0, values.length),
    sample: samples,
    mapping: [mapping],
    location: locations,
    function: functions,
    stringTable: st,
    periodType: new ValueType({ type: st.dedup('cpu'), unit: st.dedup(opts.timeUnit ?? 'nanoseconds') }),
    period: 1,
  });
  return profile.encode();
}

describeGo('pprofTop against go tool pprof', () => {
  let dir: string;
  let handmade: string;

  beforeAll(() => {
    warmUpPprof(); // first `go tool pprof` may compile pprof
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetprof-oracle-'));
    handmade = path.join(dir, 'handmade.pb');
    fs.writeFileSync(handmade, buildProfile());
  }, 300_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function check(top: OracleTop, expected: Record<string, ExpectedRow>, total: bigint, unit: string): void {
    expect(top.unit).toBe(unit);
    expect(top.total).toBe(total);
    expect(byName(top.rows)).toEqual(expected);
    // pprof order: |flat| desc, then name asc
    const order = [...top.rows].sort((a, b) =>
      a.flat !== b.flat ? (abs(b.flat) > abs(a.flat) ? 1 : -1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    expect(top.rows.map((r) => r.name)).toEqual(order.map((r) => r.name));
  }

  test('hand-computed profile, cpu/nanoseconds', () => {
    const top = pprofTop([handmade], { sampleIndex: 'cpu' });
    check(top, expectedTop(W_NS), sum(W_NS), 'nanoseconds');
  });

  test('hand-computed profile, alloc_space/bytes (values > 4 GiB, odd)', () => {
    check(pprofTop([handmade], { sampleIndex: 'alloc_space' }), expectedTop(W_BYTES), sum(W_BYTES), 'bytes');
    // default sample index = last sample type
    check(pprofTop([handmade]), expectedTop(W_BYTES), sum(W_BYTES), 'bytes');
  });

  test('hand-computed profile, samples/count and numeric -sample_index', () => {
    check(pprofTop([handmade], { sampleIndex: '0' }), expectedTop(W_COUNT), sum(W_COUNT), 'count');
  });

  test('partial-inline vs inline labels are both reported as inline=true', () => {
    // Cross-check the raw label: f1000 is "(partial-inline)", f2001 "(inline)".
    const text = execFileSync('go', pprofTopArgs([handmade], { sampleIndex: 'cpu' }), { encoding: 'utf8' });
    expect(text).toContain(`${F.f1000} (partial-inline)\n`);
    expect(text).toContain(`${F.f2001} (inline)\n`);
    expect(text).toContain(`${F.f3000}\n`);
  });

  test('-noinlines via extraArgs', () => {
    const top = pprofTop([handmade], { sampleIndex: 'cpu', extraArgs: ['-noinlines'] });
    check(top, expectedTopNoInlines(W_NS), sum(W_NS), 'nanoseconds');
  });

  test('merging two files sums the values', () => {
    const top = pprofTop([handmade, handmade], { sampleIndex: 'cpu' });
    const doubled = W_NS.map((v) => 2n * v);
    check(top, expectedTop(doubled), 2n * sum(W_NS), 'nanoseconds');
  });

  test('time in microseconds is reported exactly in nanoseconds', () => {
    const us = path.join(dir, 'micro.pb');
    fs.writeFileSync(us, buildProfile({ timeUnit: 'microseconds' }));
    const top = pprofTop([us], { sampleIndex: 'cpu' });
    check(top, expectedTop(W_NS.map((v) => v * 1000n)), sum(W_NS) * 1000n, 'nanoseconds');
  });

  test('values above 2^53 are refused (pprof prints them through float64)', () => {
    const big = path.join(dir, 'big.pb');
    const w = [2n ** 53n + 1n, 0n, 0n, 0n, 0n];
    fs.writeFileSync(big, buildProfile({ values: [W_COUNT, w] }));
    expect(() => pprofTop([big], { sampleIndex: 'cpu' })).toThrow(/2\^53/);
    // with allowInexact the float64-rounded value comes back: the +1 is lost
    expect(pprofTop([big], { sampleIndex: 'cpu', allowInexact: true }).total).toBe(2n ** 53n);
  });

  test('pprofRaw totals equal pprofTop totals on the handmade profile', () => {
    const raw = pprofRaw([handmade]);
    expect(raw.sampleTypes.map((t) => t.type)).toEqual(['samples', 'cpu', 'alloc_space']);
    expect(raw.samples.map((s) => s.values[1])).toEqual(W_NS);
  });
});

// ---------------------------------------------------------------------------
const haveTestdata = fs.existsSync(path.join(TESTDATA, 'gobench.cpu'));
const describeTestdata = haveGo && haveTestdata ? describe : describe.skip;

describeTestdata(`pprofTop on google/pprof testdata (${TESTDATA})`, () => {
  beforeAll(() => warmUpPprof(), 300_000);

  const UNIT: Record<string, { unit: string; factor: bigint }> = {
    count: { unit: 'count', factor: 1n },
    nanoseconds: { unit: 'nanoseconds', factor: 1n },
    microseconds: { unit: 'nanoseconds', factor: 1000n },
    bytes: { unit: 'bytes', factor: 1n },
  };

  /** Checks every sample type of FILE against -raw and the fixture's own .string printout. */
  function checkFile(file: string): void {
    const full = path.join(TESTDATA, file);
    const raw = pprofRaw([full]);
    const golden = parsePprofRaw(fs.readFileSync(`${full}.string`, 'utf8'));
    expect(raw.sampleTypes).toEqual(golden.sampleTypes);
    expect(raw.samples.length).toBeGreaterThan(0);
    raw.sampleTypes.forEach((st, idx) => {
      const u = UNIT[st.unit];
      expect(u).toBeDefined();
      const top = pprofTop([full], { sampleIndex: st.type });
      const rawTotal = sum(raw.samples.map((s) => abs(s.values[idx]!)));
      const goldenTotal = sum(golden.samples.map((s) => abs(s.values[idx]!)));
      // samples with an empty stack count in the total but belong to no node
      const emptyStack = sum(raw.samples.filter((s) => s.locationIds.length === 0).map((s) => s.values[idx]!));
      expect({ type: st.type, unit: top.unit, total: top.total }).toEqual({
        type: st.type,
        unit: u!.unit,
        total: rawTotal * u!.factor,
      });
      expect(goldenTotal).toBe(rawTotal);
      expect(sum(top.rows.map((r) => r.flat)) + emptyStack * u!.factor).toBe(top.total);
      for (const r of top.rows) expect(abs(r.cum)).toBeLessThanOrEqual(top.total);
    });
  }

  test('gobench.cpu: Σflat == total == Σ -raw samples', () => {
    checkFile('gobench.cpu');
    const cpu = pprofTop([path.join(TESTDATA, 'gobench.cpu')], { sampleIndex: 'cpu' });
    expect(cpu.unit).toBe('nanoseconds');
    expect(cpu.total).toBe(3_050_000_000n); // 305 samples x 10 ms
    expect(sum(cpu.rows.map((r) => r.flat))).toBe(cpu.total);
    const samples = pprofTop([path.join(TESTDATA, 'gobench.cpu')], { sampleIndex: 'samples' });
    expect([samples.unit, samples.total]).toEqual(['count', 305n]);
  });

  test('go.crc32.cpu', () => {
    checkFile('go.crc32.cpu');
    const top = pprofTop([path.join(TESTDATA, 'go.crc32.cpu')]);
    expect(top.total).toBe(2_110_000_000n);
    expect(sum(top.rows.map((r) => r.flat))).toBe(top.total);
  });

  test('gobench.heap: empty-stack samples are in the total but in no row', () => {
    checkFile('gobench.heap');
    const top = pprofTop([path.join(TESTDATA, 'gobench.heap')], { sampleIndex: 'inuse_space' });
    expect(top.total).toBe(7_721_316n);
    expect(sum(top.rows.map((r) => r.flat))).toBe(7_721_316n - 524_432n);
  });

  test.each(['cppbench.cpu', 'cppbench.heap', 'cppbench.contention', 'java.cpu', 'java.heap', 'java.contention'])(
    '%s',
    (file) => checkFile(file),
  );
});
