import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FreshBatch, prepareUpload, prepareUploadSource, publishEntries, type Prepared, type PreparedUpload } from '../../lib/ingest';
import { fileSource } from '../../lib/decode/sources';
import { kindFromPath } from '../../lib/decode/kind';
import type { ProfileKind } from '../../lib/model/profile';
import { parseSourceMeta, type SourceMeta } from '../../lib/model/source';
import type { Temporality } from '../../lib/model/temporality';
import type { PublishTarget } from '../../lib/store/publish';
import { readStdin, STDIO } from './stdio';

// The loop of `fleetprof ingest` over its inputs: decode + normalize one file at a time, write a
// chunk of inputs at a time as one batch (one file per table per UTC hour, layout v2). It runs in
// the CLI's process (--jobs 1) or in each worker thread of ingest-workers.ts, each on its own
// DuckDB and its own batches, fed one file at a time.

export interface IngestOptions {
  data: string;
  service: string;
  instance: string;
  version: string;
  label: Record<string, string>;
  type?: ProfileKind;
  /** Deprecated name of `type`. */
  kind?: ProfileKind;
  start?: number;
  process?: string;
  temporality?: Temporality;
  maxDecompressed?: number;
  /** Ingest both files of a text/protobuf twin pair. */
  keepTwins?: boolean;
  /** Worker threads (ingest-workers.ts); undefined or 1: in this process; 'auto': the CLI's default (ingest.ts). */
  jobs?: number | 'auto';
}

/** What the loop reports, per file started and per input written or failed. */
export interface IngestSink {
  started(file: string): void;
  /** A line for the operator (a failure's reason, a warning). */
  note(line: string): void;
  /** One input written, with its rows. */
  ok(rows: number): void;
  /** One input (or a whole file) failed. */
  failed(): void;
}

/**
 * Inputs per batch file at most (besides the batch's row limit): a crash loses at most this much
 * work, and two chunks are held at once (one written while the next is decoded). Per chunk the
 * fixed cost is one COPY per table and hour (~10 ms each), small next to 200 inputs' decoding;
 * 1,000 gave one chunk for most directories, so nothing overlapped (and ~100 MB more peak RSS).
 */
const CHUNK_INPUTS = 200;

/**
 * Files larger than this are first offered to the decoders that read a file in passes without
 * holding it (a plain gctrace log, #13); smaller ones, and the formats that need their bytes whole,
 * are read whole.
 */
const SOURCE_BYTES = 16 * 1024 * 1024;

/** Ingests the files `next` gives (undefined: no more) into `target`, reporting to `sink`. */
export async function ingestLoop(next: () => Promise<string | undefined>, opts: IngestOptions, type: ProfileKind | undefined, target: PublishTarget, sink: IngestSink): Promise<void> {
  const { store, writer } = target;
  // Inputs are decoded one by one and written a chunk at a time: one file per table per UTC hour
  // per chunk (layout v2), flushed when the chunk holds CHUNK_INPUTS inputs or too many rows.
  let batch = new FreshBatch({ store, writer });
  let chunk: { where: string; prepared: Prepared }[] = [];
  // The profiles of the chunk: the same bytes twice in one run (a path given twice, a copy) would
  // land in ONE file, where the dedupe rule (per file: lib/store/dedupe.ts) cannot drop either.
  let inChunk = new Set<string>();
  const counted = (it: (typeof chunk)[number]) => {
    let rows = 0;
    for (const n of Object.values(it.prepared.result.rows)) rows += n ?? 0;
    sink.ok(rows);
  };
  // One chunk is written while the next is decoded: the COPYs run on DuckDB's threads, so the
  // decoding (JS, one thread) and the writing overlap on a 2-core machine. At most two chunks
  // are held; `write` never rejects.
  let writing: Promise<void> = Promise.resolve();
  const flush = async () => {
    const items = chunk;
    chunk = [];
    inChunk = new Set();
    batch = new FreshBatch({ store, writer });
    await writing;
    writing = write(items);
  };
  const write = async (items: typeof chunk) => {
    if (items.length === 0) return;
    try {
      const b = new FreshBatch({ store, writer }, { maxRows: Infinity });
      for (const it of items) b.add(it.prepared.entries);
      await b.publish();
      items.forEach(counted);
    } catch {
      // Which input did the writer refuse? Each on its own, so only that one fails.
      for (const it of items) {
        try {
          await publishEntries({ store, writer }, it.prepared.entries);
          counted(it);
        } catch (e) {
          sink.failed();
          sink.note(`${it.where}: ${(e as Error).message}`);
        }
      }
    }
  };
  try {
    for (let file = await next(); file !== undefined; file = await next()) {
      sink.started(file);
      try {
        const f = file;
        const metaOf = (contentHash: string) =>
          parseSourceMeta({
            service: opts.service,
            instance: opts.instance,
            version: opts.version,
            labels: opts.label,
            kind: type ?? (f === STDIO ? undefined : kindFromPath(f)),
            startUs: opts.start,
            process: opts.process,
            temporality: opts.temporality,
            source: f === STDIO ? 'stdin' : path.resolve(f),
            // Same bytes from the same instance are the same profile: re-ingesting counts once.
            sourceId: `local:${opts.service}/${opts.instance}/${contentHash}`,
          });
        const up = (file !== STDIO && (await prepareLargeFile(file, metaOf))) || (await prepareWhole(file, metaOf, opts));
        for (const n of up.notes) sink.note(`${file}: note: ${n}`);
        for (const r of up.inputs) {
          // A bundle's members count one by one; a bad member fails alone, naming bundle and member.
          const where = r.member ? `${file}!${r.member}` : file;
          if (!r.ok) {
            sink.failed();
            sink.note(`${where}: ${(r.error as Error).message}`);
            continue;
          }
          // Still ingested (the good lines are in): warn, do not fail.
          if (r.prepared.result.input !== 'profile') for (const w of r.prepared.result.warnings) sink.note(`${where}: warning: ${w}`);
          if (inChunk.has(r.prepared.result.profileId)) {
            sink.note(`${where}: note: the same profile as an earlier input of this run; its rows are written once`);
            sink.ok(0);
            continue;
          }
          inChunk.add(r.prepared.result.profileId);
          chunk.push({ where, prepared: r.prepared });
          batch.add(r.prepared.entries);
        }
        if (batch.full || chunk.length >= CHUNK_INPUTS) await flush();
      } catch (e) {
        sink.failed();
        sink.note(`${file}: ${(e as Error).message}`);
      }
    }
    await flush();
    await writing;
  } finally {
    await writing;
  }
}

type MetaOf = (contentHash: string) => SourceMeta;

async function prepareWhole(file: string, metaOf: MetaOf, opts: IngestOptions): Promise<PreparedUpload> {
  const bytes = file === STDIO ? await readStdin() : await fs.readFile(file);
  return prepareUpload(bytes, metaOf(createHash('sha256').update(bytes).digest('hex')), { maxDecompressedBytes: opts.maxDecompressed });
}

/** A large file its decoder reads in passes from disk (prepareSource), or undefined (read it whole). */
async function prepareLargeFile(file: string, metaOf: MetaOf): Promise<PreparedUpload | undefined> {
  const st = await fs.stat(file);
  if (st.size <= SOURCE_BYTES) return undefined;
  const src = fileSource(file, st);
  const hash = createHash('sha256');
  for (const s of src.slices()) hash.update(s);
  return prepareUploadSource(src, metaOf(hash.digest('hex')));
}
