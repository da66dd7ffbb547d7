// The merge tier over a fresh hour laid out as production writes it (bench/fresh-batches.ts makes
// DIR), run as production runs it: one merger run per minute (lib/store/merge.ts mergeOpen, the
// scheduled Lambda's code), each at the minute's clock, so at the end every minute but the last is
// merged (~60 files per table-hour) and the last minute's batch files are still raw. Changes DIR
// in place (run it on a copy: `cp -al`): merged inputs are deleted after the grace as in the stack.
//
//   node dist/bench/fresh-merge.js --data DIR --instances I [--minutes M] [--memory-mb MB] [--json]
//
// Prints each run's CPU seconds (every thread of this process: DuckDB's too), wall time and the S3
// requests it would make (bench/counting-store.ts), the process's peak RSS, and the totals per
// instance-hour: the merge's term of the cost model (bench/fleet-cost.ts). DuckDB gets the merger
// Lambda's settings at MB (default MERGE_FUNCTION.memoryMb). --minutes M runs only the hour's
// first M runs (DIR may hold only those minutes' batches, bench/fresh-batches.ts --minutes): each
// run merges one minute, so per instance-hour is the runs' sum x 60 / M.
import * as os from 'node:os';
import * as path from 'node:path';
import { MERGE_FUNCTION } from '../lib/aws/resources';
import { lambdaDuckDbSettings } from '../lib/aws/runtime';
import { LocalStore } from '../lib/store/local';
import type { MergeResult } from '../lib/store/merge';
import { runMergeJob } from '../lib/aws/compact-job';
import { parseKey } from '../lib/store/layout';
import { CountingStore } from './counting-store';

const MINUTE_MS = 60_000;

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const data = arg(argv, '--data');
  const instances = Number(arg(argv, '--instances'));
  if (!data || !(instances > 0)) throw new Error('usage: node dist/bench/fresh-merge.js --data DIR --instances I [--json]');
  const json = argv.includes('--json');
  const minutes = Number(arg(argv, '--minutes') ?? 59);
  const memoryMb = Number(arg(argv, '--memory-mb') ?? MERGE_FUNCTION.memoryMb);
  if (!(minutes >= 1 && minutes <= 59) || !(memoryMb >= 128)) throw new Error('--minutes is 1..59, --memory-mb >= 128');
  const say = (s: string) => (json ? process.stderr : process.stdout).write(s + '\n');
  const local = new LocalStore(path.resolve(data));
  const keys = (await local.list('fresh/profiles/')).map((o) => parseKey(o.key)).filter((k) => k?.tier === 'fresh') as { dt: string; hour: number }[];
  const hours = new Set(keys.map((k) => `${k.dt}T${String(k.hour).padStart(2, '0')}`));
  if (hours.size !== 1) throw new Error(`${data}: expected one fresh hour, found ${[...hours].join(', ')}`);
  const hourMs = Date.parse(`${[...hours][0]}:00:00Z`);
  // The Lambda's DuckDB (lib/aws/runtime.ts lambdaDuckDbSettings at the function's memory), spill under DIR.
  const settings = lambdaDuckDbSettings({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb), HOME: os.homedir() });
  const duck = { ...settings, tempDirectory: path.join(local.scratchDir, 'duckdb') };
  say(`DuckDB as the merger Lambda at ${memoryMb} MB: memory_limit ${settings.memoryLimit}, ${settings.threads} threads, one instance per run as the handler opens it; rss at start ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
  const runs: { minute: number; cpuS: number; wallS: number; maxRssMb: number; requests: CountingStore['counts']; r: MergeResult }[] = [];
  // The run at the end of minute m (+1 s) merges the batches of minute m-1 (a batch's id is the end of its minute; MERGE_MIN_AGE_MS).
  // Each run is the handler's job (lib/aws/compact-job.ts runMergeJob: its own DuckDB, opened and closed).
  for (let m = 1; m <= minutes; m++) {
    const store = new CountingStore(local);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const r = await runMergeJob({ store, settings: duck }, (hourMs + (m + 1) * MINUTE_MS + 1000) * 1000);
    const c = process.cpuUsage(c0);
    // maxRSS: the process's peak so far (kB on Linux), what the Lambda's memory must hold.
    const run = { minute: m, cpuS: (c.user + c.system) / 1e6, wallS: Number(process.hrtime.bigint() - t0) / 1e9, maxRssMb: process.resourceUsage().maxRSS / 1024, requests: { ...store.counts }, r };
    runs.push(run);
    say(`minute ${String(m).padStart(2)}: ${r.merges} merges, ${r.filesMerged} files, ${r.rowsIn} -> ${r.rowsOut} rows, ${r.deleted} deleted; ${run.cpuS.toFixed(2)} CPU-s, ${run.wallS.toFixed(2)} s, peak RSS ${run.maxRssMb.toFixed(0)} MB; LIST ${store.counts.LIST} GET ${store.counts.GET} PUT ${store.counts.PUT} DELETE ${store.counts.DELETE}`);
  }
  const sum = (f: (x: (typeof runs)[number]) => number) => runs.reduce((a, x) => a + f(x), 0);
  const total = {
    cpuS: sum((x) => x.cpuS),
    wallS: sum((x) => x.wallS),
    LIST: sum((x) => x.requests.LIST),
    GET: sum((x) => x.requests.GET),
    PUT: sum((x) => x.requests.PUT),
    DELETE: sum((x) => x.requests.DELETE),
    files: sum((x) => x.r.filesMerged),
    merges: sum((x) => x.r.merges),
    rowsIn: sum((x) => x.r.rowsIn),
  };
  // All 59 runs: their sum (as before); M runs: their sum x 60/M (each run is one minute's merge).
  const scale = minutes === 59 ? 1 : 60 / minutes;
  const per = (v: number) => (v * scale) / instances;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  say(
    `total: ${total.merges} merges of ${total.files} files (${total.rowsIn} rows), ${total.cpuS.toFixed(1)} CPU-s, ${total.wallS.toFixed(1)} s wall; ` +
      `peak RSS ${peakRssMb.toFixed(0)} MB; per instance-hour${minutes === 59 ? '' : ` (x 60/${minutes})`}: ${per(total.cpuS).toFixed(4)} CPU-s, GET ${per(total.GET).toFixed(2)}, PUT ${per(total.PUT).toFixed(3)} (LIST ${per(total.LIST).toFixed(3)}), DELETE ${per(total.DELETE).toFixed(2)}; ` +
      `load ${os.loadavg()[0].toFixed(1)}`,
  );
  if (json) process.stdout.write(JSON.stringify({ instances, minutes, memoryMb, settings, peakRssMb, loadavg: os.loadavg(), total, perInstanceHour: Object.fromEntries(Object.entries(total).map(([k, v]) => [k, per(v)])), runs }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`fresh-merge: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
