import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { ingestBytes } from '../../lib/ingest';
import { kindFromPath } from '../../lib/decode/kind';
import { parseSourceMeta } from '../../lib/model/source';
import type { ProfileKind } from '../../lib/model/profile';
import { openLocalWriter } from './local';

export interface IngestOptions {
  data: string;
  service: string;
  instance: string;
  version: string;
  label: Record<string, string>;
  kind?: ProfileKind;
  start?: number;
  maxDecompressed?: number;
}

/** Files under the given paths, in a stable order; hidden files and directories are skipped. */
export async function expandPaths(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  const visit = async (p: string): Promise<void> => {
    const st = await fs.stat(p);
    if (st.isDirectory()) {
      const entries = (await fs.readdir(p)).filter((e) => !e.startsWith('.')).sort();
      for (const e of entries) await visit(path.join(p, e));
    } else if (st.isFile()) out.push(p);
  };
  for (const p of paths) await visit(p);
  return out;
}

export async function runIngest(paths: string[], opts: IngestOptions): Promise<number> {
  const files = await expandPaths(paths).catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    return null;
  });
  if (!files) return 1;
  const { store, writer, close } = await openLocalWriter(opts.data);
  const bar = process.stderr.isTTY ? new SingleBar({ format: 'ingest [{bar}] {value}/{total} {file}', hideCursor: true }, Presets.shades_classic) : null;
  bar?.start(files.length, 0, { file: '' });
  let ok = 0;
  let failed = 0;
  let rows = 0;
  const t0 = Date.now();
  try {
    for (const file of files) {
      bar?.update({ file: path.basename(file) });
      try {
        const bytes = await fs.readFile(file);
        const contentHash = createHash('sha256').update(bytes).digest('hex');
        const meta = parseSourceMeta({
          service: opts.service,
          instance: opts.instance,
          version: opts.version,
          labels: opts.label,
          kind: opts.kind ?? kindFromPath(file),
          startUs: opts.start,
          source: path.resolve(file),
          // Same bytes from the same instance are the same profile: re-ingesting replaces it.
          sourceId: `local:${opts.service}/${opts.instance}/${contentHash}`,
        });
        const r = await ingestBytes(bytes, meta, { store, writer, decode: { maxDecompressedBytes: opts.maxDecompressed } });
        for (const n of Object.values(r.rows)) rows += n ?? 0;
        ok++;
        if (r.input !== 'profile' && r.warnings.length > 0) {
          // Still ingested (the good lines are in): warn, do not fail.
          bar?.stop();
          for (const w of r.warnings) process.stderr.write(`${file}: warning: ${w}\n`);
          bar?.start(files.length, ok + failed - 1, { file: '' });
        }
      } catch (e) {
        failed++;
        bar?.stop();
        process.stderr.write(`${file}: ${(e as Error).message}\n`);
        bar?.start(files.length, ok + failed, { file: '' });
      }
      bar?.increment();
    }
  } finally {
    bar?.stop();
    await close();
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(2);
  process.stderr.write(`ingested ${ok} of ${files.length} inputs (${failed} failed, ${rows} rows) into ${opts.data} in ${secs}s\n`);
  return failed === 0 ? 0 : 1;
}
