import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

// Whether the ingest workers' esbuild bundle (scripts/build-ingest-worker.mjs, `npm run build`)
// still holds the compiled files it was built from. `tsc` alone rewrites dist/ without rebuilding
// it: a bundle judged by its age alone either ran old code (a changed module, the entry file
// untouched) or was skipped without a word (the entry rewritten). The build writes, beside the
// bundle, the list of the package's files it bundled with their size, mtime and SHA-256
// (WorkerBundleInputs; node_modules are left out: where a dependency sits depends on how the
// package was installed); the bundle is current when every listed file has its size and either
// its mtime or its hash (a file tsc rewrote unchanged, an unpacked package's mtimes).

export const BUNDLE_NAME = 'ingest-worker.bundle.js';
export const BUNDLE_INPUTS_NAME = 'ingest-worker.bundle.json';

/** What the build records (paths relative to the bundle's directory). */
export interface WorkerBundleInputs {
  readonly version: 1;
  readonly inputs: readonly { readonly path: string; readonly size: number; readonly mtimeMs: number; readonly sha256: string }[];
}

export type BundleState = { readonly ok: true; readonly file: string } | { readonly ok: false; readonly reason: string };

/** The bundle in `dir`, or why it cannot be used (missing, no input list, or the first input that changed since it was built). */
export function bundleState(dir: string): BundleState {
  const file = path.join(dir, BUNDLE_NAME);
  if (!statSync(file, { throwIfNoEntry: false })) return { ok: false, reason: `${file} is missing` };
  let list: WorkerBundleInputs;
  try {
    list = JSON.parse(readFileSync(path.join(dir, BUNDLE_INPUTS_NAME), 'utf8')) as WorkerBundleInputs;
  } catch {
    return { ok: false, reason: `${path.join(dir, BUNDLE_INPUTS_NAME)} (what it was built from) is missing or unreadable` };
  }
  if (list.version !== 1 || !Array.isArray(list.inputs)) return { ok: false, reason: `${path.join(dir, BUNDLE_INPUTS_NAME)}: unknown version` };
  for (const i of list.inputs) {
    const p = path.resolve(dir, i.path);
    const st = statSync(p, { throwIfNoEntry: false });
    const same = st !== undefined && st.size === i.size && (st.mtimeMs === i.mtimeMs || createHash('sha256').update(readFileSync(p)).digest('hex') === i.sha256);
    if (!same) return { ok: false, reason: `${p} ${st ? 'changed' : 'is gone'} since the bundle was built` };
  }
  return { ok: true, file };
}
