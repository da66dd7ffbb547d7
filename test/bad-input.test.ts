import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { decodeProfile, type DecodeOptions } from '../lib/decode';
import { DecodeError, type DecodeErrorCode } from '../lib/decode/errors';
import { DEFAULT_MAX_DECOMPRESSED } from '../lib/decode/gunzip';
import type { Profile } from '../lib/model/profile';
import { functionStats } from '../lib/normalize/functions';
import { openDuckDb } from '../lib/store/parquet';
import { encodeProfile, mulberry32, sampleProfile } from './helpers/pprof-builder';

// Inputs that are not (Go) profiles: each must be refused with a DecodeError whose message says
// what is wrong, never with another exception, a hang or a memory blow-up; and the CLI must keep
// going past them and leave nothing half-written.

const ROOT = path.resolve(__dirname, '..');
const RUN = path.join(ROOT, 'test/fixtures/go/svc-a-v1-i1');
const PPROF_TESTDATA = '/work/shared/fixtures/google-pprof-testdata';
const MiB = 1024 * 1024;

const fixture = (name: string): Buffer => readFileSync(path.join(RUN, name));

function randomBytes(seed: number, n: number): Buffer {
  const rnd = mulberry32(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

function decodeError(bytes: Uint8Array, opts?: DecodeOptions): DecodeError {
  try {
    decodeProfile(bytes, opts);
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw new Error(`expected a DecodeError, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
  }
  throw new Error('expected a DecodeError, but the input decoded');
}

function expectRefused(bytes: Uint8Array, code: DecodeErrorCode, message: RegExp, opts?: DecodeOptions): DecodeError {
  const e = decodeError(bytes, opts);
  expect({ code: e.code, message: e.message }).toEqual({ code, message: expect.stringMatching(message) });
  return e;
}

// ---------------------------------------------------------------------------------------------
// The bad inputs (also fed to the CLI below).

const plainText = Buffer.from('Hello!\nThis is a README, not a profile.\n\nIt has several lines of text.\n');
const danglingIds = Buffer.from(encodeProfile({ ...sampleProfile(), samples: [{ locationIds: [1, 77], values: [1, 1] }] }));
const truncatedVarint = Buffer.concat([Buffer.from(encodeProfile(sampleProfile())), Buffer.from([12 << 3, 0xff, 0xff, 0xff])]);

interface BadInput {
  name: string;
  bytes: () => Buffer;
  code: DecodeErrorCode | DecodeErrorCode[];
  message: RegExp;
  /** What `fleetprof ingest` says when it differs from the profile decoder (inputs routed elsewhere by content). */
  cliMessage?: RegExp;
}

const BAD: BadInput[] = [
  { name: 'truncated.pb.gz', bytes: () => fixture('cpu.pb.gz').subarray(0, fixture('cpu.pb.gz').length >> 1), code: 'bad-gzip', message: /truncated gzip stream/ },
  { name: 'random.bin', bytes: () => randomBytes(42, 4096), code: 'malformed', message: /not a valid pprof protobuf|wire type|varint|past the end/ },
  { name: 'garbage.gz', bytes: () => zlib.gzipSync(randomBytes(7, 4096)), code: 'malformed', message: /not a valid pprof protobuf|wire type|varint|past the end/ },
  { name: 'not-gzip-after-magic.gz', bytes: () => Buffer.concat([Buffer.from([0x1f, 0x8b]), randomBytes(9, 100)]), code: 'bad-gzip', message: /gzip/ },
  { name: 'empty.pb.gz', bytes: () => Buffer.alloc(0), code: 'empty', message: /empty input/ },
  { name: 'empty-gzip.pb.gz', bytes: () => zlib.gzipSync(Buffer.alloc(0)), code: 'empty', message: /empty input \(after gunzip\)/ },
  { name: 'dangling.pb', bytes: () => danglingIds, code: 'malformed', message: /unknown location id 77/ },
  { name: 'truncated-varint.pb', bytes: () => truncatedVarint, code: 'malformed', message: /truncated varint/ },
  { name: 'readme.txt', bytes: () => plainText, code: 'unsupported', message: /plain text that is not a Go profile/ },
  { name: 'readme.txt.gz', bytes: () => zlib.gzipSync(plainText), code: 'unsupported', message: /plain text/ },
  { name: 'goroutine.debug2.txt', bytes: () => fixture('goroutine.debug2.txt'), code: 'unsupported', message: /goroutine debug=2 dumps are not a profile format/ },
  // Not a profile; `fleetprof ingest` routes it to gc_cycles, which needs --start.
  {
    name: 'gctrace.log',
    bytes: () => fixture('gctrace.log'),
    code: 'unsupported',
    message: /plain text/,
    cliMessage: /^gctrace log needs a capture start: pass --start$/,
  },
  { name: 'legacy-cpu.prof', bytes: () => readFileSync(path.join(PPROF_TESTDATA, 'go.crc32.cpu')), code: 'unsupported', message: /legacy binary CPU profile/ },
  {
    name: 'bad-address.heap.txt',
    bytes: () => Buffer.from('heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x x\n1: 2 [3: 4] @ x 0x\n'),
    code: [], // decodes: pprof ignores what is not a hex address (regression: BigInt('0x') threw)
    message: /./,
  },
];

describe('bad inputs are refused with a clear DecodeError', () => {
  test.each(BAD.filter((b) => !Array.isArray(b.code)))('$name', ({ bytes, code, message }) => {
    const e = expectRefused(bytes(), code as DecodeErrorCode, message);
    expect(e.message.length).toBeGreaterThan(10);
    // The pako engine says the same kind of thing.
    expect(decodeError(bytes(), { inflate: 'pako' }).code).toBe(code);
  });

  test('random bytes of many sizes and seeds', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const n = [1, 2, 3, 7, 64, 1000, 65536][seed % 7];
      const e = decodeError(randomBytes(seed, n));
      expect(['malformed', 'unsupported', 'bad-gzip']).toContain(e.code);
    }
  });

  test('a text heap record with junk where addresses go decodes like pprof (hex numbers only)', () => {
    const p = decodeProfile(BAD.find((b) => b.name === 'bad-address.heap.txt')!.bytes());
    expect(p.samples.count).toBe(2);
    expect([...p.samples.stackStart]).toEqual([0, 0, 0]);
  });

  test('pathological text lines take linear time (regressions: two quadratic regexes)', () => {
    const timed = (text: string): number => {
      const t0 = Date.now();
      try {
        decodeProfile(Buffer.from(text));
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
      return Date.now() - t0;
    };
    const n = 2 * MiB;
    // A frame comment with many `+0x..` and no `file:line` (was O(n^2) in the name's `.*?`).
    expect(timed(`goroutine profile: total 1\n1 @ 0x2\n#\t0x1\tf${'+0x1 a'.repeat(n / 6)}\n`)).toBeLessThan(2000);
    // A long run of digits where a contention record goes (was O(n^2) in `(\d+) *(\d+)`).
    expect(timed(`--- mutex:\ncycles/second=1000\nsampling period=1\n${'1'.repeat(n)}\n`)).toBeLessThan(2000);
    expectRefused(Buffer.from(`--- mutex:\ncycles/second=1000\n${'1'.repeat(n)}\n`), 'malformed', /line 3: not a contention record/);
  });

  test('a gzip member split and concatenated decodes as one stream (as Go gzip.Reader does)', () => {
    const raw = zlib.gunzipSync(fixture('heap.pb.gz'));
    const half = raw.length >> 1;
    const twoMembers = Buffer.concat([zlib.gzipSync(raw.subarray(0, half)), zlib.gzipSync(raw.subarray(half))]);
    const want = decodeProfile(fixture('heap.pb.gz'));
    expect(decodeProfile(twoMembers)).toEqual(want);
    expect(decodeProfile(twoMembers, { inflate: 'pako' })).toEqual(want);
    expect(decodeProfile(raw)).toEqual(want);
  });
});

// ---------------------------------------------------------------------------------------------
// Gzip bomb: 8 gzip members of 256 MiB of zeros each = 2 GiB from ~2 MB.

const BOMB_FILE = path.join(os.tmpdir(), 'fleetprof-test-gzip-bomb-8x256MiB-zeros-level9.gz');
const BOMB_MEMBERS = 8;
const BOMB_MEMBER_SIZE = 256 * MiB;

function isValidBomb(b: Buffer): boolean {
  // Each member's ISIZE trailer (uncompressed size mod 2^32) is 256 MiB.
  return b.length > 1 * MiB && b.length < 4 * MiB && b[0] === 0x1f && b[1] === 0x8b && b.readUInt32LE(b.length - 4) === BOMB_MEMBER_SIZE;
}

async function gzipBomb(): Promise<Buffer> {
  if (existsSync(BOMB_FILE)) {
    const cached = await fs.readFile(BOMB_FILE);
    if (isValidBomb(cached)) return cached;
  }
  // Streamed, so making the bomb never holds 256 MiB.
  const gz = zlib.createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gz.on('data', (c: Buffer) => chunks.push(c));
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < BOMB_MEMBER_SIZE / MiB; i++) if (!gz.write(zeros)) await once(gz, 'drain');
  gz.end();
  await once(gz, 'end');
  const member = Buffer.concat(chunks);
  const bomb = Buffer.concat(new Array<Buffer>(BOMB_MEMBERS).fill(member));
  const tmp = `${BOMB_FILE}.${process.pid}.tmp`;
  await fs.writeFile(tmp, bomb);
  await fs.rename(tmp, BOMB_FILE);
  return bomb;
}

function memory(): { rss: number; arrayBuffers: number; maxRss: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, arrayBuffers: m.arrayBuffers, maxRss: process.resourceUsage().maxRSS * 1024 };
}

describe('gzip bomb', () => {
  let bomb: Buffer;
  beforeAll(async () => {
    bomb = await gzipBomb();
  }, 120_000);

  test('the bomb is what it claims (2 GiB of zeros in ~2 MB)', async () => {
    expect(isValidBomb(bomb)).toBe(true);
    expect(bomb.length).toBeLessThan(3 * MiB);
    // The first member really inflates to 256 MiB of zeros: counted through a stream, so that
    // this check does not raise the process's peak RSS (the tests below measure it).
    const firstMember = bomb.subarray(0, bomb.length / BOMB_MEMBERS);
    const gunzip = zlib.createGunzip();
    let n = 0;
    let nonZero = 0;
    gunzip.on('data', (c: Buffer) => {
      n += c.length;
      for (let i = 0; i < c.length; i += 4096) nonZero |= c[i];
    });
    gunzip.end(firstMember);
    await once(gunzip, 'end');
    expect({ n, nonZero }).toEqual({ n: BOMB_MEMBER_SIZE, nonZero: 0 });
  });

  test.each(['zlib', 'pako'] as const)('refused as too-large under the default 256 MiB limit, in bounded memory (%s)', (inflate) => {
    expect(DEFAULT_MAX_DECOMPRESSED).toBe(256 * MiB);
    const before = memory();
    const t0 = Date.now();
    const e = expectRefused(bomb, 'too-large', /decompressed size exceeds the limit of 268435456 bytes/, { inflate });
    const ms = Date.now() - t0;
    const after = memory();
    const growth = {
      rss: after.rss - before.rss,
      arrayBuffers: after.arrayBuffers - before.arrayBuffers,
      peakRss: after.maxRss - before.maxRss,
    };
    expect(e).toBeInstanceOf(DecodeError);
    if (process.env.FLEETPROF_TEST_VERBOSE) process.stderr.write(`bomb (${inflate}): ${ms} ms, growth ${JSON.stringify(growth)}\n`);
    expect(growth.rss).toBeLessThan(600 * MiB);
    expect(growth.arrayBuffers).toBeLessThan(600 * MiB);
    expect(growth.peakRss).toBeLessThan(600 * MiB);
  });

  test.each(['zlib', 'pako'] as const)('refused as too-large under a small configured limit (%s)', (inflate) => {
    const before = memory();
    expectRefused(bomb, 'too-large', /exceeds the limit of 1048576 bytes/, { maxDecompressedBytes: MiB, inflate });
    expect(memory().maxRss - before.maxRss).toBeLessThan(100 * MiB);
    // A real profile passes under a limit just above its size and fails just below it.
    const real = fixture('heap.pb.gz');
    const size = zlib.gunzipSync(real).length;
    expect(decodeProfile(real, { maxDecompressedBytes: size, inflate }).samples.count).toBeGreaterThan(0);
    expectRefused(real, 'too-large', new RegExp(`limit of ${size - 1} bytes`), { maxDecompressedBytes: size - 1, inflate });
  });
});

// ---------------------------------------------------------------------------------------------
// google/pprof's own test profiles (C++, Java, old Go): decoded correctly or 'unsupported'.

interface StringSample {
  values: bigint[];
  addresses: bigint[];
  numLabels: Record<string, string>;
}

/** Reads the Samples and Locations sections of pprof's Profile.String() printout. */
function parsePprofString(text: string): { types: string[]; samples: StringSample[] } {
  const lines = text.split('\n');
  const at = lines.indexOf('Samples:');
  const types = lines[at + 1].trim().split(/\s+/);
  const rawSamples: { values: bigint[]; locs: number[]; numLabels: Record<string, string> }[] = [];
  let i = at + 2;
  for (; i < lines.length && lines[i] !== 'Locations'; i++) {
    const m = /^\s*(-?\d+(?:\s+-?\d+)*):\s?(.*)$/.exec(lines[i]);
    if (m && !lines[i].startsWith(' '.repeat(16))) {
      rawSamples.push({ values: m[1].trim().split(/\s+/).map(BigInt), locs: m[2].trim().split(/\s+/).filter(Boolean).map(Number), numLabels: {} });
    } else {
      const l = /^\s+(\S+):\[(.*)\]$/.exec(lines[i]);
      if (l) rawSamples[rawSamples.length - 1].numLabels[l[1]] = l[2];
    }
  }
  const addr = new Map<number, bigint>();
  for (i++; i < lines.length && lines[i] !== 'Mappings'; i++) {
    const m = /^\s*(\d+): (0x[0-9a-f]+)/.exec(lines[i]);
    if (m) addr.set(Number(m[1]), BigInt(m[2]));
  }
  return { types, samples: rawSamples.map((s) => ({ values: s.values, addresses: s.locs.map((id) => addr.get(id)!), numLabels: s.numLabels })) };
}

function sampleOf(p: Profile, i: number): StringSample {
  const n = p.sampleTypes.length;
  const values = Array.from({ length: n }, (_, t) => BigInt(p.samples.values.data[i * n + t]));
  const addresses: bigint[] = [];
  for (let j = p.samples.stackStart[i]; j < p.samples.stackStart[i + 1]; j++) addresses.push(BigInt(p.locations[p.samples.stack[j]].address));
  const numLabels: Record<string, string> = {};
  for (const l of p.samples.labelSets[p.samples.labelSet[i]]) if ('num' in l) numLabels[l.key] = String(l.num);
  return { values, addresses, numLabels };
}

describe('google/pprof testdata', () => {
  const files = readdirSync(PPROF_TESTDATA).filter((f) => !f.endsWith('.string') && !f.endsWith('.md'));

  test('the fixture set is there', () => expect(files.length).toBeGreaterThanOrEqual(14));

  test.each(files)('%s: decoded as pprof prints it, or refused as unsupported', (file) => {
    const bytes = readFileSync(path.join(PPROF_TESTDATA, file));
    let p: Profile;
    try {
      p = decodeProfile(bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(DecodeError);
      expect(['unsupported', 'malformed']).toContain((e as DecodeError).code);
      expect((e as DecodeError).message).toMatch(/not supported|not a Go|unrecognized|unsupported|not a profile|legacy|not a .* record/);
      return;
    }
    // Decoded: it must agree with pprof's own reading (.string file).
    const want = parsePprofString(readFileSync(path.join(PPROF_TESTDATA, `${file}.string`), 'utf8'));
    expect(p.sampleTypes.map((t) => `${t.type}/${t.unit}`)).toEqual(want.types);
    expect(Array.from({ length: p.samples.count }, (_, i) => sampleOf(p, i))).toEqual(want.samples);
    expect(() => functionStats(p)).not.toThrow();
  });

  test('the legacy binary CPU profiles say so', () => {
    for (const f of ['cppbench.cpu', 'go.crc32.cpu', 'gobench.cpu', 'java.cpu']) {
      expectRefused(readFileSync(path.join(PPROF_TESTDATA, f)), 'unsupported', /legacy binary CPU profile/);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// End to end: `fleetprof ingest` over a directory mixing good and bad files.

// The CLI is compiled by tsc into a private directory rather than dist/: under `npm test` jest runs
// files in parallel and test/cli.test.ts executes dist/ while this file would be rewriting it.
// NODE_PATH lets the private build find the project's node_modules.
let BUILD = '';
const CLI = () => path.join(BUILD, 'bin/fleetprof.js');

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') };
  const r = spawnSync(process.execPath, [CLI(), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else out.push(full);
    }
  };
  if (existsSync(dir)) await walk(dir);
  return out.sort();
}

describe('fleetprof ingest (CLI, end to end)', () => {
  let work: string;
  let input: string;
  let data: string;
  const good = ['good-cpu.pb.gz', 'good-heap.pb.gz'];
  const bad = [...BAD.filter((b) => !Array.isArray(b.code)).map((b) => b.name), 'bomb.pb.gz'];

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-bad-input-'));
    // Build the CLI (tsc emits even if some other file has a type error; the CLI must exist).
    BUILD = path.join(work, 'build');
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', BUILD, '--declaration', 'false', '--sourceMap', 'false'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) process.stderr.write(`tsc exited ${build.status}:\n${build.stdout}${build.stderr}\n`);
    expect(existsSync(CLI())).toBe(true);

    input = path.join(work, 'in');
    data = path.join(work, 'data');
    await fs.mkdir(input);
    await fs.copyFile(path.join(RUN, 'cpu.pb.gz'), path.join(input, good[0]));
    await fs.copyFile(path.join(RUN, 'heap.pb.gz'), path.join(input, good[1]));
    for (const b of BAD) if (!Array.isArray(b.code)) await fs.writeFile(path.join(input, b.name), b.bytes());
    await fs.writeFile(path.join(input, 'bomb.pb.gz'), await gzipBomb());
  }, 240_000);

  afterAll(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  test('bad files are reported one per line, good ones are ingested and queryable', async () => {
    const r = cli(['ingest', '--data', data, '--service', 'svc-a', '--instance', 'i1', input]);
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter(Boolean);
    for (const name of bad) {
      const file = path.join(input, name);
      const mine = lines.filter((l) => l.startsWith(`${file}: `));
      expect({ name, lines: mine.length }).toEqual({ name, lines: 1 });
      const reason = mine[0].slice(file.length + 2);
      expect(reason.length).toBeGreaterThan(10);
      const b = BAD.find((x) => x.name === name);
      const expected = b ? (b.cliMessage ?? b.message) : /decompressed size exceeds the limit/;
      expect(reason).toMatch(expected);
    }
    for (const name of good) expect(lines.filter((l) => l.includes(name))).toEqual([]);
    expect(lines[lines.length - 1]).toMatch(new RegExp(`^ingested 2 of ${good.length + bad.length} inputs \\(${bad.length} failed`));
    // Nothing else on stderr: one line per bad file and the summary.
    expect(lines).toHaveLength(bad.length + 1);

    const q = cli(['sql', '--data', data, '--json', 'SELECT count(*) FROM profiles']);
    expect(q.stderr).toBe('');
    expect(q.status).toBe(0);
    const json = JSON.parse(q.stdout) as { rows: unknown[][] };
    expect(Number(json.rows[0][0])).toBe(2);
  }, 120_000);

  test('no temporary or partial files remain in the data directory', async () => {
    expect(await filesUnder(path.join(data, '.tmp'))).toEqual([]);
    const files = await filesUnder(data);
    for (const f of files) expect(path.basename(f)).not.toMatch(/\.(tmp|part|partial)$|^\.|~$/);
    const parquet = files.filter((f) => f.endsWith('.parquet'));
    // One batch file per table (layout v2: one file per table per batch and UTC hour), so each of
    // the profile path's tables has at least one file under fresh/.
    for (const table of ['profiles', 'functions', 'stacks']) {
      expect(parquet.some((f) => f.includes(`${path.sep}fresh${path.sep}${table}${path.sep}`))).toBe(true);
    }
    const db = await openDuckDb({ threads: 1 });
    const conn = await db.connect();
    try {
      for (const f of parquet) {
        const reader = await conn.runAndReadAll(`SELECT count(*) AS n FROM read_parquet('${f.replace(/'/g, "''")}')`);
        expect(Number(reader.getRows()[0][0])).toBeGreaterThanOrEqual(0);
      }
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});
