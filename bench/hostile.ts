// Hostile inputs from the #13 red-team pass, each generated here and ingested by
// `fleetprof ingest` in a child process whose peak RSS (VmHWM, read by a --require hook as the
// process exits) is printed next to the input's size and the target:
//   peak RSS <= 4 x the decompressed input + the baseline (the same CLI ingesting a tiny profile),
// and the 285 MB gctrace log under 400 MB; the gzip bomb under 300 MB. A row over its target
// fails the run (exit 1): memory is asserted here, in a benchmark, never in a timed test.
//
//   npm run bench:hostile            (all inputs; ~2 minutes, needs ~1 GB of /tmp)
//   npm run bench:hostile -- bomb    (only the inputs whose name contains "bomb")
//
// --lambda: the same inputs uploaded to moto and each handed, as one SQS record, to the real ingest
// Lambda handler (dist/lambdas/ingest.js) in a child process of its own (bench/hostile-lambda-
// child.ts), with the stack's memory size (2,048 MB: DuckDB's share) and its object limits; with
// --old <checkout with a built dist/> the old build's handler gets each input right after, so the
// two columns share the machine's load. The baseline is each handler ingesting the tiny profile.
//
//   npm run bench:hostile -- --lambda --old /tmp/old [filter]

import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { once } from 'node:events';
import { Writer } from 'protobufjs/minimal';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, startMotoServer } from '../lib/aws/local-stack';
import { ENV, INGEST_FUNCTION } from '../lib/aws/resources';
import { lambdaEnv, motoBucket } from '../test/helpers/moto';

const ROOT = path.join(__dirname, '..', '..');
// FLEETPROF_BENCH_CLI: measure another build (e.g. before a change) with the same inputs.
const CLI = process.env.FLEETPROF_BENCH_CLI ?? path.join(ROOT, 'dist/bin/fleetprof.js');
const HOOK = path.join(__dirname, 'hwm-hook.js');
const MB = 1e6;
const MiB = 1024 * 1024;

interface Input {
  name: string;
  /** The upload key's kind and extension (the Lambda path; the start is the input's own). */
  upload: string;
  /** The Lambda's object limits, when this input needs more than the stack's defaults. */
  lambdaLimitBytes?: number;
  /** Writes the input file; returns its path and decompressed size. */
  make: (dir: string) => Promise<{ file: string; raw: number }>;
  extraArgs?: string[];
  /** Absolute target in MB instead of 4x input + baseline. */
  targetMb?: number;
  /** What the CLI should say: ingested or refused (and why). */
  expect: RegExp;
}

// --- pprof bytes, hand-encoded (field numbers from profile.proto) --------------------------------

function profileBytes(o: { strings: string[]; samples: { locs: number[]; values: number[]; label?: [number, number] }[]; fns: { id: number; name: number }[]; timeNanos: number }): Uint8Array {
  const w = Writer.create();
  const sub = (field: number, f: (m: Writer) => void) => {
    w.uint32((field << 3) | 2).fork();
    f(w);
    w.ldelim();
  };
  sub(1, (m) => m.uint32(8).int64(1).uint32(16).int64(2)); // sample_type samples/count
  sub(1, (m) => m.uint32(8).int64(3).uint32(16).int64(4)); // cpu/nanoseconds
  for (const s of o.samples) {
    sub(2, (m) => {
      m.uint32(10).fork();
      for (const l of s.locs) m.uint64(l);
      m.ldelim();
      m.uint32(18).fork();
      for (const v of s.values) m.int64(v);
      m.ldelim();
      if (s.label) {
        m.uint32(26).fork().uint32(8).int64(s.label[0]).uint32(16).int64(s.label[1]).ldelim();
      }
    });
  }
  for (const f of o.fns) sub(4, (m) => m.uint32(8).uint64(f.id).uint32(34).fork().uint32(8).uint64(f.id).uint32(16).int64(1).ldelim()); // location id, line{function_id,line}
  for (const f of o.fns) sub(5, (m) => m.uint32(8).uint64(f.id).uint32(16).int64(f.name));
  for (const s of o.strings) w.uint32((6 << 3) | 2).string(s);
  w.uint32(9 << 3).int64(o.timeNanos);
  return w.finish();
}

const NOW_NS = Date.now() * 1e6 - 3600e9;

async function writeGz(file: string, bytes: Uint8Array): Promise<{ file: string; raw: number }> {
  writeFileSync(file, gzipSync(bytes, { level: 1 }));
  return { file, raw: bytes.length };
}

/** A text file written a batch of lines at a time (optionally gzipped), never held whole. */
async function writeLines(file: string, n: number, line: (i: number) => string, gzip: boolean): Promise<{ file: string; raw: number }> {
  const out = createWriteStream(file);
  const sink = gzip ? createGzip({ level: 6 }) : out;
  if (gzip) (sink as ReturnType<typeof createGzip>).pipe(out);
  let raw = 0;
  for (let i = 0; i < n; i += 10_000) {
    let s = '';
    for (let j = i; j < Math.min(n, i + 10_000); j++) s += line(j);
    raw += Buffer.byteLength(s);
    if (!sink.write(s)) await once(sink, 'drain');
  }
  sink.end();
  await once(out, 'close');
  return { file, raw };
}

const gcLine = (i: number) =>
  `gc ${i + 1} @${(i * 0.05).toFixed(3)}s 2%: 0.018+0.91+0.003 ms clock, 0.073+0.21/0.80/0.45+0.013 ms cpu, 40->41->20 MB, 42 MB goal, 0 MB stacks, 0 MB globals, 8 P\n`;

const INPUTS: Input[] = [
  {
    name: 'baseline: a 3-sample profile',
    upload: 'cpu.pb.gz',
    make: (dir) => writeGz(path.join(dir, 'tiny.pb.gz'), profileBytes({ strings: ['', 'samples', 'count', 'cpu', 'nanoseconds', 'main.main'], samples: [{ locs: [1], values: [1, 10] }], fns: [{ id: 1, name: 5 }], timeNanos: NOW_NS })),
    expect: /ingested 1 of 1/,
  },
  {
    name: 'profile: 1M samples, each its own label',
    upload: 'cpu.pb.gz',
    make: (dir) => {
      const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds', 'main.main', 'req'];
      const samples = Array.from({ length: 1_000_000 }, (_, i) => ({ locs: [1], values: [1, 10], label: [6, strings.push(`r${i}`) - 1] as [number, number] }));
      return writeGz(path.join(dir, 'labels.pb.gz'), profileBytes({ strings, samples, fns: [{ id: 1, name: 5 }], timeNanos: NOW_NS }));
    },
    expect: /label sets.*over the limit/,
  },
  {
    name: 'profile: a 100k-frame stack',
    upload: 'cpu.pb.gz',
    make: (dir) => {
      const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds'];
      const fns = Array.from({ length: 100_000 }, (_, i) => ({ id: i + 1, name: strings.push(`main.f${i}`) - 1 }));
      return writeGz(path.join(dir, 'deep.pb.gz'), profileBytes({ strings, samples: [{ locs: fns.map((f) => f.id), values: [1, 10] }], fns, timeNanos: NOW_NS }));
    },
    expect: /frames in the stack.*over the limit/,
  },
  {
    name: 'profile: a 200 MB function name',
    upload: 'cpu.pb.gz',
    make: (dir) => writeGz(path.join(dir, 'name.pb.gz'), profileBytes({ strings: ['', 'samples', 'count', 'cpu', 'nanoseconds', 'x'.repeat(200 * MB)], samples: [{ locs: [1], values: [1, 10] }], fns: [{ id: 1, name: 5 }], timeNanos: NOW_NS })),
    expect: /characters in a function name.*over the limit/,
  },
  {
    name: 'runtime/metrics: 1M keys',
    upload: 'metrics.json',
    make: async (dir) => {
      const t = new Date(Date.now() - 3600e3).toISOString();
      const file = path.join(dir, 'metrics.json');
      const parts: string[] = [];
      for (let i = 0; i < 1_000_000; i++) parts.push(`"/bench/m${i}:bytes":${i}`);
      const text = `{"time":"${t}","metrics":{${parts.join(',')}}}`;
      writeFileSync(file, text);
      return { file, raw: text.length };
    },
    expect: /ingested 1 of 1/,
  },
  {
    name: 'gctrace: 1M lines, gzipped',
    upload: 'gctrace.log.gz',
    make: (dir) => writeLines(path.join(dir, 'gc1m.log.gz'), 1_000_000, gcLine, true),
    extraArgs: ['--start', new Date(Date.now() - 86400e3).toISOString()],
    expect: /ingested 1 of 1/,
  },
  {
    name: 'gctrace: 2M cycles, 285 MB',
    upload: 'gctrace.log',
    // Over the stack's 64 MiB object and 256 MiB decompressed defaults: a deployment that takes
    // such logs raises them (FLEETPROF_MAX_OBJECT_BYTES, FLEETPROF_MAX_DECOMPRESSED_BYTES).
    lambdaLimitBytes: 512 * MiB,
    make: (dir) => writeLines(path.join(dir, 'gc2m.log'), 2_000_000, gcLine, false),
    extraArgs: ['--start', new Date(Date.now() - 2 * 86400e3).toISOString()],
    targetMb: 400,
    expect: /ingested 1 of 1/,
  },
  {
    name: 'gzip bomb: 2 GiB of zeros',
    upload: 'cpu.pb.gz',
    make: async (dir) => {
      const member = gzipSync(Buffer.alloc(256 * MiB), { level: 9 });
      const file = path.join(dir, 'bomb.pb.gz');
      writeFileSync(file, Buffer.concat(new Array<Buffer>(8).fill(member)));
      return { file, raw: 2048 * MiB };
    },
    targetMb: 300,
    expect: /decompressed size exceeds the limit/,
  },
];

function run(file: string, data: string, extra: string[]): { hwmMb: number; seconds: number; out: string } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--require', HOOK, CLI, 'ingest', '--data', data, '--service', 'bench', '--instance', 'i1', ...extra, file], {
    encoding: 'utf8',
    env: { ...process.env, FLEETPROF_HWM_FILE: path.join(data, 'hwm.txt') },
    maxBuffer: 64 * MiB,
  });
  const seconds = (Date.now() - t0) / 1000;
  let hwmKb = NaN;
  try {
    hwmKb = Number(readFileSync(path.join(data, 'hwm.txt'), 'utf8'));
  } catch {
    /* the child died before its exit hook (a crash): reported as NaN */
  }
  const out = `${r.stderr ?? ''}${r.stdout ?? ''}${r.signal ? ` (killed by ${r.signal})` : ''}`.trim();
  return { hwmMb: (hwmKb * 1024) / MB, seconds, out };
}

// --- the Lambda path -------------------------------------------------------------------------------

const BUCKET = 'bench-hostile';
const REGION = 'us-east-1';
const LAMBDA_CHILD = path.join(__dirname, 'hostile-lambda-child.js');

/** The upload key of an input: its start is the log's --start, else an hour ago. */
function uploadKey(input: Input, i: number): string {
  const at = input.extraArgs?.[input.extraArgs.indexOf('--start') + 1] ?? new Date(Date.now() - 3600e3).toISOString();
  const stamp = new Date(at).toISOString().replace(/[-:]/g, '');
  return `raw/bench/i${i}/${stamp}_${input.upload}`;
}

function runLambda(handlerJs: string, key: string, env: Record<string, string>, scratch: string): { hwmMb: number; seconds: number; out: string } {
  const hwm = path.join(scratch, `hwm-${Date.now()}.txt`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--require', HOOK, ...(process.env.FLEETPROF_BENCH_REQUIRE ? ['--require', process.env.FLEETPROF_BENCH_REQUIRE] : []), LAMBDA_CHILD, handlerJs, BUCKET, key], {
    encoding: 'utf8',
    env: { ...process.env, ...env, FLEETPROF_HWM_FILE: hwm },
    maxBuffer: 64 * MiB,
  });
  const seconds = (Date.now() - t0) / 1000;
  let hwmKb = NaN;
  try {
    hwmKb = Number(readFileSync(hwm, 'utf8'));
  } catch {
    /* crashed before its exit hook */
  }
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  let out: string;
  // FLEETPROF_BENCH_REQUIRE: a script preloaded into the child too (e.g. a memory sampler), its stderr lines kept.
  if (process.env.FLEETPROF_BENCH_REQUIRE) process.stderr.write((r.stderr ?? '').split('\n').filter((l) => /^PEAK /.test(l)).join('\n') + '\n');
  if (!line) out = `no result: ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' | ')}${r.signal ? ` (killed by ${r.signal})` : ''}`;
  else {
    const res = JSON.parse(line.slice(7)) as { retried: number; reason?: string };
    out = res.retried > 0 ? 'retried (transient)' : res.reason ? `quarantined: ${res.reason}` : 'ingested';
  }
  return { hwmMb: (hwmKb * 1024) / MB, seconds, out };
}

async function mainLambda(only: string | undefined, old: string | undefined): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-hostile-'));
  const moto = await startMotoServer(await freePort());
  const env = { ...lambdaEnv(moto, { region: REGION, bucket: BUCKET, cacheDir: path.join(dir, 'cache') }), AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(INGEST_FUNCTION.memoryMb) };
  (await motoBucket(moto, REGION, BUCKET)).destroy();
  // No flexible checksum on uploads: moto checks it in Python (minutes for 285 MB).
  const s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const builds: [string, string][] = [['this build', path.join(ROOT, 'dist/lambdas/ingest.js')]];
  if (old) builds.push(['old build', path.resolve(old, 'dist/lambdas/ingest.js')]);
  let failed = 0;
  try {
    const rows: string[][] = [['input', 'file MB', 'raw MB', ...builds.map(([b]) => `${b} MB`), 'target MB', ...builds.map(([b]) => `${b} s`), 'ok', 'outcome', ...(old ? ['old outcome'] : [])]];
    const baseline: number[] = [];
    for (const [n, input] of INPUTS.entries()) {
      if (only && !input.name.includes(only) && !input.name.startsWith('baseline')) continue;
      const { file, raw } = await input.make(dir);
      const key = uploadKey(input, n);
      const size = statSync(file).size;
      // A buffer, not a stream: the SDK sends a stream aws-chunked with a trailing checksum, which
      // moto decoded for 20+ minutes on the 285 MB log.
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: readFileSync(file) }));
      rmSync(file, { force: true });
      const limits: Record<string, string> = input.lambdaLimitBytes ? { [ENV.maxObjectBytes]: String(input.lambdaLimitBytes), [ENV.maxDecompressedBytes]: String(input.lambdaLimitBytes) } : {};
      const results: ReturnType<typeof runLambda>[] = [];
      for (const [, js] of builds) {
        results.push(runLambda(js, key, { ...env, ...limits }, dir));
        // The next build must not find this one's quarantine record.
        await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `quarantine/${key}.reason.json` }));
      }
      if (input.name.startsWith('baseline')) results.forEach((r, i) => (baseline[i] = r.hwmMb));
      const target = input.targetMb ?? Math.ceil(4 * (raw / MB) + baseline[0]);
      const want = input.expect.source === 'ingested 1 of 1' ? /^ingested$/ : input.expect;
      const ok = results[0].hwmMb <= target && want.test(results[0].out);
      if (!ok) failed++;
      const clip = (t: string) => t.slice(0, 120);
      rows.push([input.name, (size / MB).toFixed(1), (raw / MB).toFixed(1), ...results.map((r) => r.hwmMb.toFixed(0)), String(target), ...results.map((r) => r.seconds.toFixed(1)), ok ? 'yes' : 'NO', ...results.map((r) => clip(r.out))]);
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
      process.stderr.write(`${input.name}: ${results.map((r) => r.hwmMb.toFixed(0)).join(' / ')} MB\n`);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
    for (const row of rows) process.stdout.write(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ') + '\n');
    process.stdout.write(`ingest Lambda handler against moto; target: peak RSS <= 4 x raw input + this build's baseline (${baseline[0]?.toFixed(0)} MB${old ? `; old build's ${baseline[1]?.toFixed(0)} MB` : ''}), or the absolute target given\n`);
  } finally {
    s3.destroy();
    moto.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  if (failed > 0) {
    process.stdout.write(`${failed} input(s) over target or with the wrong outcome (this build)\n`);
    process.exitCode = 1;
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args.splice(i, name === '--lambda' ? 1 : 2)[name === '--lambda' ? 0 : 1];
  };
  const lambda = flag('--lambda') !== undefined;
  const old = flag('--old');
  const only = args[0];
  if (lambda) return mainLambda(only, old);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-hostile-'));
  let failed = 0;
  try {
    const rows: string[][] = [['input', 'file MB', 'raw MB', 'peak RSS MB', 'target MB', 'seconds', 'ok', 'outcome']];
    let baseline = NaN;
    for (const input of INPUTS) {
      if (only && !input.name.includes(only) && !input.name.startsWith('baseline')) continue;
      const { file, raw } = await input.make(dir);
      const data = mkdtempSync(path.join(dir, 'data-'));
      const r = run(file, data, input.extraArgs ?? []);
      if (input.name.startsWith('baseline')) baseline = r.hwmMb;
      const target = input.targetMb ?? Math.ceil(4 * (raw / MB) + baseline);
      const outcomeOk = input.expect.test(r.out);
      const ok = r.hwmMb <= target && outcomeOk;
      if (!ok) failed++;
      const outcome = r.out.split('\n').filter(Boolean).slice(-2).join(' | ').replace(dir, '<tmp>').slice(0, 160);
      rows.push([input.name, (statSync(file).size / MB).toFixed(1), (raw / MB).toFixed(1), r.hwmMb.toFixed(0), String(target), r.seconds.toFixed(1), ok ? 'yes' : 'NO', outcome]);
      rmSync(file, { force: true });
      rmSync(data, { recursive: true, force: true });
      process.stderr.write(`${input.name}: ${r.hwmMb.toFixed(0)} MB\n`);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
    for (const row of rows) process.stdout.write(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ') + '\n');
    process.stdout.write(`target: peak RSS <= 4 x raw input + baseline (${baseline.toFixed(0)} MB), or the absolute target given\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (failed > 0) {
    process.stdout.write(`${failed} input(s) over target or with the wrong outcome\n`);
    process.exitCode = 1;
  }
}

void main();
