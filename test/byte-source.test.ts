// Large plain inputs are decoded from a ByteSource read in slices, never held whole (#13: the
// 285 MB log): the same rows as the bytes path, the same refusals, and a fallback (undefined) for
// what only the bytes path reads (gzip, profiles, a log whose head is application output). The
// file source used by `fleetprof ingest` refuses a file that changes between passes.
import { promises as fs, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { decodeFromSource } from '../lib/decode';
import { prepareBytes, prepareSource } from '../lib/ingest';
import type { ChunkedEntry } from '../lib/store/publish';
import { parseSourceMeta } from '../lib/model/source';
import { fileSource } from '../lib/decode/sources';
import { gctraceLog } from './helpers/gctrace-gen';
import { sliceSource } from './helpers/slice-source';

const START_US = Date.parse('2026-11-20T23:10:00Z') * 1000;
const meta = parseSourceMeta({ service: 'svc', instance: 'i', version: 'v1', startUs: START_US, source: 'x', sourceId: 'test:x' });

const source = sliceSource;

const rowsOf = (entries: readonly unknown[]) => (entries as ChunkedEntry<'gc_cycles'>[]).flatMap((e) => [...e.chunks()].flat());

test('a gctrace log from a source gives the rows and summary of the bytes path, at any slice size', () => {
  // Lines cut by slice edges anywhere, and a multi-byte character in application output.
  const log = Buffer.from(`app started é\n${gctraceLog({ cycles: 500, periodS: 7 })}`);
  const want = prepareBytes(log, meta);
  const wantRows = rowsOf(want.entries);
  for (const slice of [1, 100, 4096, 1 << 20]) {
    const src = source(log, slice);
    const got = prepareSource(src, meta);
    expect(got).toBeDefined();
    expect(src.passes).toBe(2); // the head, the validating pass; rows are read later
    expect(rowsOf(got!.entries)).toEqual(wantRows);
    // Days are known once the rows were read (as they are written).
    expect(got!.result).toEqual({ ...want.result });
    expect(want.result.input === 'gctrace' && want.result.dts).toEqual(['2026-11-20', '2026-11-21']);
  }
});

test('what a source cannot decode falls back to the bytes path; a bad log is refused the same way', () => {
  const log = Buffer.from(gctraceLog({ cycles: 5, periodS: 1 }));
  expect(decodeFromSource(source(gzipSync(log), 1000), { startUs: START_US })).toBeUndefined();
  // runtime/metrics decodes from a source too (lib/decode/formats/runtime-metrics.ts).
  expect(decodeFromSource(source(Buffer.from('{"time":"2026-01-01T00:00:00Z","metrics":{"/a:bytes":1}}'), 1000), {})).toMatchObject({ input: 'runtime-metrics' });
  // No --start: the bytes path says why (the same 'unsupported' route).
  expect(decodeFromSource(source(log, 1000), {})).toBeUndefined();
  // Head of application output only (> 64 KiB): the bytes path's full scan finds the gc lines.
  const late = Buffer.from(`${'app line\n'.repeat(10_000)}${gctraceLog({ cycles: 5, periodS: 1 })}`);
  expect(decodeFromSource(source(late, 1000), { startUs: START_US })).toBeUndefined();
  expect(() => decodeFromSource(source(Buffer.from('gc 1 @0.1s 2%: 0.1+0.2 ms clock, and nothing else\n'), 1000), { startUs: START_US })).toThrow(/gctrace/);
});

test('a file source reads into the slices handed back to it (Slices), and only into its own', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-src-'));
  try {
    const file = path.join(dir, 'gc.log');
    const log = gctraceLog({ cycles: 300, periodS: 7 });
    writeFileSync(file, log);
    const src = fileSource(file, await fs.stat(file), 1000);
    const pass = (back: (slice: Uint8Array) => Uint8Array | undefined) => {
      const it = src.slices();
      const copies: Buffer[] = [];
      const buffers = new Set<ArrayBufferLike>();
      for (let r = it.next(); !r.done; r = it.next(back(r.value))) {
        copies.push(Buffer.from(r.value));
        buffers.add(r.value.buffer);
      }
      expect(Buffer.concat(copies).toString()).toBe(log);
      return buffers.size;
    };
    expect(log.length).toBeGreaterThan(20_000);
    expect(pass((s) => s)).toBe(1); // each slice handed back at once: one buffer for the pass
    expect(pass(() => undefined)).toBe(Math.ceil(log.length / 1000)); // nothing back: a buffer per slice
    expect(pass(() => new Uint8Array(1000))).toBe(Math.ceil(log.length / 1000)); // not its own: never read into
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a file source reads the file on every pass, and refuses a file that changed', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-src-'));
  try {
    const file = path.join(dir, 'gc.log');
    const log = gctraceLog({ cycles: 300, periodS: 7 });
    writeFileSync(file, log);
    const src = fileSource(file, await fs.stat(file), 1000);
    for (let pass = 0; pass < 2; pass++) expect(Buffer.concat([...src.slices()]).toString()).toBe(log);
    const got = prepareSource(src, meta)!;
    expect(rowsOf(got.entries)).toEqual(rowsOf(prepareBytes(Buffer.from(log), meta).entries));
    writeFileSync(file, log + log);
    expect(() => [...src.slices()]).toThrow(/changed while it was being ingested/);
    expect(() => rowsOf(got.entries)).toThrow(/changed while it was being ingested/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
