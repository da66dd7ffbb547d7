// The fleet simulator's input (issue #11, "The fleet simulator"): a data directory written by
// `fleetprof ingest` holding exactly one UTC hour [H, H+1h) of N instances at the agent's defaults
// (agent/agent.go: every 60 s a 10 s CPU profile plus heap, allocs, goroutine, block and mutex;
// runtime/metrics every 10 s uploaded once a minute as JSON lines; the gctrace log).
//
// Made from the repository's own fixtures only (test/fixtures/go: three real runs of the Go
// fixture program), never from /work/shared:
// - instance j replays run j mod 3; services svc-a (first half) and svc-b (second half);
// - each minute m gets a copy of the run's six protobuf profiles with time_nanos moved to
//   H + m min + j s (pprof-format re-encodes; the samples, locations and strings are untouched);
// - counters are declared delta (`--temporality delta`, as the agent sends them), so every minute's
//   copy is an increase and the hour's truth is 60 x the fixture for CPU and counters alike;
// - runtime/metrics: six synthetic snapshots a minute (the fixtures have none), fixed values;
// - gctrace: the run's log repeated once a minute with gc numbers continued and `@<s>s` offsets
//   moved by m x 60 s, one process started at H.
// Everything is then ingested by the CLI (`node dist/bin/fleetprof.js ingest`), one call per
// instance and input family.
//
//   node dist/bench/fleet-source.js --out SRC [--instances 4] [--hour 2026-12-01T10]
//   (default hour: the UTC hour that ended at least one hour ago)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';

const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const FIXTURES = path.join(ROOT, 'test/fixtures/go');
const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'];
const KINDS = ['cpu', 'heap', 'allocs', 'goroutine', 'block', 'mutex'] as const;
const HOUR_MS = 3_600_000;

export interface SourceOptions {
  out: string;
  instances: number;
  /** Start of the hour, epoch ms (a whole UTC hour). */
  hourMs: number;
}

export function defaultHourMs(nowMs = Date.now()): number {
  return Math.floor(nowMs / HOUR_MS) * HOUR_MS - HOUR_MS;
}

function retime(pbgz: Buffer, timeMs: number): Buffer {
  const p = Profile.decode(gunzipSync(pbgz));
  p.timeNanos = BigInt(timeMs) * 1_000_000n;
  return gzipSync(p.encode());
}

/** Six runtime/metrics snapshots of minute m (10 s apart), as the agent batches them. */
function metricsLines(minuteMs: number, j: number): string {
  const lines: string[] = [];
  for (let s = 0; s < 6; s++) {
    const time = new Date(minuteMs + s * 10_000 + j * 1000).toISOString();
    lines.push(
      JSON.stringify({
        time,
        metrics: {
          '/gc/heap/goal:bytes': 8_388_608 + j * 1_048_576,
          '/gc/heap/live:bytes': 4_194_304 + j * 524_288,
          '/sched/goroutines:goroutines': 40 + j,
          '/sched/gomaxprocs:threads': 2,
          '/memory/classes/total:bytes': 33_554_432 + j * 1_048_576,
          '/gc/gogc:percent': 100,
        },
      }),
    );
  }
  return lines.join('\n') + '\n';
}

/** The run's gctrace log once per minute: gc numbers continue, offsets move by m x 60 s. */
function gctraceHour(log: string): string {
  const gcLines = log.split('\n').filter((l) => /^gc \d+ @[\d.]+s /.test(l));
  const out: string[] = [];
  let n = 0;
  for (let m = 0; m < 60; m++) {
    for (const l of gcLines) {
      n++;
      out.push(l.replace(/^gc \d+ @([\d.]+)s /, (_all, at: string) => `gc ${n} @${(m * 60 + Number(at)).toFixed(3)}s `));
    }
  }
  return out.join('\n') + '\n';
}

export function makeSource(o: SourceOptions): void {
  if (o.hourMs % HOUR_MS !== 0) throw new Error('the hour must start on a whole UTC hour');
  const cli = path.join(ROOT, 'dist/bin/fleetprof.js');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleet-source-'));
  try {
    for (let j = 0; j < o.instances; j++) {
      const run = RUNS[j % RUNS.length];
      const service = j < o.instances / 2 ? 'svc-a' : 'svc-b';
      const instance = `i${j}`;
      const version = run.includes('-v2-') ? 'v2' : 'v1';
      const dir = path.join(tmp, instance);
      mkdirSync(path.join(dir, 'inputs'), { recursive: true });
      const pbs = Object.fromEntries(KINDS.map((k) => [k, readFileSync(path.join(FIXTURES, run, `${k}.pb.gz`))]));
      for (let m = 0; m < 60; m++) {
        const at = o.hourMs + m * 60_000;
        const stem = path.join(dir, 'inputs', String(m).padStart(2, '0'));
        for (const k of KINDS) writeFileSync(`${stem}_${k}.pb.gz`, retime(pbs[k], at + j * 1000));
        writeFileSync(`${stem}_metrics.jsonl`, metricsLines(at, j));
      }
      writeFileSync(path.join(dir, 'gctrace.log'), gctraceHour(readFileSync(path.join(FIXTURES, run, 'gctrace.log'), 'utf8')));
      const common = ['ingest', '--data', o.out, '--service', service, '--instance', instance, '--version', version, '--process', `run-${j}`];
      execFileSync(process.execPath, [cli, ...common, '--temporality', 'delta', path.join(dir, 'inputs')], { stdio: ['ignore', 'ignore', 'inherit'] });
      execFileSync(process.execPath, [cli, ...common, '--start', new Date(o.hourMs).toISOString(), path.join(dir, 'gctrace.log')], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function main(): void {
  const args = process.argv.slice(2);
  const get = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const out = get('--out');
  if (!out) throw new Error('usage: fleet-source --out SRC [--instances 4] [--hour YYYY-MM-DDTHH]');
  const instances = Number(get('--instances') ?? 4);
  if (!Number.isInteger(instances) || instances < 1) throw new Error('--instances must be a positive integer');
  const hour = get('--hour');
  const hourMs = hour ? Date.parse(`${hour}:00:00Z`) : defaultHourMs();
  if (Number.isNaN(hourMs)) throw new Error(`--hour: not YYYY-MM-DDTHH: ${hour}`);
  makeSource({ out, instances, hourMs });
  process.stderr.write(`wrote ${instances} instances of [${new Date(hourMs).toISOString()}, +1h) into ${out}\n`);
}

if (require.main === module) main();
