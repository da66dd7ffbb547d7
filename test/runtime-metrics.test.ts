import { parseRuntimeMetrics } from '../lib/decode/formats/runtime-metrics';
import type { MetricSnapshotRow } from '../lib/model/gc';

const T0 = Date.UTC(2024, 0, 1) * 1000;

const SNAPSHOT = {
  time: '2024-01-01T00:00:00.123456789Z',
  metrics: {
    '/gc/heap/goal:bytes': 4194304,
    '/gc/cycles/total:gc-cycles': 12,
    '/cpu/classes/gc/total:cpu-seconds': 0, // integral, but a float64 metric
    '/sync/mutex/wait/total:seconds': 0.5,
    '/sched/gomaxprocs:threads': 8,
    '/gc/pauses:seconds': { buckets: ['-Inf', 1e-9, 1e-6, 1e-3, '+Inf'], counts: [0, 3, 2, 1] },
    '/sched/latencies:seconds': { buckets: [null, 0, 1e-6, null], counts: [0, 7, 0] },
  },
};

describe('runtime/metrics: one document', () => {
  const rows = parseRuntimeMetrics(JSON.stringify(SNAPSHOT));

  test('one row per metric, in document order, with time, unit and kind', () => {
    const at = T0 + 123_456;
    expect(rows).toEqual<MetricSnapshotRow[]>([
      { timeUs: at, name: '/gc/heap/goal:bytes', unit: 'bytes', kind: 'uint64', value: 4194304, buckets: null, counts: null },
      { timeUs: at, name: '/gc/cycles/total:gc-cycles', unit: 'gc-cycles', kind: 'uint64', value: 12, buckets: null, counts: null },
      { timeUs: at, name: '/cpu/classes/gc/total:cpu-seconds', unit: 'cpu-seconds', kind: 'float64', value: 0, buckets: null, counts: null },
      { timeUs: at, name: '/sync/mutex/wait/total:seconds', unit: 'seconds', kind: 'float64', value: 0.5, buckets: null, counts: null },
      { timeUs: at, name: '/sched/gomaxprocs:threads', unit: 'threads', kind: 'uint64', value: 8, buckets: null, counts: null },
      {
        timeUs: at,
        name: '/gc/pauses:seconds',
        unit: 'seconds',
        kind: 'histogram',
        value: null,
        buckets: [-Infinity, 1e-9, 1e-6, 1e-3, Infinity],
        counts: [0, 3, 2, 1],
      },
      {
        timeUs: at,
        name: '/sched/latencies:seconds',
        unit: 'seconds',
        kind: 'histogram',
        value: null,
        buckets: [-Infinity, 0, 1e-6, Infinity],
        counts: [0, 7, 0],
      },
    ]);
  });

  test('pretty-printed JSON, BOM, arrays of documents', () => {
    expect(parseRuntimeMetrics('\uFEFF' + JSON.stringify(SNAPSHOT, null, 2))).toEqual(rows);
    expect(parseRuntimeMetrics(JSON.stringify([SNAPSHOT, SNAPSHOT]))).toHaveLength(rows.length * 2);
  });

  test('non-integral or negative values of count units are float64; null is an unsupported metric', () => {
    const r = parseRuntimeMetrics(
      JSON.stringify({ time: '2024-01-01T00:00:00Z', metrics: { '/x/y:bytes': 1.5, '/x/z:bytes': null, '/a/b:percent': '+Inf' } }),
    );
    expect(r.map((x) => [x.kind, x.value])).toEqual([
      ['float64', 1.5],
      ['uint64', null],
      ['float64', Infinity],
    ]);
  });

  test('empty histograms (both arrays empty) are allowed', () => {
    const r = parseRuntimeMetrics(JSON.stringify({ time: '2024-01-01T00:00:00Z', metrics: { '/h:seconds': { buckets: [], counts: [] } } }));
    expect(r[0]).toMatchObject({ kind: 'histogram', buckets: [], counts: [] });
  });

  test('time with an offset and nanoseconds', () => {
    const r = parseRuntimeMetrics('{"time":"2024-01-01T02:00:00.000001999+02:00","metrics":{"/a:bytes":1}}');
    expect(r[0].timeUs).toBe(T0 + 1);
  });
});

describe('runtime/metrics: JSON lines', () => {
  test('several documents, blank lines ignored', () => {
    const second = { ...SNAPSHOT, time: '2024-01-01T00:00:10Z', metrics: { '/gc/heap/goal:bytes': 8388608 } };
    const text = `${JSON.stringify(SNAPSHOT)}\n\n${JSON.stringify(second)}\n`;
    const rows = parseRuntimeMetrics(text);
    expect(rows).toHaveLength(8);
    expect(rows[7]).toMatchObject({ timeUs: T0 + 10_000_000, name: '/gc/heap/goal:bytes', value: 8388608 });
  });

  test('a bad line is named', () => {
    expect(() => parseRuntimeMetrics(`${JSON.stringify(SNAPSHOT)}\n{"time": oops}\n`)).toThrow(/line 2/);
  });
});

describe('runtime/metrics: errors name what is wrong', () => {
  const doc = (metrics: unknown, time: unknown = '2024-01-01T00:00:00Z') => JSON.stringify({ time, metrics });

  test.each<[string, string, RegExp]>([
    ['empty', '  \n', /empty input/],
    ['not JSON', 'gc 1 @0.011s 1%: ...', /not JSON/],
    ['unquoted infinity hint', '{"time":"2024-01-01T00:00:00Z","metrics":{"/h:seconds":{"buckets":[-Infinity,0],"counts":[1]}}}', /"-Inf"/],
    ['not an object', '[1, 2]', /document 1: expected an object/],
    ['missing time', JSON.stringify({ metrics: {} }), /missing "time"/],
    ['numeric time', doc({}, 1704067200), /"time" must be an RFC 3339 string/],
    ['time without zone', doc({}, '2024-01-01T00:00:00'), /not an RFC 3339 timestamp with a zone/],
    ['missing metrics', JSON.stringify({ time: '2024-01-01T00:00:00Z' }), /missing "metrics"/],
    ['metrics not an object', doc([1]), /"metrics" must be an object/],
    ['bad name', doc({ 'gc heap goal': 1 }), /"gc heap goal" is not a runtime\/metrics name/],
    ['bad scalar', doc({ '/a:bytes': 'lots' }), /metric \/a:bytes: value must be a number/],
    ['buckets/counts length', doc({ '/h:seconds': { buckets: [0, 1], counts: [1, 2] } }), /bad histogram: 2 buckets for 2 counts/],
    ['missing counts', doc({ '/h:seconds': { buckets: [0, 1] } }), /needs "buckets" and "counts" arrays/],
    ['null inside buckets', doc({ '/h:seconds': { buckets: [0, null, 2], counts: [1, 2] } }), /bucket 1 is null/],
    ['decreasing buckets', doc({ '/h:seconds': { buckets: [0, 2, 1], counts: [1, 2] } }), /buckets must increase/],
    ['negative count', doc({ '/h:seconds': { buckets: [0, 1], counts: [-1] } }), /count 0 is -1/],
  ])('%s', (_name, text, message) => {
    expect(() => parseRuntimeMetrics(text)).toThrow(message);
  });

  test('errors are DecodeErrors', () => {
    try {
      parseRuntimeMetrics('{');
      throw new Error('expected a throw');
    } catch (e) {
      expect((e as { code?: string }).code).toBe('malformed');
    }
  });
});
