// `fleetprof compact --data` never loads the AWS SDK it does not use (~0.2 s of its start-up, bench/startup.ts):
// the bucket's clients, store and quarantine are loaded for --bucket only (bin/commands/compact.ts,
// lib/aws/compact-units.ts). Needs the build: npm run -s build.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = path.join(__dirname, '..', 'dist', 'bin', 'fleetprof.js');

test('fleetprof compact --data loads no @aws-sdk or @smithy module', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-lazy-sdk-'));
  try {
    const hook = path.join(dir, 'hook.js');
    // At exit, every loaded module file of the SDK's packages, one a line.
    writeFileSync(hook, "process.on('exit', () => { for (const k of Object.keys(require.cache)) if (/[\\\\/]node_modules[\\\\/](@aws-sdk|@smithy)[\\\\/]/.test(k)) process.stderr.write(`loaded ${k}\\n`); });\n");
    const data = path.join(dir, 'data');
    mkdirSync(data);
    const r = spawnSync(process.execPath, ['-r', hook, CLI, 'compact', '--data', data, '--now', '2026-12-01T00:00:00Z'], { encoding: 'utf8', env: { ...process.env, FLEETPROF_DATA: '', FLEETPROF_BUCKET: '' } });
    expect(r.stderr).toMatch(/^compacted 0 hour and 0 day files/m);
    expect(r.status).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('loaded '))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

// `fleetprof top` (the cold query path, issue #11.5) loads neither the AWS SDK nor zod: the upload
// key's validation is ingest's, and reaching it through the merger's names (lib/query/merge-sums.ts
// -> lib/store/merge.ts -> compact.ts -> unreadable.ts) cost ~55 ms of every cold `top` (99 modules).
test('fleetprof top --data loads no @aws-sdk, @smithy or zod module', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-lazy-top-'));
  try {
    const hook = path.join(dir, 'hook.js');
    writeFileSync(hook, "process.on('exit', () => { for (const k of Object.keys(require.cache)) if (/[\\\\/]node_modules[\\\\/](@aws-sdk|@smithy|zod)[\\\\/]/.test(k)) process.stderr.write(`loaded ${k}\\n`); });\n");
    const data = path.join(dir, 'data');
    mkdirSync(data);
    const r = spawnSync(process.execPath, ['-r', hook, CLI, 'top', '--type', 'cpu', '--data', data, '--json'], { encoding: 'utf8', env: { ...process.env, FLEETPROF_DATA: '', FLEETPROF_BUCKET: '' } });
    expect(r.stderr.split('\n').filter((l) => l.startsWith('loaded '))).toEqual([]);
    expect(r.stderr).not.toMatch(/Error:/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
