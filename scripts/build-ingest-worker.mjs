// Bundles the worker threads of `fleetprof ingest --jobs N` into one file (npm run build runs it
// after tsc): dist/bin/commands/ingest-worker.bundle.js, the compiled ingest-workers.js with every
// module it loads (the decoders, the store, zod, @duckdb/node-api's JS; not the native binding).
// A worker thread loads its modules again in its own V8 isolate; from ~250 files that start was
// ~300 ms of CPU per worker, from one file ~190 (measured, docs/performance.md "Ingest").
// bin/commands/ingest-workers.ts falls back to the unbundled file when this one is missing or
// older than it (tsc run alone after a change).
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(root, 'dist/bin/commands/ingest-workers.js')],
  outfile: join(root, 'dist/bin/commands/ingest-worker.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // The native binding: loaded from node_modules as it is, once per process.
  external: ['@duckdb/node-bindings'],
  legalComments: 'eof',
  logLevel: 'warning',
});
