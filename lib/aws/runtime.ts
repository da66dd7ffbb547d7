import { mkdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDbSettings } from '../store/parquet';

// Lambda runtime settings: DuckDB needs a writable HOME and temp directory (only /tmp is), and an
// explicit memory limit (it would size itself from the host's RAM, not the function's).

/** ~60% of the function's memory for DuckDB; the rest for Node, V8 and the decoded profile. */
export function lambdaDuckDbSettings(env: NodeJS.ProcessEnv = process.env): DuckDbSettings {
  const tmp = os.tmpdir();
  if (!env.HOME || env.HOME === '/home/sbx_user1051') env.HOME = tmp;
  const tempDirectory = processSpillDir(path.join(tmp, 'duckdb_tmp'));
  const mb = lambdaMemoryMb(env);
  const settings: DuckDbSettings = { tempDirectory };
  if (mb !== undefined) {
    settings.memoryLimit = `${Math.max(64, Math.floor(mb * 0.6))}MB`;
    // DuckDB's guidance: ~125 MB per thread.
    settings.threads = Math.max(1, Math.min(os.cpus().length, Math.floor(mb / 512)));
  }
  return settings;
}

const spillDirs = new Set<string>();

/**
 * DuckDB's spill directory for this process: `<base>-<pid>`, created now and removed as the
 * process exits. Processes side by side (`fleetprof compact --jobs N`'s children, benchmarks, a
 * Lambda sandbox's /tmp reused by the next process) never share one: two DuckDBs spilling into one
 * directory overwrote each other's files and crashed (SIGSEGV).
 */
export function processSpillDir(base: string): string {
  const dir = `${base}-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  if (spillDirs.size === 0) process.once('exit', () => spillDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  spillDirs.add(dir);
  return dir;
}

/** Lambda allocates CPU in proportion to memory: one full vCPU at 1,769 MB. */
export const LAMBDA_MB_PER_VCPU = 1769;

/** The function's memory (MB) as Lambda sets it; undefined outside Lambda. */
export function lambdaMemoryMb(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const mb = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  return Number.isFinite(mb) && mb > 0 ? mb : undefined;
}

export function envInt(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}
