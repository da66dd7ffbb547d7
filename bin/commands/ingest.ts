import { TEMPORALITIES } from '../../lib/model/temporality';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { PROFILE_KINDS } from '../../lib/model/profile';
import type { IngestOptions, IngestSink } from './ingest-loop';
import { ingestOnWorkers, loadIngest } from './ingest-workers';
import { collectLabel, dataOption, isoTime, positiveInt, resolveType, typeOptions } from './options';
import { progress } from './progress';
import { action, CliError, EXIT } from './run';
import { STDIO } from './stdio';
import { findTwins } from './twins';

export type { IngestOptions } from './ingest-loop';

/**
 * Workers by default: one per core, at most 4 (each holds its own DuckDB and up to two chunks of
 * inputs, ~300 MB at the peak measured with agent bundles; docs/cli.md).
 */
export function defaultJobs(): number {
  return Math.max(1, Math.min(os.availableParallelism(), 4));
}

function jobsArg(value: string): number {
  const n = positiveInt(value);
  if (n < 1) throw new InvalidArgumentError(`--jobs takes 1 or more, got "${value}"`);
  return n;
}

/**
 * With the default --jobs, a directory of fewer than this many files per worker is ingested in
 * this process: a worker's start (its modules and its DuckDB, ~0.3-0.5 s of CPU) costs more
 * than it saves there.
 */
const FILES_PER_WORKER = 16;

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
    .option('--jobs <n>', 'worker threads decoding and writing inputs side by side, each with its own DuckDB (default: one per core, at most 4; 1: in this process)', jobsArg)
    .argument('<paths...>', 'files or directories; - reads one input from stdin')
    .action(action('ingest', (paths: string[], o: IngestOptions) => runIngest(paths, { ...o, jobs: o.jobs ?? 'auto' })));
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
  let started = 0;
  const bar = progress('ingest', files.length);
  const sink: IngestSink = {
    started: (file) => bar.update(started++, file === STDIO ? 'stdin' : path.basename(file)),
    note: (line) => bar.note(line),
    ok: (n) => {
      ok++;
      rows += n;
    },
    failed: () => void failed++,
  };
  // Workers only for files on disk; with the CLI's default ('auto'), only for enough of them.
  const jobs = files.includes(STDIO) ? 1 : opts.jobs === 'auto' ? Math.min(defaultJobs(), Math.floor(files.length / FILES_PER_WORKER)) : Math.min(opts.jobs ?? 1, files.length);
  try {
    if (jobs > 1) {
      await fs.mkdir(opts.data, { recursive: true });
      await ingestOnWorkers(files, jobs, opts, type, sink);
    } else {
      let i = 0;
      const next = async () => (i < files.length ? files[i++] : undefined);
      const { withWriter, ingestLoop } = loadIngest();
      await withWriter(opts.data, ({ store, writer }) => ingestLoop(next, opts, type, { store, writer }, sink));
    }
    bar.update(files.length);
  } finally {
    bar.stop();
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(2);
  const twinNote = skipped > 0 ? `, ${skipped} text twin(s) skipped` : '';
  process.stderr.write(`ingested ${ok} of ${ok + failed} inputs (${failed} failed, ${rows} rows${twinNote}) into ${opts.data} in ${secs}s\n`);
  return failed === 0 ? EXIT.ok : EXIT.failed;
}
