import type { Temporality } from '../../lib/model/temporality';
import { TEMPORALITIES } from '../../lib/model/temporality';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { FreshBatch, prepareUpload, prepareUploadSource, publishEntries, type Prepared, type PreparedUpload } from '../../lib/ingest';
import type { SourceMeta } from '../../lib/model/source';
import { fileSource } from '../../lib/decode/sources';
import { kindFromPath } from '../../lib/decode/kind';
import { parseSourceMeta } from '../../lib/model/source';
import { PROFILE_KINDS, type ProfileKind } from '../../lib/model/profile';
import { withWriter } from './engine';
import { collectLabel, dataOption, isoTime, positiveInt, resolveType, typeOptions } from './options';
import { progress } from './progress';
import { action, CliError, EXIT } from './run';
import { readStdin, STDIO } from './stdio';
import { findTwins } from './twins';

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

export function register(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('decode profiles, gctrace logs and runtime/metrics snapshots into the tables of a data directory')
    .addOption(dataOption('data directory (created if missing)'))
    .requiredOption('--service <name>', 'service name')
    .requiredOption('--instance <id>', 'instance id')
    .option('--version <v>', 'service version', '')
    .option('--label <k=v>', 'upload label (repeatable)', collectLabel, {});
  typeOptions(cmd, 'declared kind (decides block vs mutex, heap vs allocs text)', PROFILE_KINDS, false)
    .option('--start <time>', 'capture start for inputs with no timestamp of their own (debug=1 text; process start of a gctrace log)', isoTime)
    .option('--process <id>', "identity of the process that wrote the profiles (e.g. its run id); default '' (unknown)")
    .addOption(new Option('--temporality <t>', "how counter sample types were written (default cumulative: Go's own snapshots)").choices(TEMPORALITIES))
    .option('--max-decompressed <bytes>', 'refuse inputs that decompress to more than this', positiveInt)
    .option('--keep-twins', 'ingest both heap.pb.gz and heap.debug1.txt of a capture (default: the text twin is skipped)')
    .argument('<paths...>', 'files or directories; - reads one input from stdin')
    .action(action('ingest', runIngest));
}

/** Files under the given paths, in a stable order; hidden files and directories are skipped. */
export async function expandPaths(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  const visit = async (p: string): Promise<void> => {
    if (p === STDIO) return void out.push(p);
    const st = await fs.stat(p);
    if (st.isDirectory()) {
      const entries = (await fs.readdir(p)).filter((e) => !e.startsWith('.')).sort();
      for (const e of entries) await visit(path.join(p, e));
    } else if (st.isFile()) out.push(p);
  };
  for (const p of paths) await visit(p);
  if (out.filter((p) => p === STDIO).length > 1) throw new CliError('- (stdin) can be given once');
  return out;
}

export async function runIngest(paths: string[], opts: IngestOptions): Promise<number> {
  const type = resolveType(opts, 'ingest');
  let files = await expandPaths(paths).catch((e: Error) => {
    throw e instanceof CliError ? e : new CliError(e.message);
  });
  if (files.length === 0) throw new CliError(`no files under ${paths.join(' ')}`);
  let skipped = 0;
  if (!opts.keepTwins) {
    const twins = await findTwins(files.filter((f) => f !== STDIO));
    const drop = new Set(twins.map((t) => t.skipped));
    for (const t of twins) process.stderr.write(`${t.skipped}: skipped, the text twin of ${path.basename(t.kept)} (same kind and capture; --keep-twins ingests both)\n`);
    files = files.filter((f) => !drop.has(f));
    skipped = drop.size;
  }
  const t0 = Date.now();
  let ok = 0;
  let failed = 0;
  let rows = 0;
  await withWriter(opts.data, async ({ store, writer }) => {
    const bar = progress('ingest', files.length);
    // Inputs are decoded one by one and written a chunk at a time: one file per table per UTC hour
    // per chunk (layout v2), flushed when the chunk holds CHUNK_INPUTS inputs or too many rows.
    let batch = new FreshBatch({ store, writer });
    let chunk: { where: string; prepared: Prepared }[] = [];
    const counted = (it: (typeof chunk)[number]) => {
      for (const n of Object.values(it.prepared.result.rows)) rows += n ?? 0;
      ok++;
    };
    // One chunk is written while the next is decoded: the COPYs run on DuckDB's threads, so the
    // decoding (JS, one thread) and the writing overlap on a 2-core machine. At most two chunks
    // are held; `write` never rejects.
    let writing: Promise<void> = Promise.resolve();
    const flush = async () => {
      const items = chunk;
      chunk = [];
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
            failed++;
            bar.note(`${it.where}: ${(e as Error).message}`);
          }
        }
      }
    };
    try {
      for (const [i, file] of files.entries()) {
        bar.update(i, file === STDIO ? 'stdin' : path.basename(file));
        try {
          const metaOf = (contentHash: string) =>
            parseSourceMeta({
              service: opts.service,
              instance: opts.instance,
              version: opts.version,
              labels: opts.label,
              kind: type ?? (file === STDIO ? undefined : kindFromPath(file)),
              startUs: opts.start,
              process: opts.process,
              temporality: opts.temporality,
              source: file === STDIO ? 'stdin' : path.resolve(file),
              // Same bytes from the same instance are the same profile: re-ingesting counts once.
              sourceId: `local:${opts.service}/${opts.instance}/${contentHash}`,
            });
          const up = (file !== STDIO && (await prepareLargeFile(file, metaOf))) || (await prepareWhole(file, metaOf, opts));
          for (const n of up.notes) bar.note(`${file}: note: ${n}`);
          for (const r of up.inputs) {
            // A bundle's members count one by one; a bad member fails alone, naming bundle and member.
            const where = r.member ? `${file}!${r.member}` : file;
            if (!r.ok) {
              failed++;
              bar.note(`${where}: ${(r.error as Error).message}`);
              continue;
            }
            // Still ingested (the good lines are in): warn, do not fail.
            if (r.prepared.result.input !== 'profile') for (const w of r.prepared.result.warnings) bar.note(`${where}: warning: ${w}`);
            chunk.push({ where, prepared: r.prepared });
            batch.add(r.prepared.entries);
          }
          if (batch.full || chunk.length >= CHUNK_INPUTS) await flush();
        } catch (e) {
          failed++;
          bar.note(`${file}: ${(e as Error).message}`);
        }
      }
      await flush();
      await writing;
      bar.update(files.length);
    } finally {
      await writing;
      bar.stop();
    }
  });
  const secs = ((Date.now() - t0) / 1000).toFixed(2);
  const twinNote = skipped > 0 ? `, ${skipped} text twin(s) skipped` : '';
  process.stderr.write(`ingested ${ok} of ${ok + failed} inputs (${failed} failed, ${rows} rows${twinNote}) into ${opts.data} in ${secs}s\n`);
  return failed === 0 ? EXIT.ok : EXIT.failed;
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
