// `fleetprof compact --data` never loads the AWS SDK it does not use (~0.2 s of its start-up, bench/startup.ts):
// the bucket's clients, store and quarantine are loaded for --bucket only (bin/commands/compact.ts,
// lib/aws/compact-units.ts). Needs the build: npm run -s build.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = path.join(__dirname, '..', 'dist', 'bin', 'fleetprof.js');

/**
 * Runs the CLI with `args` over an empty data directory and returns its stderr and status, with a
 * line `loaded <file>` for every loaded module file of the packages in `packages` (a regex
 * alternation), printed at exit by a preloaded hook.
 */
function runWatching(packages: string, args: (data: string) => string[]): { stderr: string; status: number | null; loaded: string[] } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-lazy-'));
  try {
    const hook = path.join(dir, 'hook.js');
    writeFileSync(hook, `process.on('exit', () => { for (const k of Object.keys(require.cache)) if (/[\\\\/]node_modules[\\\\/](${packages})[\\\\/]/.test(k)) process.stderr.write(\`loaded \${k}\\n\`); });\n`);
    const data = path.join(dir, 'data');
    mkdirSync(data);
    const r = spawnSync(process.execPath, ['-r', hook, CLI, ...args(data)], { encoding: 'utf8', env: { ...process.env, FLEETPROF_DATA: '', FLEETPROF_BUCKET: '' } });
    return { stderr: r.stderr, status: r.status, loaded: r.stderr.split('\n').filter((l) => l.startsWith('loaded ')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('fleetprof compact --data loads no @aws-sdk or @smithy module', () => {
  const r = runWatching('@aws-sdk|@smithy', (data) => ['compact', '--data', data, '--now', '2026-12-01T00:00:00Z']);
  expect(r.stderr).toMatch(/^compacted 0 hour and 0 day files/m);
  expect(r.status).toBe(0);
  expect(r.loaded).toEqual([]);
}, 60_000);

// `fleetprof top` (the cold query path, issue #11.5) loads neither the AWS SDK nor zod: the upload
// key's validation is ingest's, and reaching it through the merger's names (lib/query/merge-sums.ts
// -> lib/store/merge.ts -> compact.ts -> unreadable.ts) cost ~55 ms of every cold `top` (99 modules).
test('fleetprof top --data loads no @aws-sdk, @smithy or zod module', () => {
  const r = runWatching('@aws-sdk|@smithy|zod', (data) => ['top', '--type', 'cpu', '--data', data, '--json']);
  expect(r.loaded).toEqual([]);
  expect(r.stderr).not.toMatch(/Error:/);
}, 60_000);
