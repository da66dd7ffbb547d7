// exportMerged refuses what pprof's merge.go refuses (different period types or sample types) with
// a typed error, and takes the largest period as merge.go does.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeProfile } from '../lib/decode';
import { ingestProfileBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { openEngine } from '../lib/query/open';
import { ExportError, exportMerged, isExportError } from '../lib/query/export';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { encodeProfile, StringTable } from './helpers/pprof-builder';

function profile(types: [string, string][], periodType: [string, string], period: number, t: bigint): Uint8Array {
  const s = new StringTable();
  return encodeProfile({
    sampleTypes: types.map(([type, unit]) => ({ type: s.id(type), unit: s.id(unit) })),
    periodType: { type: s.id(periodType[0]), unit: s.id(periodType[1]) },
    period,
    timeNanos: t,
    functions: [{ id: 1, name: s.id('main.f'), systemName: s.id('main.f'), filename: s.id('f.go'), startLine: 1 }],
    locations: [{ id: 1, address: 0x1000, lines: [{ functionId: 1, line: 2 }] }],
    samples: [{ locationIds: [1], values: types.map((_t, i) => i + 1) }],
    stringTable: s.strings,
  });
}

const CPU: [string, string][] = [['samples', 'count'], ['cpu', 'nanoseconds']];
const T0 = 1_700_000_000_000_000_000n;

async function withProfiles(inputs: Uint8Array[], run: (engine: Awaited<ReturnType<typeof openEngine>>) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-merge-'));
  const store = new LocalStore(dir);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  try {
    for (const [i, bytes] of inputs.entries()) {
      const meta = parseSourceMeta({ service: 's', instance: `i${i}`, kind: 'cpu', source: `p${i}`, sourceId: `p${i}` });
      await ingestProfileBytes(bytes, meta, { store, writer });
    }
    const engine = await openEngine(store, {}, [dir]);
    try {
      await run(engine);
    } finally {
      engine.close();
    }
  } finally {
    writer.close();
    instance.closeSync();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('different sample types: an ExportError of reason incompatible, naming both type lists', async () => {
  await withProfiles([profile(CPU, ['cpu', 'nanoseconds'], 10_000_000, T0), profile([['samples', 'count']], ['cpu', 'nanoseconds'], 10_000_000, T0 + 1n)], async (engine) => {
    const e = await exportMerged(engine, { kind: 'cpu' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExportError);
    expect(isExportError(e, 'incompatible')).toBe(true);
    expect((e as Error).message).toMatch(/incompatible sample types \[samples\/count cpu\/nanoseconds\] and \[samples\/count\]/);
  });
});

test('different period types: incompatible too', async () => {
  await withProfiles([profile(CPU, ['cpu', 'nanoseconds'], 10_000_000, T0), profile(CPU, ['wall', 'nanoseconds'], 10_000_000, T0 + 1n)], async (engine) => {
    const e = await exportMerged(engine, { kind: 'cpu' }).catch((x: unknown) => x);
    expect(isExportError(e, 'incompatible')).toBe(true);
    expect((e as Error).message).toMatch(/incompatible period types cpu\/nanoseconds and wall\/nanoseconds/);
  });
});

test('compatible profiles merge; the merged period is the largest (merge.go); no match is reason no-profiles', async () => {
  await withProfiles([profile(CPU, ['cpu', 'nanoseconds'], 10_000_000, T0), profile(CPU, ['cpu', 'nanoseconds'], 20_000_000, T0 + 1n)], async (engine) => {
    const merged = decodeProfile(await exportMerged(engine, { kind: 'cpu' }));
    expect(merged.period).toBe(20_000_000);
    expect(merged.samples.count).toBe(1);
    expect(Array.from({ length: 2 }, (_x, t) => Number(merged.samples.values.data[t]))).toEqual([2, 4]);
    const none = await exportMerged(engine, { kind: 'heap' }).catch((x: unknown) => x);
    expect(isExportError(none, 'no-profiles')).toBe(true);
  });
});
