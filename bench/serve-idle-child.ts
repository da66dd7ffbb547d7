// The memory of `fleetprof serve`'s idle SQL children (lib/query/sql-process.ts): each child keeps
// DuckDB loaded and, since it opens its next job's engine ahead (lib/query/sql-child.ts), one open
// engine over its last job's files while idle. Starts serve on each data directory given, waits
// for its children to be idle, runs one /sql query (so the child that answers opens its next engine
// over that data), waits again, and prints the resident set of serve and of each child (from /proc)
// at both points. The first directory is the peer: an empty data directory (an engine over no files).
//
//   node dist/bench/serve-idle-child.js DIR...   [FLEETPROF_BENCH_CLI=path/to/fleetprof.js]

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = process.env.FLEETPROF_BENCH_CLI ?? path.join(__dirname, '..', 'bin', 'fleetprof.js');
const SETTLE_MS = Number(process.env.FLEETPROF_BENCH_SETTLE_MS ?? 8000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
    if (text) out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}

const fmt = (pid: number) => {
  const kids = childrenOf(pid).map((c) => rssMb(c).toFixed(1));
  return `serve ${rssMb(pid).toFixed(1)} MB, children ${kids.join(' / ')} MB`;
};

async function measure(dir: string): Promise<void> {
  const serve = spawn(process.execPath, [CLI, 'serve', '--data', dir, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const base = await new Promise<string>((resolve, reject) => {
      let text = '';
      serve.stderr!.on('data', (b: Buffer) => {
        text += b.toString();
        const m = /(http:\/\/[^/\s]+)\//.exec(text);
        if (m) resolve(m[1]);
      });
      serve.once('exit', (code) => reject(new Error(`serve exited ${code}: ${text}`)));
    });
    await sleep(SETTLE_MS);
    process.stdout.write(`${dir}\n  idle after start:       ${fmt(serve.pid!)}\n`);
    const r = await fetch(`${base}/sql`, { method: 'POST', body: JSON.stringify({ sql: 'SELECT count(*) AS n FROM functions' }) });
    const answer = await r.text();
    await sleep(SETTLE_MS);
    process.stdout.write(`  idle after one /sql:    ${fmt(serve.pid!)}   (${r.status} ${answer.slice(0, 60)})\n`);
  } finally {
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
  }
}

async function main(): Promise<void> {
  const empty = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-idle-child-'));
  try {
    process.stdout.write(`load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
    for (const dir of [empty, ...process.argv.slice(2)]) await measure(dir);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
}

void main();
