// `npm run bench`: decode throughput side by side with its peers on the same files in one run,
// ingest throughput, stored bytes per CPU sample over a simulated fleet day, peak memory.
// Prints numbers; asserts nothing (targets are judged in docs/performance.md).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as protobuf from 'protobufjs';
import { Profile as PprofFormatProfile } from 'pprof-format';
import { decodeProfile } from '../lib/decode';
import { gunzip } from '../lib/decode/gunzip';
import { detectKind } from '../lib/decode/kind';
import { parseSourceMeta } from '../lib/model/source';
import { profileRows } from '../lib/normalize/profile-rows';
import { FreshBatch, prepareBytes } from '../lib/ingest';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import type { Profile } from '../lib/model/profile';
import { compact } from '../lib/store/compact';
import { mulberry32, perturb } from './replay';

const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const FILES = [
  path.join(ROOT, 'bench/fixtures/cpu-large.pb.gz'),
  path.join(ROOT, 'bench/fixtures/heap-large.pb.gz'),
  ...['cpu', 'heap', 'allocs', 'goroutine', 'block', 'mutex'].map((k) => path.join(ROOT, `test/fixtures/go/svc-a-v1-i1/${k}.pb.gz`)),
].filter((f) => existsSync(f));

function mbps(bytes: number, fn: () => void, seconds = Number(process.env.BENCH_SECONDS ?? 2)): number {
  fn(); // warm up
  let iters = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < seconds * 1e9 || iters < 3) {
    fn();
    iters++;
    elapsed = Number(process.hrtime.bigint() - t0);
  }
  return (bytes * iters) / 1e6 / (elapsed / 1e9);
}

function goParseData(files: string[]): number | string {
  const dir = path.join(ROOT, 'bench/go/parse');
  const bin = path.join(dir, 'bin/parse');
  try {
    if (!existsSync(bin)) execFileSync('go', ['build', '-o', bin, '.'], { cwd: dir, stdio: 'ignore' });
    const out = execFileSync(bin, ['-seconds', process.env.BENCH_SECONDS ?? '2', ...files], { encoding: 'utf8' });
    const all = out.trim().split('\n').map((l) => JSON.parse(l) as { file: string; mb_per_s: number });
    return all.find((r) => r.file === '*')?.mb_per_s ?? NaN;
  } catch (e) {
    return `unavailable (${(e as Error).message.split('\n')[0]})`;
  }
}

const fmt = (n: number | string) => (typeof n === 'number' ? n.toFixed(1) : n);

async function decodeSection(): Promise<void> {
  const inputs = FILES.map((f) => readFileSync(f));
  const total = inputs.reduce((s, b) => s + b.length, 0);
  const root = protobuf.loadSync(path.join(ROOT, 'lib/model/profile.proto'));
  const Reflected = root.lookupType('perftools.profiles.Profile');
  const rows: [string, number | string][] = [
    ['fleetprof decodeProfile (gz in, zlib)', mbps(total, () => inputs.forEach((b) => decodeProfile(b)))],
    ['fleetprof decodeProfile (gz in, pako)', mbps(total, () => inputs.forEach((b) => decodeProfile(b, { inflate: 'pako' })))],
    ['bare gunzip, node:zlib (default chunks)', mbps(total, () => inputs.forEach((b) => gunzipSync(b)))],
    ['bare gunzip, node:zlib (sized chunk)', mbps(total, () => inputs.forEach((b) => gunzip(b)))],
    ['bare gunzip, pako', mbps(total, () => inputs.forEach((b) => gunzip(b, undefined, 'pako')))],
    ['protobufjs reflection decode (+zlib)', mbps(total, () => inputs.forEach((b) => Reflected.decode(gunzipSync(b))))],
    ['npm pprof-format decode (+zlib)', mbps(total, () => inputs.forEach((b) => PprofFormatProfile.decode(gunzipSync(b))))],
    ['Go google/pprof profile.ParseData', goParseData(FILES)],
  ];
  console.log(`\n## Decode throughput: MB/s of gzipped input, ${FILES.length} files, ${(total / 1e6).toFixed(2)} MB`);
  for (const [name, v] of rows) console.log(`${name.padEnd(42)} ${fmt(v).padStart(10)}`);
}

async function ingestSection(): Promise<void> {
  // The production path (the ingest Lambda per SQS batch, `fleetprof ingest` per chunk): each input
  // decoded and normalized on its own, then one Parquet file per table per batch of BATCH inputs.
  // Publishing every profile on its own (ingestProfileBytes) measured the file-per-profile layout
  // the fleet work removed (issue #11): its 2-3 profiles/s said nothing about ingest today.
  // bench/ingest.ts measures the handler and the CLI over agent bundles beside an old build.
  const BATCH = 10;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bench-'));
  try {
    const store = new LocalStore(dir);
    const instance = await openDuckDb();
    const writer = await ParquetWriter.create(instance);
    const inputs = FILES.map((f) => ({ f, b: readFileSync(f) }));
    let n = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 5000 || n < inputs.length) {
      const batch = new FreshBatch({ store, writer }, { maxRows: Infinity });
      for (let k = 0; k < BATCH; k++, n++) {
        const { f, b } = inputs[n % inputs.length];
        const meta = parseSourceMeta({ service: 'bench', instance: `i${n}`, source: f, sourceId: `${f}#${n}` });
        batch.add(prepareBytes(b, meta).entries);
      }
      await batch.publish();
    }
    const secs = (Date.now() - t0) / 1000;
    console.log(`\n## Ingest (decode -> normalize -> one Parquet file per table per batch of ${BATCH}), mixed kinds incl. the two large profiles`);
    console.log(`profiles/s                                 ${(n / secs).toFixed(1).padStart(10)}`);
    writer.close();
    instance.closeSync();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function duSize(dir: string): number {
  let s = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    s += e.isDirectory() ? duSize(p) : statSync(p).size;
  }
  return s;
}

async function storageSection(): Promise<void> {
  // A fleet day: real CPU profiles replayed across instances and hours.
  const instances = Number(process.env.BENCH_INSTANCES ?? 20);
  const perHour = Number(process.env.BENCH_PER_HOUR ?? 6);
  const cpuFiles = readdirSync(path.join(ROOT, 'test/fixtures/go')).map((r) => path.join(ROOT, 'test/fixtures/go', r, 'cpu.pb.gz')).filter(existsSync);
  const profiles: Profile[] = cpuFiles.map((f) => decodeProfile(readFileSync(f)));
  // BENCH_DAY_DIR keeps the day's per-profile files for experiments (e.g. compaction layouts).
  const keep = process.env.BENCH_DAY_DIR;
  const dir = keep ?? mkdtempSync(path.join(os.tmpdir(), 'fleetprof-day-'));
  try {
    const store = new LocalStore(dir);
    const instance = await openDuckDb();
    const writer = await ParquetWriter.create(instance);
    const day = Date.parse('2026-11-20T00:00:00Z') * 1000;
    let samples = 0;
    let rawGz = 0;
    const rnd = mulberry32(20261121);
    let n = 0;
    for (let h = 0; h < 24; h++) {
      // One batch per hour: what the ingest Lambda writes per SQS batch (layout v2).
      const batch = new FreshBatch({ store, writer }, { maxRows: Infinity });
      for (let k = 0; k < perHour; k++) {
        for (let i = 0; i < instances; i++) {
          const idx = (h + k + i) % profiles.length;
          const p = perturb(profiles[idx], rnd, (day + (h * 3600 + k * (3600 / perHour)) * 1e6) * 1000);
          const meta = parseSourceMeta({ service: 'svc-a', instance: `i-${i}`, version: 'v1', source: 'bench', sourceId: `day/${h}/${k}/${i}` });
          const rows = profileRows(p, detectKind(p), meta, `p${n++}`);
          batch.add([
            { table: 'functions', rows: rows.functions },
            { table: 'stacks', rows: rows.stacks },
            { table: 'profiles', rows: rows.profiles },
          ]);
          const nT = p.sampleTypes.length;
          for (let s = 0; s < p.samples.count; s++) samples += Number(p.samples.values.data[s * nT]);
          rawGz += statSync(cpuFiles[idx]).size;
        }
      }
      await batch.publish();
    }
    const perFile = duSize(dir) - (existsSync(path.join(dir, '.tmp')) ? duSize(path.join(dir, '.tmp')) : 0);
    // What `fleetprof compact` makes of the closed day: one file per table, re-sorted, zstd 19.
    const t0 = Date.now();
    await compact(store, writer, { closedBefore: Infinity, graceMs: 0 });
    await compact(store, writer, { closedBefore: Infinity, graceMs: 0 }); // the deferred deletes
    const compactSecs = (Date.now() - t0) / 1000;
    const compacted = duSize(dir) - (existsSync(path.join(dir, '.tmp')) ? duSize(path.join(dir, '.tmp')) : 0);
    const perTable = (['profiles', 'functions', 'stacks'] as const).map((t) => `${t} ${(duSize(path.join(dir, t)) / samples).toFixed(2)}`);
    // (fresh/ is empty once merged files are deleted)
    writer.close();
    instance.closeSync();
    console.log(`\n## Storage over a simulated fleet day: ${n} CPU profiles (${instances} instances x 24 h x ${perHour}/h), ${samples} samples`);
    console.log(`raw .pb.gz bytes per sample                ${(rawGz / samples).toFixed(2).padStart(10)}`);
    console.log(`Parquet bytes per sample, fresh hour batches ${(perFile / samples).toFixed(2).padStart(10)}`);
    console.log(`Parquet bytes per sample, compacted day    ${(compacted / samples).toFixed(2).padStart(10)}  (${perTable.join(', ')}; compaction took ${compactSecs.toFixed(1)} s)`);
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

async function memorySection(): Promise<void> {
  // Peak memory of one decode of the largest profile, in a fresh process: the code is warmed on a
  // small profile first (JIT and lazily loaded modules are not the decode's memory), then the
  // kernel's RSS high-water mark is reset (clear_refs 5) and read back after the decode.
  const largest = FILES.reduce((a, b) => (statSync(a).size >= statSync(b).size ? a : b));
  const smallest = FILES.reduce((a, b) => (statSync(a).size <= statSync(b).size ? a : b));
  const raw = gunzipSync(readFileSync(largest)).length;
  const script = `const {decodeProfile}=require(${JSON.stringify(path.join(__dirname, '../lib/decode'))});
    const fs=require('fs'); const kb=(k)=>Number(/\\s(\\d+) kB/.exec(fs.readFileSync('/proc/self/status','utf8').split('\\n').find(l=>l.startsWith(k)))[1])*1024;
    for (let i=0;i<20;i++) decodeProfile(fs.readFileSync(${JSON.stringify(smallest)}));
    const b=fs.readFileSync(${JSON.stringify(largest)});
    global.gc(); let reset=true; try { fs.writeFileSync('/proc/self/clear_refs','5'); } catch { reset=false; }
    const before=kb('VmRSS:');
    const p=decodeProfile(b);
    console.log(JSON.stringify({before, peak: kb('VmHWM:'), reset, samples:p.samples.count}));`;
  const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' })) as { before: number; peak: number; reset: boolean };
  console.log(`\n## Peak memory decoding ${path.basename(largest)} (${(raw / 1e6).toFixed(1)} MB raw protobuf)${out.reset ? '' : ' (VmHWM reset unavailable: peak includes start-up)'}`);
  console.log(`peak RSS growth during decode (MB)         ${((out.peak - out.before) / 1e6).toFixed(1).padStart(10)}`);
  console.log(`peak RSS growth / raw size                 ${((out.peak - out.before) / raw).toFixed(2).padStart(10)}`);
  console.log(`process peak RSS (MB)                      ${(out.peak / 1e6).toFixed(1).padStart(10)}`);
}

async function main(): Promise<void> {
  console.log(`# fleetprof bench — ${new Date().toISOString()} — node ${process.version}, ${os.cpus().length} cpus`);
  // BENCH_SECTIONS=storage (comma-separated) runs only those sections: the storage day alone takes
  // minutes, and comparing two layouts needs only it.
  const only = process.env.BENCH_SECTIONS?.split(',');
  const want = (s: string) => !only || only.includes(s);
  if (want('decode')) await decodeSection();
  if (want('ingest')) await ingestSection();
  if (want('storage')) await storageSection();
  if (want('memory')) await memorySection();
  if (!want('gctrace')) return;
  try {
    const { benchGctrace } = await import('./gctrace');
    const g = await benchGctrace();
    console.log(`\n## gctrace parse (streamed, synthetic log)`);
    console.log(JSON.stringify(g));
  } catch (e) {
    console.log(`\n## gctrace parse: unavailable (${(e as Error).message})`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
