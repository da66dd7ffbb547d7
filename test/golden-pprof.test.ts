// The oracle test: our numbers must equal `go tool pprof -top` to the integer, for every
// function, every sample type, every kind, single profiles and merged cohorts, and for the
// merged profile we export.
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeProfile } from '../lib/decode';
import { detectKind } from '../lib/decode/kind';
import { functionStats } from '../lib/normalize/functions';
import { PROFILE_KINDS, type ProfileKind } from '../lib/model/profile';
import { parseSourceMeta } from '../lib/model/source';
import { ingestProfileBytes } from '../lib/ingest';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { openEngine } from '../lib/query/open';
import { top } from '../lib/query/top';
import { exportMerged } from '../lib/query/export';
import { goAvailable, pprofTop, warmUpPprof, type OracleTop } from './oracle/pprof';

const FIXTURES = path.join(__dirname, 'fixtures/go');
const manifest = JSON.parse(readFileSync(path.join(FIXTURES, 'MANIFEST.json'), 'utf8')) as {
  runs: { run: string; service: string; instance: string; version: string }[];
};
const RUNS = manifest.runs;
const fileOf = (run: string, kind: ProfileKind) => path.join(FIXTURES, run, `${kind}.pb.gz`);

const d = goAvailable() ? describe : describe.skip;

type Row = { name: string; flat: bigint; cum: bigint };
function asMap(rows: Row[]): Map<string, [bigint, bigint]> {
  return new Map(rows.map((r) => [r.name, [r.flat, r.cum]]));
}
function expectSameTop(ours: { total: bigint; rows: Row[] }, oracle: OracleTop): void {
  expect(ours.total).toBe(oracle.total);
  // Same set of functions with the same flat and cum, in pprof's order.
  expect(asMap(ours.rows)).toEqual(asMap(oracle.rows.map((r) => ({ name: r.name, flat: r.flat, cum: r.cum }))));
  expect(ours.rows.length).toBe(oracle.rows.length);
}

d('flat/cum equal go tool pprof -top', () => {
  beforeAll(() => warmUpPprof(), 300_000);

  for (const kind of PROFILE_KINDS) {
    test(`${kind}: every sample type of every run`, () => {
      for (const { run } of RUNS) {
        const file = fileOf(run, kind);
        const p = decodeProfile(readFileSync(file));
        expect(detectKind(p)).toBe(kind);
        for (const s of functionStats(p)) {
          const oracle = pprofTop([file], { sampleIndex: s.sampleType });
          expectSameTop(
            { total: BigInt(s.total), rows: s.functions.map((f) => ({ name: f.name, flat: BigInt(f.flat), cum: BigInt(f.cum) })) },
            oracle,
          );
        }
      }
    });
  }
});

d('fleet top and export through the tables', () => {
  let dir: string;
  let store: LocalStore;

  beforeAll(async () => {
    warmUpPprof();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-golden-'));
    store = new LocalStore(dir);
    const instance = await openDuckDb();
    const writer = await ParquetWriter.create(instance);
    for (const r of RUNS) {
      for (const kind of PROFILE_KINDS) {
        const file = fileOf(r.run, kind);
        const meta = parseSourceMeta({ service: r.service, instance: r.instance, version: r.version, kind, source: file, sourceId: file });
        await ingestProfileBytes(readFileSync(file), meta, { store, writer });
      }
    }
    writer.close();
    instance.closeSync();
  }, 300_000);

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const cohorts: { name: string; runs: typeof RUNS; filter: { version?: string; instance?: string } }[] = [
    { name: 'all runs merged', runs: RUNS, filter: {} },
    { name: 'version v1 (two instances)', runs: RUNS.filter((r) => r.version === 'v1'), filter: { version: 'v1' } },
    { name: 'one instance', runs: RUNS.filter((r) => r.run === RUNS[0].run), filter: { version: RUNS[0].version, instance: RUNS[0].instance } },
  ];

  for (const kind of PROFILE_KINDS) {
    for (const c of cohorts) {
      test(`${kind}, ${c.name}: top equals pprof on the files, and on our export`, async () => {
        const files = c.runs.map((r) => fileOf(r.run, kind));
        const engine = await openEngine(store, {}, [dir]);
        try {
          const sampleTypes = decodeProfile(readFileSync(files[0])).sampleTypes.map((t) => t.type);
          for (const sampleType of sampleTypes) {
            // Files of one instance are successive snapshots to a window: gauges average per instance
            // (test/window.test.ts); aggregate 'sum' is pprof's own merge of the files.
            const ours = await top(engine, { kind, sampleType, ...c.filter, aggregate: 'sum' });
            const oracle = pprofTop(files, { sampleIndex: sampleType });
            expectSameTop(
              { total: BigInt(ours.total), rows: ours.functions.map((f) => ({ name: f.name, flat: BigInt(f.flat), cum: BigInt(f.cum) })) },
              oracle,
            );
            expect(ours.functions.map((f) => f.name)).toEqual(oracle.rows.map((r) => r.name));
          }
          const out = path.join(dir, `export-${kind}-${c.runs.length}.pb.gz`);
          await fs.writeFile(out, await exportMerged(engine, { kind, ...c.filter, aggregate: 'sum' }));
          for (const sampleType of sampleTypes) {
            // Same rows, (inline) markers included, also at line granularity.
            expect(pprofTop([out], { sampleIndex: sampleType }).rows).toEqual(pprofTop(files, { sampleIndex: sampleType }).rows);
            expect(pprofTop([out], { sampleIndex: sampleType, extraArgs: ['-lines'] }).rows).toEqual(pprofTop(files, { sampleIndex: sampleType, extraArgs: ['-lines'] }).rows);
          }
        } finally {
          engine.close();
        }
      }, 120_000);
    }
  }
});
