// Bundles the worker threads of `fleetprof ingest --jobs N` into one file (npm run build runs it
// after tsc): dist/bin/commands/ingest-worker.bundle.js, the compiled ingest-workers.js with every
// module it loads (the decoders, the store, zod, @duckdb/node-api's JS; not the native binding).
// A worker thread loads its modules again in its own V8 isolate; from ~250 files that start was
// ~300 ms of CPU per worker, from one file ~190 (measured, docs/performance.md "Ingest").
// Beside it, ingest-worker.bundle.json lists the package's files it was built from (size, mtime,
// SHA-256): bin/commands/worker-bundle.ts judges the bundle stale when one of them changed (tsc
// run alone after a change), and the workers then run the unbundled file, with a warning.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist/bin/commands');
const r = await build({
  entryPoints: [join(root, 'dist/bin/commands/ingest-workers.js')],
  outfile: join(outDir, 'ingest-worker.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // The native binding: loaded from node_modules as it is, once per process.
  external: ['@duckdb/node-bindings'],
  legalComments: 'eof',
  logLevel: 'warning',
  metafile: true,
  absWorkingDir: root,
});
const inputs = Object.keys(r.metafile.inputs)
  .filter((p) => !p.split(/[\\/]/).includes('node_modules'))
  .sort()
  .map((p) => {
    const abs = resolve(root, p);
    const st = statSync(abs);
    return { path: relative(outDir, abs), size: st.size, mtimeMs: st.mtimeMs, sha256: createHash('sha256').update(readFileSync(abs)).digest('hex') };
  });
writeFileSync(join(outDir, 'ingest-worker.bundle.json'), JSON.stringify({ version: 1, inputs }) + '\n');
