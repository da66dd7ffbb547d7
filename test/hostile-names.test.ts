// Names come from the input, so they may hold any character: they must reach the Parquet files
// and come back from top unchanged, and never be read as SQL (#13: a real public profile has a
// function name with a NUL in it, which once failed ingest with a DuckDB parser error).
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ingestBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { openEngine } from '../lib/query/open';
import { top } from '../lib/query/top';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { encodeProfile, StringTable } from './helpers/pprof-builder';

const NAMES = [
  'main.nul\u0000inside',
  "main.it's",
  'main."double"',
  'main.back\\slash\\\\',
  'main.new\nline\r\ttab',
  "x'); DROP TABLE functions; --",
  "'::VARCHAR[]",
  '\u0000big:12345', // the writer's own bigint marker must not turn a name into a number
  'main.ünïcødé😀',
];

test('function and sample type names with NUL, quotes, backslashes and newlines round-trip through ingest, top and stacks', async () => {
  const s = new StringTable();
  const sampleType = "cpu'\u0000\"x";
  const profile = encodeProfile({
    sampleTypes: [
      { type: s.id('samples'), unit: s.id('count') },
      { type: s.id(sampleType), unit: s.id("nano'seconds") },
    ],
    periodType: { type: s.id('cpu'), unit: s.id('nanoseconds') },
    period: 1,
    timeNanos: 1_700_000_000_000_000_000n,
    functions: NAMES.map((n, i) => ({ id: i + 1, name: s.id(n), systemName: s.id(n), filename: s.id('f.go'), startLine: 1 })),
    locations: NAMES.map((_n, i) => ({ id: i + 1, address: 0x1000 + i, lines: [{ functionId: i + 1, line: i + 1 }] })),
    // Sample i: leaf NAMES[i] called by NAMES[0], with value i + 1.
    samples: NAMES.map((_n, i) => ({ locationIds: i === 0 ? [1] : [i + 1, 1], values: [1, i + 1] })),
    stringTable: s.strings,
  });

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-names-'));
  const store = new LocalStore(dir);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  try {
    const meta = parseSourceMeta({ service: 's', instance: 'i', kind: 'cpu', source: 'hostile.pb', sourceId: 'hostile.pb' });
    const r = await ingestBytes(profile, meta, { store, writer });
    expect(r.input).toBe('profile');

    const engine = await openEngine(store, {}, [dir]);
    try {
      const t = await top(engine, { kind: 'cpu', sampleType });
      const byName = new Map(t.functions.map((f) => [f.name, [Number(f.flat), Number(f.cum)]]));
      const total = NAMES.reduce((a, _n, i) => a + i + 1, 0);
      expect(Number(t.total)).toBe(total);
      expect(new Set(byName.keys())).toEqual(new Set(NAMES));
      NAMES.forEach((n, i) => expect(byName.get(n)).toEqual([i + 1, i === 0 ? total : i + 1]));

      const stacks = await engine.rows(`SELECT frames, sample_type, unit, value FROM stacks WHERE sample_type = $st ORDER BY value`, { st: sampleType });
      expect(stacks.map((x) => [x.frames, x.unit, Number(x.value)])).toEqual(
        NAMES.map((n, i) => [i === 0 ? [n] : [n, NAMES[0]], "nano'seconds", i + 1]),
      );
    } finally {
      engine.close();
    }
  } finally {
    writer.close();
    instance.closeSync();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
