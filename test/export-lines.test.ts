// Lossless export: `go tool pprof -top` at every granularity it prints source positions for
// (functions, filefunctions, lines, with and without inlining) shows the same rows, `(inline)`
// markers included, on our merged export as on the original files; and same-named functions of
// different files (or start lines) are told apart exactly as pprof tells them apart.
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { decodeProfile } from '../lib/decode';
import { buildFrameTable } from '../lib/normalize/frames';
import { aggregateStacks } from '../lib/normalize/stacks';
import { parseSourceMeta } from '../lib/model/source';
import { ingestProfileBytes } from '../lib/ingest';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { openEngine } from '../lib/query/open';
import { top } from '../lib/query/top';
import { exportMerged } from '../lib/query/export';
import { compact } from '../lib/store/compact';
import { encodeProfile, StringTable, type PProfile } from './helpers/pprof-builder';
import { goAvailable, pprofTop, warmUpPprof } from './oracle/pprof';

const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = (JSON.parse(readFileSync(path.join(FIXTURES, 'MANIFEST.json'), 'utf8')) as { runs: { run: string; instance: string; version: string }[] }).runs;

const GRANULARITIES: string[][] = [[], ['-filefunctions'], ['-lines'], ['-lines', '-noinlines'], ['-noinlines']];

/**
 * Same-named functions pprof keeps apart: main.handle in two files, util.parse twice in one file
 * with different start lines, and util.parse inlined into main.handle in one of the stacks.
 */
function sameNames(): PProfile {
  const s = new StringTable();
  const fn = (id: number, name: string, file: string, startLine: number) => ({ id, name: s.id(name), systemName: s.id(name), filename: s.id(file), startLine });
  return {
    sampleTypes: [
      { type: s.id('samples'), unit: s.id('count') },
      { type: s.id('cpu'), unit: s.id('nanoseconds') },
    ],
    periodType: { type: s.id('cpu'), unit: s.id('nanoseconds') },
    period: 10_000_000,
    timeNanos: 1_790_000_000_000_000_000n,
    durationNanos: 10_000_000_000,
    mappings: [{ id: 1, memoryStart: 0x400000, memoryLimit: 0x800000, filename: s.id('/bin/svc'), buildId: s.id('b1'), hasFunctions: true, hasFilenames: true, hasLineNumbers: true, hasInlineFrames: true }],
    functions: [
      fn(1, 'main.main', 'svc/main.go', 5),
      fn(2, 'main.handle', 'svc/a/handler.go', 10),
      fn(3, 'main.handle', 'svc/b/handler.go', 10),
      fn(4, 'util.parse', 'svc/util/parse.go', 5),
      fn(5, 'util.parse', 'svc/util/parse.go', 50),
    ],
    locations: [
      { id: 1, mappingId: 1, address: 0x401000, lines: [{ functionId: 1, line: 9 }] },
      { id: 2, mappingId: 1, address: 0x402000, lines: [{ functionId: 2, line: 12 }] },
      { id: 3, mappingId: 1, address: 0x403000, lines: [{ functionId: 3, line: 12 }] },
      { id: 4, mappingId: 1, address: 0x404000, lines: [{ functionId: 4, line: 7 }] },
      { id: 5, mappingId: 1, address: 0x405000, lines: [{ functionId: 5, line: 7 }] },
      // util.parse (start 50) inlined into main.handle of b/handler.go.
      { id: 6, mappingId: 1, address: 0x406000, lines: [{ functionId: 5, line: 52 }, { functionId: 3, line: 14 }] },
    ],
    samples: [
      { locationIds: [4, 2, 1], values: [3, 30_000_000] },
      { locationIds: [5, 3, 1], values: [5, 50_000_000] },
      { locationIds: [6, 1], values: [7, 70_000_000] },
      { locationIds: [2, 1], values: [11, 110_000_000] },
      { locationIds: [3, 1], values: [13, 130_000_000] },
    ],
    stringTable: s.strings,
  };
}

const d = goAvailable() ? describe : describe.skip;

d('export keeps files, lines, start lines and inline frames (go tool pprof as the oracle)', () => {
  let dir: string;
  let store: LocalStore;
  let synthetic: string;

  beforeAll(async () => {
    warmUpPprof();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-lines-'));
    store = new LocalStore(dir);
    synthetic = path.join(dir, 'same-names.pb.gz');
    await fs.writeFile(synthetic, gzipSync(encodeProfile(sameNames())));
    const instance = await openDuckDb();
    const writer = await ParquetWriter.create(instance);
    for (const r of RUNS) {
      const file = path.join(FIXTURES, r.run, 'cpu.pb.gz');
      const meta = parseSourceMeta({ service: 'svc-a', instance: r.instance, version: r.version, kind: 'cpu', source: file, sourceId: file });
      await ingestProfileBytes(readFileSync(file), meta, { store, writer });
    }
    const meta = parseSourceMeta({ service: 'synthetic', instance: 'i1', version: 'v1', kind: 'cpu', source: synthetic, sourceId: synthetic });
    await ingestProfileBytes(readFileSync(synthetic), meta, { store, writer });
    writer.close();
    instance.closeSync();
  }, 300_000);

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('the real CPU fixtures have inlined frames (else this test proves nothing)', () => {
    const rows = pprofTop(RUNS.map((r) => path.join(FIXTURES, r.run, 'cpu.pb.gz')), { extraArgs: ['-lines'] }).rows;
    expect(rows.some((r) => r.inline)).toBe(true);
    expect(rows.some((r) => / \S+\.go:\d+$/.test(r.name))).toBe(true);
  });

  for (const sampleIndex of ['samples', 'cpu']) {
    test(`CPU fixtures merged, ${sampleIndex}: export prints the same rows at every granularity`, async () => {
      const files = RUNS.map((r) => path.join(FIXTURES, r.run, 'cpu.pb.gz'));
      const engine = await openEngine(store, {}, [dir]);
      try {
        const out = path.join(dir, `export-${sampleIndex}.pb.gz`);
        await fs.writeFile(out, await exportMerged(engine, { kind: 'cpu', service: 'svc-a' }));
        for (const g of GRANULARITIES) {
          const want = pprofTop(files, { sampleIndex, extraArgs: g });
          const got = pprofTop([out], { sampleIndex, extraArgs: g });
          expect({ g, total: got.total, rows: got.rows }).toEqual({ g, total: want.total, rows: want.rows });
        }
      } finally {
        engine.close();
      }
    }, 120_000);
  }

  test('same-named functions: kept apart by file and start line where pprof keeps them apart', async () => {
    // What pprof itself does: -top (functions granularity) clears file names before building its
    // graph, so the two main.handle are one row; -filefunctions and -lines keep them apart.
    const fnRows = pprofTop([synthetic], { sampleIndex: 'samples' }).rows;
    expect(fnRows.filter((r) => r.name === 'main.handle')).toHaveLength(1);
    expect(fnRows.filter((r) => r.name === 'util.parse')).toHaveLength(1);
    const ffRows = pprofTop([synthetic], { sampleIndex: 'samples', extraArgs: ['-filefunctions'] }).rows;
    expect(ffRows.filter((r) => r.name.startsWith('main.handle ')).map((r) => r.name).sort()).toEqual(['main.handle svc/a/handler.go', 'main.handle svc/b/handler.go']);

    // The stacks rows keep both identities: one function per (name, file, start line).
    const frames = buildFrameTable(decodeProfile(readFileSync(synthetic)));
    expect(frames.names.filter((n) => n === 'main.handle')).toHaveLength(1);
    expect(frames.functions.filter((f) => f.name === 'main.handle').map((f) => f.file).sort()).toEqual(['svc/a/handler.go', 'svc/b/handler.go']);
    expect(frames.functions.filter((f) => f.name === 'util.parse').map((f) => f.startLine).sort((a, b) => a - b)).toEqual([5, 50]);
    const stacks = aggregateStacks(decodeProfile(readFileSync(synthetic)), frames);
    expect(new Set(stacks.map((s) => s.stackId)).size).toBe(stacks.length);

    const engine = await openEngine(store, {}, [dir]);
    try {
      // fleetprof top is functions granularity: equals pprof -top, both main.handle in one row.
      for (const sampleType of ['samples', 'cpu']) {
        const ours = await top(engine, { kind: 'cpu', service: 'synthetic', sampleType });
        const want = pprofTop([synthetic], { sampleIndex: sampleType });
        expect(ours.functions.map((f) => [f.name, BigInt(f.flat), BigInt(f.cum)])).toEqual(want.rows.map((r) => [r.name, r.flat, r.cum]));
      }
      const out = path.join(dir, 'export-same-names.pb.gz');
      await fs.writeFile(out, await exportMerged(engine, { kind: 'cpu', service: 'synthetic' }));
      for (const g of GRANULARITIES) {
        const want = pprofTop([synthetic], { sampleIndex: 'samples', extraArgs: g });
        const got = pprofTop([out], { sampleIndex: 'samples', extraArgs: g });
        expect({ g, rows: got.rows }).toEqual({ g, rows: want.rows });
      }
      // A start line is part of the identity even where pprof prints nothing of it: the export
      // has both util.parse functions (pprof -raw lists functions by id with their start line).
      const exported = decodeProfile(await fs.readFile(out));
      expect(exported.functions.filter((f) => f.name === 'util.parse').map((f) => f.startLine).sort((a, b) => a - b)).toEqual([5, 50]);
    } finally {
      engine.close();
    }
  }, 120_000);

  test('stacks files written before files, start lines and inline flags existed: still queried, exported and compacted', async () => {
    const old = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-old-stacks-'));
    try {
      const oldStore = new LocalStore(old);
      const instance = await openDuckDb();
      const writer = await ParquetWriter.create(instance);
      const file = path.join(FIXTURES, RUNS[0].run, 'cpu.pb.gz');
      const meta = parseSourceMeta({ service: 'svc-a', instance: 'i1', version: 'v1', kind: 'cpu', source: file, sourceId: file });
      await ingestProfileBytes(readFileSync(file), meta, { store: oldStore, writer });
      // Rewrite the stacks file as the previous layout wrote it: without the three columns.
      const conn = await instance.connect();
      const stackFiles = (await oldStore.list('fresh/stacks/')).filter((o) => o.key.endsWith('.parquet'));
      expect(stackFiles).toHaveLength(1);
      const f = await oldStore.localPath(stackFiles[0]);
      await conn.run(`COPY (SELECT * EXCLUDE (files, start_lines, inlined) FROM read_parquet('${f}')) TO '${f}.old' (FORMAT parquet)`);
      await fs.rename(`${f}.old`, f);
      conn.closeSync();
      const check = async () => {
        const engine = await openEngine(oldStore, {}, [old]);
        try {
          const out = path.join(old, 'export.pb.gz');
          await fs.writeFile(out, await exportMerged(engine, { kind: 'cpu' }));
          // Function granularity is whole; lines without files (what the old layout could say).
          expect(pprofTop([out], { sampleIndex: 'cpu' }).rows.map((r) => [r.name, r.flat, r.cum])).toEqual(pprofTop([file], { sampleIndex: 'cpu' }).rows.map((r) => [r.name, r.flat, r.cum]));
          const t = await top(engine, { kind: 'cpu', sampleType: 'cpu', labels: { handler: 'checkout' } });
          expect(t.functions.length).toBeGreaterThan(0);
        } finally {
          engine.close();
        }
      };
      await check();
      await compact(oldStore, writer, { closedBefore: Infinity });
      await check();
      writer.close();
      instance.closeSync();
    } finally {
      await fs.rm(old, { recursive: true, force: true });
    }
  }, 120_000);
});
