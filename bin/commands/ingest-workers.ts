import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { ProfileKind } from '../../lib/model/profile';
import type * as Engine from './engine';
import type * as Loop from './ingest-loop';
import type { IngestOptions, IngestSink } from './ingest-loop';
import { bundleState } from './worker-bundle';

// `fleetprof ingest --jobs N`: this thread and N - 1 worker threads ingest side by side, each with
// its own DuckDB (one thread) and its own batches (batch ids are random, so their files never
// collide), taking files one at a time from one list (a worker keeps the next one in hand, so it
// does not wait while this thread decodes). Lambda scales the same way, by concurrent invocations
// of one-threaded DuckDB (lambdas/ingest.ts). Memory is bounded per thread as it is for one
// process: at most two chunks of inputs held (ingest-loop.ts), so the peak grows with N.
// This file is also the workers' entry point (the code under the `isMainThread` test below).
//
// The decoders, the store and DuckDB's binding are loaded only after the workers are started
// (loadIngest): loading them is most of a thread's start (~0.25 s of CPU of the ~0.4 s with its
// DuckDB), and on a 2-core machine the worker's own start then runs beside this thread's instead
// of after it.

/**
 * The file a worker runs: the build's bundle of this file and everything it loads
 * (scripts/build-ingest-worker.mjs; one file to load instead of ~250 cuts a worker's start by a third),
 * unless it is missing or stale (worker-bundle.ts: `tsc` run without the bundle step), then this
 * file: the same code, a slower start, said once on stderr. From the TypeScript sources (tests)
 * there is no bundle to expect, and nothing is said.
 */
function workerFile(): string {
  if (!__filename.endsWith('.js')) return __filename;
  const b = bundleState(__dirname);
  if (b.ok) return b.file;
  if (!warned) process.stderr.write(`fleetprof ingest: the worker bundle is not used (${b.reason}); workers load the unbundled modules, which starts them slower: run npm run build\n`);
  warned = true;
  return __filename;
}
let warned = false;

/** The ingest loop and the writer, loaded on first use (see above). */
export function loadIngest(): { withWriter: typeof Engine.withWriter; ingestLoop: typeof Loop.ingestLoop } {
  const { withWriter } = require('./engine') as typeof Engine;
  const { ingestLoop } = require('./ingest-loop') as typeof Loop;
  return { withWriter, ingestLoop };
}

/** Worker -> main thread. */
type Report = { t: 'next' } | { t: 'started'; file: string } | { t: 'note'; line: string } | { t: 'ok'; rows: number } | { t: 'failed' };

interface WorkerInput {
  readonly fleetprofIngestWorker: true;
  readonly opts: IngestOptions;
  readonly type?: ProfileKind;
}

/**
 * Ingests `files` on this thread and `jobs - 1` workers into opts.data; returns when every one has
 * written everything it took. A worker that dies (out of memory, a crash in native code) is reported as
 * a failure; the files it held but had not written are not ingested (running ingest again over
 * the same files is safe: readers keep one copy of each profile).
 */
export async function ingestOnWorkers(files: readonly string[], jobs: number, opts: IngestOptions, type: ProfileKind | undefined, sink: IngestSink): Promise<void> {
  let nextFile = 0;
  const take = () => (nextFile < files.length ? files[nextFile++] : undefined);
  const input: WorkerInput = { fleetprofIngestWorker: true, opts: { ...opts, jobs: 1 }, type };
  const file = workerFile();
  const one = () =>
    new Promise<void>((resolve) => {
      const w = new Worker(file, { workerData: input });
      let ended = false;
      w.on('message', (m: Report) => {
        switch (m.t) {
          case 'next':
            w.postMessage(take() ?? null);
            break;
          case 'started':
            sink.started(m.file);
            break;
          case 'note':
            sink.note(m.line);
            break;
          case 'ok':
            sink.ok(m.rows);
            break;
          case 'failed':
            sink.failed();
            break;
        }
      });
      w.on('error', (e) => {
        if (ended) return;
        ended = true;
        sink.failed();
        sink.note(`ingest worker failed: ${e.message}; inputs it held unwritten are not ingested`);
        resolve();
      });
      w.on('exit', (code) => {
        if (ended) return;
        ended = true;
        if (code !== 0) {
          sink.failed();
          sink.note(`ingest worker exited with code ${code}; inputs it held unwritten are not ingested`);
        }
        resolve();
      });
    });
  const workers = Array.from({ length: jobs - 1 }, one);
  try {
    const { withWriter, ingestLoop } = loadIngest();
    await withWriter(opts.data, (w) => ingestLoop(async () => take(), opts, type, w, sink), ONE_THREAD);
  } finally {
    await Promise.all(workers);
  }
}

/**
 * One DuckDB thread per ingesting thread: the parallelism is theirs (as the Lambda's is its
 * invocations'), and a batch's COPYs are small (ParquetWriter.write runs them on one thread).
 */
const ONE_THREAD = { threads: 1 };

async function workerMain(input: WorkerInput): Promise<void> {
  const port = parentPort!;
  const post = (r: Report) => port.postMessage(r);
  // One file asked for ahead: the answer comes when the main thread is between its own inputs.
  const answers: Promise<string | undefined>[] = [];
  const waiting: ((file: string | undefined) => void)[] = [];
  port.on('message', (file: string | null) => waiting.shift()?.(file ?? undefined));
  const ask = () => {
    answers.push(new Promise((resolve) => waiting.push(resolve)));
    post({ t: 'next' });
  };
  ask();
  const next = async () => {
    const file = await answers.shift()!;
    if (file !== undefined) ask();
    return file;
  };
  const sink: IngestSink = {
    started: (file) => post({ t: 'started', file }),
    note: (line) => post({ t: 'note', line }),
    ok: (rows) => post({ t: 'ok', rows }),
    failed: () => post({ t: 'failed' }),
  };
  const { withWriter, ingestLoop } = loadIngest();
  await withWriter(input.opts.data, (w) => ingestLoop(next, input.opts, input.type, w, sink), ONE_THREAD);
  port.close();
}

const data = workerData as WorkerInput | undefined;
if (!isMainThread && data?.fleetprofIngestWorker) {
  // Thrown again outside the promise: the main thread gets it as the worker's 'error' event.
  workerMain(data).catch((e: unknown) =>
    setImmediate(() => {
      throw e;
    }),
  );
}
