// Ingest throughput end to end, both production paths side by side with peers in one run
// (issue #11 point 2, target >= 200 profiles/s on the 2-core machine). Prints a table; asserts
// nothing. Build first (npm run build:all), then:
//
//   node dist/bench/ingest.js [--profiles 600] [--batch 10] [--old <built checkout>] [--reps 1] [--cli-only] [--json]
//
// Two inputs, the same profiles (the test/fixtures/go kinds of three runs, repeated):
// - bundles: what the agent uploads at its defaults, one per instance-minute: 6 profiles (cpu,
//   heap, allocs, goroutine, block, mutex) + metrics.jsonl with 6 runtime/metrics snapshots;
// - single profiles: one object per profile (uploads before bundles; `fleetprof upload` of a file).
// Paths, each over both inputs:
// - handler: the ingest handler (lambdas/ingest.ts) over SQS batches of --batch records, against
//   moto (S3), warm; wall time of the handler calls, the process's CPU time during them (ours and
//   DuckDB's threads, not moto's), peak RSS growth per batch (VmHWM reset before each batch).
// - handler, 2 invocations side by side: Lambda scales by concurrent invocations (the event source
//   allows 30), so on 2 cores the production rate is two warm handler processes
//   (bench/ingest-invoker.ts) sharing the bundles, against the one moto; wall from "go" to the last
//   report, CPU of both processes, and moto's CPU over the same span (moto is one Python process:
//   a share near 100% of a core means it, not ingest, sets the rate).
// - CLI: `fleetprof ingest <dir>` in a fresh node process (node start included), its CPU time and
//   peak RSS, on one thread (--jobs 1) and two (--jobs 2).
// - --old: the same paths of another build (OLD, e.g. main at session start), interleaved with this
//   build's in the same run (its CLI with the same --jobs when it has the flag).
// - --reps N: each CLI row N times, this build and OLD alternating, medians; --cli-only: only those.
// - peers in the same run: the per-object path (each profile its own batch, as before layout v2)
//   in-process over a local store, and Go's profile.ParseData over the same files (decode only).
// The machine is shared: wall rates move with its load (printed); CPU ms per profile much less.
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSEvent } from '../lib/aws/events';
import { planUpload } from '../bin/commands/upload';
import { uploadMetadata } from '../lib/model/upload-key';
import type { ProfileKind } from '../lib/model/profile';
import { ingestBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { bundle } from '../test/helpers/bundle';
import { s3EventRecord, startMotoS3 } from '../test/helpers/moto';
import type { InvokerReport } from './ingest-invoker';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const HOOK = path.join(ROOT, 'dist/bench/hwm-hook.js');
const FIXTURES = path.join(ROOT, 'test/fixtures/go');
const METRICS = path.join(ROOT, 'test/fixtures/scenarios-agent/runs/noise-i1/metrics.jsonl.gz');
const REGION = 'us-east-1';
const BUCKET = 'bench-ingest';
/** The agent's default profiles (agent/agent.go DefaultProfiles) and snapshots per period (60 s / 10 s). */
const AGENT_KINDS = ['cpu', 'heap', 'allocs', 'goroutine', 'block', 'mutex'];
const SNAPSHOTS = 6;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

function argString(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** One upload: a file name (its extension says what it is) and bytes; `profiles` it holds. */
interface Input {
  readonly name: string;
  readonly kind: string;
  readonly bytes: Buffer;
  readonly profiles: number;
}

function runs(): string[] {
  return readdirSync(FIXTURES)
    .filter((r) => statSync(path.join(FIXTURES, r)).isDirectory())
    .sort()
    .map((r) => path.join(FIXTURES, r));
}

/** Single profiles: the fixture runs' .pb.gz of the agent's kinds, repeated to `n`. */
function singleInputs(n: number): Input[] {
  const all = runs().flatMap((r) => AGENT_KINDS.map((k) => path.join(r, `${k}.pb.gz`)));
  return Array.from({ length: n }, (_, i) => {
    const file = all[i % all.length];
    return { name: `${String(i).padStart(5, '0')}-${path.basename(file)}`, kind: path.basename(file, '.pb.gz'), bytes: readFileSync(file), profiles: 1 };
  });
}

/** Agent-default bundles holding `n` profiles in all (n / 6 bundles), each with its own metrics times. */
function bundleInputs(n: number): Input[] {
  const lines = gunzipSync(readFileSync(METRICS)).toString('utf8').trim().split('\n').slice(0, SNAPSHOTS);
  const base = Date.parse('2026-11-21T10:00:00Z');
  return Array.from({ length: Math.ceil(n / AGENT_KINDS.length) }, (_, i) => {
    const run = runs()[i % runs().length];
    const start = new Date(base + i * 60_000).toISOString();
    const metrics = lines.map((l, k) => JSON.stringify({ ...(JSON.parse(l) as object), time: new Date(base + i * 60_000 + k * 10_000).toISOString() })).join('\n') + '\n';
    const bytes = bundle([
      ...AGENT_KINDS.map((k) => ({ name: `${k}.pb.gz`, kind: k, start, data: readFileSync(path.join(run, `${k}.pb.gz`)) })),
      { name: 'metrics.jsonl', kind: 'metrics', start, data: metrics },
    ]);
    return { name: `${String(i).padStart(5, '0')}-bundle.tar.gz`, kind: 'bundle', bytes, profiles: AGENT_KINDS.length };
  });
}

function status(field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function resetHwm(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface PathResult {
  uploads: number;
  profiles: number;
  wallS: number;
  cpuMs: number;
  peakMb: number;
  failures: number;
}

const perS = (r: PathResult) => r.profiles / r.wallS;
const msPerUpload = (r: PathResult) => (r.wallS * 1000) / r.uploads;

const record = (key: string, i: number) => s3EventRecord(BUCKET, key, i, REGION);

type Handler = (e: SQSEvent) => Promise<{ batchItemFailures: unknown[] }>;

async function upload(s3: S3Client, inputs: Input[], service: string): Promise<string[]> {
  const keys: string[] = [];
  const t0Ms = Date.parse('2026-11-21T10:00:00Z');
  for (const [i, input] of inputs.entries()) {
    const p = planUpload(input.name, input.bytes, 0, { bucket: BUCKET, service, instance: `i${i % 50}`, version: 'v1', label: {}, start: (t0Ms + i * 1000) * 1000 });
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: p.key, Body: p.bytes, Metadata: uploadMetadata({ version: 'v1', labels: {} }) }));
    keys.push(p.key);
  }
  return keys;
}

/**
 * CPU seconds so far of process `pid` and its descendants (utime + stime, clock ticks of 1/100 s):
 * moto_server may be a shim (pyenv) whose Python runs as its child.
 */
function procCpuS(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const stats = new Map<number, { ppid: number; cpu: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ');
      stats.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / 100 });
    } catch {
      /* gone */
    }
  }
  let total = 0;
  const tree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, st] of stats) {
      if (tree.has(p) || !tree.has(st.ppid)) continue;
      tree.add(p);
      grew = true;
    }
  }
  for (const p of tree) total += stats.get(p)?.cpu ?? 0;
  return stats.has(pid) ? total : NaN;
}

/**
 * `n` warm handler processes side by side over the inputs (input i to process i mod n), each in
 * SQS batches of `batch`: what `n` concurrent Lambda invocations do on this machine.
 */
async function sideBySide(handlerModule: string, s3: S3Client, inputs: Input[], batch: number, service: string, n: number, motoPid: number | undefined): Promise<PathResult & { motoCpuS: number }> {
  const keys = await upload(s3, inputs, service);
  const share = (w: number) => keys.filter((_k, i) => i % n === w);
  const children = Array.from({ length: n }, (_x, w) =>
    fork(path.join(__dirname, 'ingest-invoker.js'), [], {
      env: { ...process.env, FLEETPROF_INVOKER_JOB: JSON.stringify({ handler: handlerModule, bucket: BUCKET, region: REGION, keys: share(w), warm: share(w).slice(0, batch), batch }) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  );
  const next = (c: (typeof children)[number]) =>
    new Promise<unknown>((resolve, reject) => {
      c.once('message', resolve);
      c.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`invoker exited with ${code}`))));
    });
  await Promise.all(children.map(next)); // ready: warm
  const m0 = procCpuS(motoPid);
  const t0 = process.hrtime.bigint();
  const reports = children.map(next) as Promise<InvokerReport>[];
  for (const c of children) c.send('go');
  const done = await Promise.all(reports);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    uploads: inputs.length,
    profiles: inputs.reduce((s, x) => s + x.profiles, 0),
    wallS,
    cpuMs: done.reduce((s, r) => s + r.cpuMs, 0),
    peakMb: NaN,
    failures: done.reduce((s, r) => s + r.failures, 0),
    motoCpuS: procCpuS(motoPid) - m0,
  };
}

async function handlerPath(s3: S3Client, handler: Handler, inputs: Input[], batch: number, service: string): Promise<PathResult> {
  const keys = await upload(s3, inputs, service);
  // Warm-up batch (modules, DuckDB instance, JIT), not timed: a warm Lambda.
  await handler({ Records: keys.slice(0, Math.min(batch, keys.length)).map((k, i) => record(k, -1 - i)) });
  let failures = 0;
  let peakMb = 0;
  let wallNs = 0n;
  let cpu = 0;
  for (let i = 0; i < keys.length; i += batch) {
    resetHwm();
    const before = status('VmRSS');
    const c0 = cpuMs();
    const t0 = process.hrtime.bigint();
    const r = await handler({ Records: keys.slice(i, i + batch).map((k, j) => record(k, i + j)) });
    wallNs += process.hrtime.bigint() - t0;
    cpu += cpuMs() - c0;
    peakMb = Math.max(peakMb, status('VmHWM') - before);
    failures += r.batchItemFailures.length;
  }
  return { uploads: inputs.length, profiles: inputs.reduce((s, x) => s + x.profiles, 0), wallS: Number(wallNs) / 1e9, cpuMs: cpu, peakMb, failures };
}

function cliPath(inputs: Input[], cli = CLI, extra: string[] = []): PathResult {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bench-cli-'));
  try {
    const dir = path.join(tmp, 'in');
    mkdirSync(dir);
    for (const input of inputs) writeFileSync(path.join(dir, input.name), input.bytes);
    const hwm = path.join(tmp, 'hwm');
    const cpu = path.join(tmp, 'cpu');
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ['--require', HOOK, cli, 'ingest', '--data', path.join(tmp, 'data'), '--service', 'bench', '--instance', 'i1', ...extra, dir], {
      env: { ...process.env, FLEETPROF_HWM_FILE: hwm, FLEETPROF_CPU_FILE: cpu },
      encoding: 'utf8',
    });
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) process.stderr.write(r.stderr);
    return {
      uploads: inputs.length,
      profiles: inputs.reduce((s, x) => s + x.profiles, 0),
      wallS,
      cpuMs: Number(readFileSync(cpu, 'utf8')) / 1000,
      peakMb: Number(readFileSync(hwm, 'utf8')) / 1024,
      failures: r.status === 0 ? 0 : 1,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function perObjectPath(inputs: Input[]): Promise<PathResult> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bench-perobj-'));
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  try {
    const store = new LocalStore(tmp);
    const c0 = cpuMs();
    const t0 = process.hrtime.bigint();
    for (const [i, input] of inputs.entries()) {
      await ingestBytes(input.bytes, parseSourceMeta({ service: 'bench', instance: `i${i}`, kind: input.kind as ProfileKind, source: input.name, sourceId: `${input.name}#${i}` }), { store, writer });
    }
    return { uploads: inputs.length, profiles: inputs.length, wallS: Number(process.hrtime.bigint() - t0) / 1e9, cpuMs: cpuMs() - c0, peakMb: NaN, failures: 0 };
  } finally {
    writer.close();
    instance.closeSync();
    rmSync(tmp, { recursive: true, force: true });
  }
}

function goParse(): number | string {
  const dir = path.join(ROOT, 'bench/go/parse');
  const bin = path.join(dir, 'bin/parse');
  try {
    if (!existsSync(bin)) execFileSync('go', ['build', '-o', bin, '.'], { cwd: dir, stdio: 'ignore' });
    const files = runs().flatMap((r) => AGENT_KINDS.map((k) => path.join(r, `${k}.pb.gz`)));
    const bytes = files.reduce((s, f) => s + statSync(f).size, 0);
    const out = execFileSync(bin, ['-seconds', '2', ...files], { encoding: 'utf8' });
    const all = out.trim().split('\n').map((l) => JSON.parse(l) as { file: string; mb_per_s: number });
    const mbps = all.find((r) => r.file === '*')?.mb_per_s ?? NaN;
    return (mbps * 1e6) / (bytes / files.length);
  } catch (e) {
    return `unavailable (${(e as Error).message.split('\n')[0]})`;
  }
}

async function main(): Promise<void> {
  const n = arg('profiles', 600);
  const batch = arg('batch', 10);
  const old = argString('old');
  const json = process.argv.includes('--json');
  const load0 = os.loadavg()[0];
  const singles = singleInputs(n);
  const bundles = bundleInputs(n);
  const header = `# fleetprof ingest bench — ${new Date().toISOString()} — node ${process.version}, ${os.cpus().length} cpus, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}${old ? ` — OLD: ${old}` : ''}`;
  const oldCli = old && path.join(old, 'dist/bin/fleetprof.js');
  const oldHandlerModule = old && path.join(old, 'dist/lambdas/ingest.js');
  const newHandlerModule = path.join(ROOT, 'dist/lambdas/ingest.js');
  const rows: [string, PathResult][] = [];
  const motoShare: [string, number][] = [];

  // This build's and OLD's runs of each path back to back, so the machine's load hits both alike;
  // with --reps N each CLI row is run N times, this build and OLD alternating, and the row holds
  // the median of each column. OLD gets the same --jobs when it knows the flag (main since e2bbf9c;
  // before, its CLI ran on one thread).
  const reps = arg('reps', 1);
  const oldJobs = oldCli !== undefined && spawnSync(process.execPath, [oldCli, 'ingest', '--help'], { encoding: 'utf8' }).stdout.includes('--jobs');
  const cli: [string, Input[], string, string[]][] = [];
  for (const [what, inputs] of [
    ['bundles', bundles],
    ['single profiles', singles],
  ] as const) {
    for (const jobs of ['1', '2']) {
      cli.push([`fleetprof ingest <dir of ${what}> --jobs ${jobs}${what === 'bundles' && jobs === '1' ? ' (node start included)' : ''}`, inputs, CLI, ['--jobs', jobs]]);
      if (oldCli && (oldJobs || jobs === '1')) cli.push([`  OLD: fleetprof ingest, the same${oldJobs ? '' : ' (one thread)'}`, inputs, oldCli, oldJobs ? ['--jobs', jobs] : []]);
    }
  }
  const runsOf = cli.map((): PathResult[] => []);
  for (let r = 0; r < reps; r++) cli.forEach(([, inputs, bin, extra], i) => runsOf[i].push(cliPath(inputs, bin, extra)));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  cli.forEach(([name], i) => {
    const rs = runsOf[i];
    const m = (f: (r: PathResult) => number) => median(rs.map(f));
    rows.push([reps > 1 ? `${name} [median of ${reps}]` : name, { ...rs[0], wallS: m((r) => r.wallS), cpuMs: m((r) => r.cpuMs), peakMb: m((r) => r.peakMb), failures: Math.max(...rs.map((r) => r.failures)) }]);
  });
  if (process.argv.includes('--cli-only')) {
    console.log(`${header}${reps > 1 ? ` — ${reps} runs per row, alternating` : ''}`);
    console.log(`${'path'.padEnd(80)} ${'profiles/s'.padStart(10)} ${'CPU ms/profile'.padStart(14)} ${'peak MB'.padStart(8)}`);
    for (const [name, r] of rows) console.log(`${name.padEnd(80)} ${(r.profiles / r.wallS).toFixed(1).padStart(10)} ${(r.cpuMs / r.profiles).toFixed(2).padStart(14)} ${r.peakMb.toFixed(0).padStart(8)}${r.failures ? '  FAILED' : ''}`);
    console.log(`load average ${load0.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}`);
    return;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bench-ingest-'));
  const moto = await startMotoS3({ region: REGION, bucket: BUCKET, cacheDir: path.join(tmp, 'cache') });
  let hBundles: PathResult;
  let hOne: PathResult;
  // The handler logs a line per object (Powertools, stdout): not this table's business.
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    const { handler } = require(newHandlerModule) as { handler: Handler };
    const oldHandler = oldHandlerModule ? (require(oldHandlerModule) as { handler: Handler }).handler : undefined;
    hBundles = await handlerPath(moto.s3, handler, bundles, batch, 'bundles');
    rows.push([`ingest handler, SQS batches of ${batch} bundles, moto S3 (warm), one invocation at a time`, hBundles]);
    if (oldHandler) rows.push(['  OLD: the same, one invocation at a time', await handlerPath(moto.s3, oldHandler, bundles, batch, 'old-bundles')]);
    const two = await sideBySide(newHandlerModule, moto.s3, bundles, batch, 'two', 2, moto.pid);
    rows.push([`ingest handler, batches of ${batch} bundles, 2 invocations side by side (2 processes, one moto)`, two]);
    motoShare.push(['this build', two.motoCpuS / two.wallS]);
    if (oldHandlerModule) {
      const twoOld = await sideBySide(oldHandlerModule, moto.s3, bundles, batch, 'old-two', 2, moto.pid);
      rows.push(['  OLD: the same, 2 side by side', twoOld]);
      motoShare.push(['OLD', twoOld.motoCpuS / twoOld.wallS]);
    }
    // One bundle per invocation: with the batch of --batch, ms per batch = fixed + per bundle.
    hOne = await handlerPath(moto.s3, handler, bundleInputs(Math.min(n, 120)), 1, 'one');
    rows.push(['ingest handler, one bundle per invocation', hOne]);
    rows.push([`ingest handler, SQS batches of ${batch} single profiles, moto S3`, await handlerPath(moto.s3, handler, singles, batch, 'singles')]);
  } finally {
    process.stdout.write = write;
    moto.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  rows.push(['peer: per-object path (a batch per profile), local store', await perObjectPath(singles.slice(0, Math.min(n, 120)))]);
  const go = goParse();
  const load1 = os.loadavg()[0];

  if (json) {
    const marginalMs = (msPerUpload(hBundles) * batch - msPerUpload(hOne)) / (batch - 1);
    console.log(
      JSON.stringify({
        profiles: n,
        batch,
        old,
        load: [load0, load1],
        go,
        motoCpuShare: Object.fromEntries(motoShare),
        invocationMs: { fixed: msPerUpload(hOne) - marginalMs, perBundle: marginalMs },
        paths: Object.fromEntries(rows.map(([name, r]) => [name, { ...r, perS: perS(r), msPerUpload: msPerUpload(r), cpuMsPerProfile: r.cpuMs / r.profiles }])),
      }),
    );
    return;
  }
  console.log(header);
  console.log(`${n} profiles: ${bundles.length} agent-default bundles (6 profiles + ${SNAPSHOTS} metrics snapshots each) and ${singles.length} single-profile objects\n`);
  const cell = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  console.log(`${'path'.padEnd(96)} ${'profiles/s'.padStart(10)} ${'CPU ms/profile'.padStart(14)} ${'ms/upload'.padStart(10)} ${'peak MB'.padStart(8)}  notes`);
  for (const [name, r] of rows) {
    const note = /side by side/.test(name)
      ? `${r.failures} retried; CPU of both processes`
      : /handler|invocation at a time/.test(name)
        ? `peak = RSS growth per batch; ${r.failures} retried`
        : /fleetprof/.test(name)
          ? `peak = process RSS${r.failures ? '; FAILED' : ''}`
          : '';
    console.log(`${name.padEnd(96)} ${cell(perS(r)).padStart(10)} ${cell(r.cpuMs / r.profiles, 2).padStart(14)} ${cell(msPerUpload(r), 0).padStart(10)} ${cell(r.peakMb, 0).padStart(8)}  ${note}`);
  }
  console.log(`${'peer: Go profile.ParseData, decode only'.padEnd(96)} ${(typeof go === 'number' ? go.toFixed(1) : go).padStart(10)}`);
  // ms per invocation of b bundles = fixed + b x marginal, from the two batch sizes.
  const marginal = (msPerUpload(hBundles) * batch - msPerUpload(hOne)) / (batch - 1);
  const fixed = msPerUpload(hOne) - marginal;
  console.log(`\nhandler ms per bundle in batches of ${batch}: ${cell(msPerUpload(hBundles), 0)} (wall, moto round trips included) = ${cell((msPerUpload(hBundles) / 1000) * 2, 3)} GB-s per upload at 2,048 MB`);
  console.log(`handler ms per invocation of b bundles ~ ${cell(fixed, 0)} + ${cell(marginal, 0)} x b (from batches of 1 and ${batch})`);
  console.log(`moto's CPU while 2 invocations ran side by side, share of one core: ${motoShare.map(([k, x]) => `${k} ${cell(x * 100, 0)}%`).join(', ')} (near 100%: moto, one Python process, sets the rate)`);
  const best = (r: PathResult) => 2000 / (r.cpuMs / r.profiles);
  console.log(`rate 2 idle cores would give at this CPU per profile (2,000 / CPU ms; no S3 or moto on them): handler ${cell(best(hBundles), 0)}/s, CLI bundles --jobs 2 ${cell(best(rows[rows.findIndex(([x]) => x.includes('bundles> --jobs 2'))][1]), 0)}/s`);
  console.log(`load average ${load0.toFixed(1)} -> ${load1.toFixed(1)}`);
}

void main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
