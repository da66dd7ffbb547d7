// CLI start-up, side by side with its peer on the same machine in the same run: `node -e 0` (what
// no CLI can beat), `fleetprof --version` (loads no command), `fleetprof top --help` (loads one
// command), `fleetprof --help` (loads every command to list them), `fleetprof compact --data` over
// an empty data directory (a command's whole run: it must not load the AWS SDK it does not use).
// Medians of N runs, and the ratio to the peer. The target (#13): --version costs about what node
// itself costs.
//
//   npm run bench:startup            (N = 7)

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = process.env.FLEETPROF_BENCH_CLI ?? path.join(__dirname, '..', 'bin', 'fleetprof.js');
const N = Number(process.env.FLEETPROF_BENCH_RUNS ?? 7);
const EMPTY = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-startup-'));
process.on('exit', () => rmSync(EMPTY, { recursive: true, force: true }));

function median(args: string[]): number {
  const ms: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(N / 2)];
}

const rows: [string, string[]][] = [
  ['node -e 0 (peer)', ['-e', '0']],
  ['fleetprof --version', [CLI, '--version']],
  ['fleetprof top --help', [CLI, 'top', '--help']],
  ['fleetprof --help', [CLI, '--help']],
  ['fleetprof compact --data', [CLI, 'compact', '--data', EMPTY, '--now', '2026-12-01T00:00:00Z']],
];
const peer = median(rows[0][1]);
process.stdout.write(`${'command'.padEnd(24)}  median ms  x node\n`);
for (const [name, args] of rows) {
  const m = name.startsWith('node') ? peer : median(args);
  process.stdout.write(`${name.padEnd(24)}  ${m.toFixed(0).padStart(9)}  ${(m / peer).toFixed(2)}\n`);
}
