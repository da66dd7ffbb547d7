// Bundles (lib/model/bundle.ts, docs/upload-contract.md "Bundles"): one upload holding one
// period's profiles, metrics and gc lines. What is proved here:
// - a bundle made with the system's `tar -czf` ingests (fleetprof ingest) to exactly the rows
//   of its members ingested one file at a time;
// - each member keeps its own kind, start, temporality and process, and its own identity
//   (re-ingesting the bundle replaces, never duplicates);
// - a bad member fails alone, named `<bundle>!<member>`, while the others ingest;
// - the archive and manifest are checked strictly, within bounded memory (member count, the
//   members' total decompressed size), each refusal with its reason.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { isDecodeError } from '../lib/decode/errors';
import { expandUpload, type UploadInput } from '../lib/decode/inputs';
import { decodeInput } from '../lib/decode';
import { BUNDLE_LIMITS } from '../lib/model/bundle';
import { parseSourceMeta } from '../lib/model/source';
import { bundle, manifest, tar } from './helpers/bundle';
import { planUpload, WouldQuarantine } from '../bin/commands/upload';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const RUN = path.join(__dirname, 'fixtures/go/svc-a-v1-i1');
const PROFILES = ['cpu', 'heap', 'allocs', 'goroutine', 'block', 'mutex', 'threadcreate'];
// The fixture's process start (test/fixtures/go/MANIFEST.json): gctrace offsets count from it.
const START = '2026-11-21T20:54:18.074Z';
const METRICS =
  '{"time":"2026-11-21T20:54:20Z","metrics":{"/gc/cycles/total:gc-cycles":3,"/gc/heap/goal:bytes":4194304}}\n' +
  '{"time":"2026-11-21T20:54:30Z","metrics":{"/gc/cycles/total:gc-cycles":5,"/gc/heap/goal:bytes":8388608}}\n';

const META = parseSourceMeta({ service: 'svc', instance: 'i1', process: 'bundle-level', source: 'b.tar.gz', sourceId: 'id' });

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const sql = (data: string, q: string) => {
  const r = cli(['sql', '--data', data, '--json', q]);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { rows: unknown[][] }).rows;
};

function inputs(bytes: Uint8Array, opts = {}): UploadInput[] {
  return [...expandUpload(bytes, META, opts).inputs];
}
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!isDecodeError(e)) throw e;
    return `${e.code}: ${e.message}`;
  }
  throw new Error('accepted');
}
const pb = (kind: string) => readFileSync(path.join(RUN, `${kind}.pb.gz`));

describe('a bundle made with tar(1)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bundle-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test('ingests to exactly the rows of its members ingested one by one', () => {
    const files = path.join(tmp, 'files');
    const members = path.join(tmp, 'members');
    for (const d of [files, members]) spawnSync('mkdir', ['-p', d]);
    const names: string[] = [];
    const listed: object[] = [];
    for (const k of PROFILES) {
      for (const d of [files, members]) copyFileSync(path.join(RUN, `${k}.pb.gz`), path.join(d, `${k}.pb.gz`));
      names.push(`${k}.pb.gz`);
      listed.push({ name: `${k}.pb.gz`, kind: k, start: START });
    }
    for (const d of [files, members]) {
      copyFileSync(path.join(RUN, 'gctrace.log'), path.join(d, 'gctrace.log'));
      writeFileSync(path.join(d, 'metrics.jsonl'), METRICS);
    }
    names.push('gctrace.log', 'metrics.jsonl');
    listed.push({ name: 'gctrace.log', kind: 'gctrace', start: START }, { name: 'metrics.jsonl', kind: 'metrics', start: '2026-11-21T20:54:20Z' });
    writeFileSync(path.join(members, 'manifest.json'), JSON.stringify({ format: 'fleetprof-bundle', version: 1, members: listed }, null, 2));
    const b = path.join(tmp, 'period.tar.gz');
    const t = spawnSync('tar', ['-czf', b, '-C', members, 'manifest.json', ...names]);
    expect(t.status).toBe(0);

    const one = path.join(tmp, 'one-by-one');
    const bun = path.join(tmp, 'bundled');
    const common = ['--service', 'svc-a', '--instance', 'i1', '--version', 'v1'];
    const r1 = cli(['ingest', '--data', one, ...common, '--start', START, files]);
    expect(r1.stderr).toMatch(/ingested 9 of 9 inputs \(0 failed/);
    const r2 = cli(['ingest', '--data', bun, ...common, b]);
    expect(r2.stderr).toMatch(/ingested 9 of 9 inputs \(0 failed/);
    expect(r2.code).toBe(0);

    const queries = [
      'SELECT kind, time, temporality, process, duration_ns, period, sample_types, samples, format FROM profiles ORDER BY kind',
      'SELECT kind, sample_type, function, sum(flat)::BIGINT, sum(cum)::BIGINT FROM functions GROUP BY ALL ORDER BY ALL',
      'SELECT kind, sample_type, stack_id, sum(value)::BIGINT FROM stacks GROUP BY ALL ORDER BY ALL',
      'SELECT time, gc, pause_ns, heap_live_bytes, segment FROM gc_cycles ORDER BY time',
      'SELECT count(*), min(time), max(time) FROM runtime_metrics',
    ];
    for (const q of queries) expect({ q, rows: sql(bun, q) }).toEqual({ q, rows: sql(one, q) });
    expect(sql(bun, 'SELECT count(*) FROM gc_cycles')[0][0]).toBeGreaterThan(0);

    // Each member is its own source, named bundle!member; ingesting the bundle again replaces.
    const sources = sql(bun, 'SELECT source FROM profiles ORDER BY source').map((r) => r[0] as string);
    expect(sources).toEqual(PROFILES.map((k) => `${b}!${k}.pb.gz`).sort());
    const count = 'SELECT (SELECT count(*) FROM profiles), (SELECT count(*) FROM functions), (SELECT count(*) FROM gc_cycles), (SELECT count(*) FROM runtime_metrics)';
    const before = sql(bun, count);
    expect(cli(['ingest', '--data', bun, ...common, b]).code).toBe(0);
    expect(sql(bun, count)).toEqual(before);
  });

  test("members carry their own temporality and process over the upload's", () => {
    const data = path.join(tmp, 'temporality');
    const f = path.join(tmp, 'tp.tar.gz');
    writeFileSync(
      f,
      bundle([
        { name: 'allocs.pb.gz', kind: 'allocs', start: START, temporality: 'delta', process: 'run-7', data: pb('allocs') },
        { name: 'heap.pb.gz', kind: 'heap', start: START, data: pb('heap') },
      ]),
    );
    const r = cli(['ingest', '--data', data, '--service', 'svc-a', '--instance', 'i1', '--process', 'flag-proc', f]);
    expect(r.code).toBe(0);
    expect(sql(data, 'SELECT kind, temporality, process FROM profiles ORDER BY kind')).toEqual([
      ['allocs', 'delta', 'run-7'],
      ['heap', 'cumulative', 'flag-proc'],
    ]);
  });

  test('a bad member fails alone, named bundle!member; the others ingest; exit 1', () => {
    const data = path.join(tmp, 'partial');
    const f = path.join(tmp, 'partial.tar.gz');
    writeFileSync(
      f,
      bundle([
        { name: 'cpu.pb.gz', kind: 'cpu', start: START, data: pb('cpu') },
        { name: 'heap.pb.gz', kind: 'heap', start: START, data: Buffer.from('not a profile at all') },
        { name: 'goroutine.pb.gz', kind: 'goroutine', start: START, data: pb('goroutine') },
      ]),
    );
    const r = cli(['ingest', '--data', data, '--service', 'svc-a', '--instance', 'i1', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f}!heap.pb.gz: `);
    expect(r.stderr).toMatch(/ingested 2 of 3 inputs \(1 failed/);
    expect(sql(data, 'SELECT kind FROM profiles ORDER BY kind')).toEqual([['cpu'], ['goroutine']]);
  });
});

describe('expandUpload', () => {
  test('a single input is one input with the upload meta', () => {
    const got = inputs(pb('cpu'));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ ok: true, meta: META });
    expect(got[0].member).toBeUndefined();
  });

  test('members get their meta: kind, start, source bundle!member, the bundle process unless their own', () => {
    const got = inputs(
      bundle([
        { name: 'a.pb.gz', kind: 'block', start: '2026-11-21T20:00:00.5Z', data: pb('block') },
        { name: 'b.pb', kind: 'mutex', start: '2026-11-21T20:00:01Z', process: 'p2', temporality: 'delta', data: gzipSync(pb('mutex')) },
      ]),
    );
    expect(got.map((g) => [g.ok, g.meta.kind, g.meta.startUs, g.meta.process, g.meta.temporality, g.meta.source, g.meta.sourceId])).toEqual([
      [true, 'block', Date.parse('2026-11-21T20:00:00.5Z') * 1000, 'bundle-level', undefined, 'b.tar.gz!a.pb.gz', 'id!a.pb.gz'],
      [true, 'mutex', Date.parse('2026-11-21T20:00:01Z') * 1000, 'p2', 'delta', 'b.tar.gz!b.pb', 'id!b.pb'],
    ]);
  });

  test('an uncompressed tar is a bundle too; unlisted entries are ignored with a note', () => {
    const raw = tar([
      { name: 'manifest.json', data: manifest([{ name: 'cpu.pb.gz', kind: 'cpu', start: START }]) },
      { name: 'cpu.pb.gz', data: pb('cpu') },
      { name: '._cpu.pb.gz', data: 'apple double' },
    ]);
    const up = expandUpload(raw, META);
    expect(up.container).toBe('bundle');
    expect(up.notes).toEqual(['1 archive entry not listed in manifest.json ignored: ._cpu.pb.gz']);
    expect([...up.inputs].map((i) => i.ok)).toEqual([true]);
  });

  test('member problems: missing, not a regular file, undecodable, a nested bundle', () => {
    const nested = bundle([{ name: 'cpu.pb.gz', kind: 'cpu', start: START, data: pb('cpu') }]);
    const raw = tar([
      {
        name: 'manifest.json',
        data: manifest([
          { name: 'missing.pb', kind: 'cpu', start: START },
          { name: 'link', kind: 'cpu', start: START },
          { name: 'junk.pb', kind: 'heap', start: START },
          { name: 'inner.tar.gz', kind: 'cpu', start: START },
          { name: 'ok.pb.gz', kind: 'cpu', start: START },
        ]),
      },
      { name: 'link', data: '', type: '2' },
      { name: 'junk.pb', data: '\x08\x01\x12' },
      { name: 'inner.tar.gz', data: nested },
      { name: 'ok.pb.gz', data: pb('cpu') },
    ]);
    const got = inputs(raw);
    const why = got.map((g) => (g.ok ? 'ok' : (g.error as Error).message));
    expect(why[0]).toMatch(/"missing.pb" is listed in manifest.json but not in the archive/);
    expect(why[1]).toMatch(/"link" is not a regular file \(tar type '2'\)/);
    expect(why[2]).not.toBe('ok');
    expect(why[3]).toMatch(/a bundle inside a bundle/);
    expect(why[4]).toBe('ok');
    // The failed member keeps its bytes for quarantine.
    expect(got[2].bytes).toEqual(new Uint8Array(Buffer.from('\x08\x01\x12')));
  });

  test("the members' decompressed sizes share one budget", () => {
    const big = gzipSync(Buffer.alloc(600_000, 'a'));
    const raw = bundle([
      { name: 'm1.jsonl.gz', kind: 'metrics', start: START, data: big },
      { name: 'm2.jsonl.gz', kind: 'metrics', start: START, data: big },
      { name: 'cpu.pb.gz', kind: 'cpu', start: START, data: pb('cpu') },
    ]);
    const got = inputs(raw, { maxDecompressedBytes: 1_000_000 });
    expect(got.map((g) => (g.ok ? 'ok' : (g.error as Error).message))).toEqual([
      expect.not.stringMatching(/limit/), // inflated within the budget (then refused as not metrics)
      expect.stringMatching(/members decompress to more than the limit of 1000000 bytes together/),
      'ok', // what is left of the budget still takes a small member
    ]);
  });

  test.each([
    ['manifest not first', () => tar([{ name: 'cpu.pb.gz', data: pb('cpu') }, { name: 'manifest.json', data: manifest([]) }]), /first file of the archive must be manifest.json, got "cpu.pb.gz"/],
    ['a tar without files', () => tar([{ name: 'd', data: '', type: '5' }]), /holds no file/],
    ['a bad header checksum', () => tar([{ name: 'manifest.json', data: manifest([]) }, { name: 'x', data: 'y', badChecksum: true }]), /no valid ustar header at byte 1024/],
    ['a truncated archive', () => tar([{ name: 'manifest.json', data: manifest([{ name: 'x', kind: 'cpu', start: START }]) }, { name: 'x', data: Buffer.alloc(5000) }]).subarray(0, 3000), /claims 5000 bytes.*truncated/],
    ['manifest not JSON', () => tar([{ name: 'manifest.json', data: '{"format": "fleetprof-bundle",' }]), /manifest.json is not JSON/],
    ['an unknown format', () => tar([{ name: 'manifest.json', data: '{"format":"other","version":1,"members":[]}' }]), /format/],
    ['a newer version', () => tar([{ name: 'manifest.json', data: manifest([], { version: 2 }) }]), /^unsupported: .*version 2 is newer than this reader's 1/],
    ['an unknown member kind', () => tar([{ name: 'manifest.json', data: manifest([{ name: 'x', kind: 'bundle', start: START }]) }]), /members.0.kind/],
    ['a member name with a slash', () => tar([{ name: 'manifest.json', data: manifest([{ name: 'a/b', kind: 'cpu', start: START }]) }]), /members.0.name/],
    ['a start without zone', () => tar([{ name: 'manifest.json', data: manifest([{ name: 'x', kind: 'cpu', start: '2026-11-21T20:00:00' }]) }]), /start "2026-11-21T20:00:00" is not an RFC 3339 time/],
    ['a start in 1999', () => tar([{ name: 'manifest.json', data: manifest([{ name: 'x', kind: 'cpu', start: '1999-01-01T00:00:00Z' }]) }]), /^out-of-range: .*member "x": start 1999/],
    ['a member listed twice', () => tar([{ name: 'manifest.json', data: manifest([{ name: 'x', kind: 'cpu', start: START }, { name: 'x', kind: 'cpu', start: START }]) }]), /member "x" is listed twice/],
    ['an entry twice', () => tar([{ name: 'manifest.json', data: manifest([]) }, { name: 'x', data: 'a' }, { name: 'x', data: 'b' }]), /holds "x" twice/],
    ['an unknown field', () => tar([{ name: 'manifest.json', data: manifest([], { service: 'svc' }) }]), /Unrecognized key/],
    [
      'too many members',
      () => tar([{ name: 'manifest.json', data: manifest(Array.from({ length: BUNDLE_LIMITS.maxMembers + 1 }, (_, i) => ({ name: `m${i}`, kind: 'cpu', start: START }))) }]),
      /^limit: bundle: members: 1,025 is over the limit of 1,024/,
    ],
    [
      'too many archive entries',
      () => tar([{ name: 'manifest.json', data: manifest([]) }, ...Array.from({ length: BUNDLE_LIMITS.maxMembers + 20 }, (_, i) => ({ name: `e${i}`, data: '' }))]),
      /^limit: tar: entries/,
    ],
  ])('refused whole: %s', (_name, make, reason) => {
    const bytes = gzipSync(make());
    expect(refusal(() => expandUpload(bytes, META))).toMatch(reason);
    expect(refusal(() => decodeInput(bytes))).toMatch(reason);
  });
});

describe('fleetprof upload plans a bundle', () => {
  const opts = { bucket: 'b', service: 'svc-a', instance: 'i1', version: '', label: {} };
  test('key kind bundle, .tar.gz, start = the earliest member; bad members reported', () => {
    const bytes = bundle([
      { name: 'cpu.pb.gz', kind: 'cpu', start: '2026-11-21T20:54:19.5Z', data: pb('cpu') },
      { name: 'heap.pb.gz', kind: 'heap', start: '2026-11-21T20:54:18.25Z', data: 'junk' },
    ]);
    const plan = planUpload('p.tar.gz', bytes, 0, { ...opts, type: 'cpu' });
    expect(plan.key).toMatch(/^raw\/svc-a\/i1\/20261121T205418\.250Z_bundle_[0-9a-f]{16}\.tar\.gz$/);
    expect(plan.kind).toBe('bundle');
    expect(plan.memberProblems).toEqual([expect.stringMatching(/^heap\.pb\.gz: /)]);
  });
  test('an unusable archive is not uploaded', () => {
    const bytes = gzipSync(tar([{ name: 'cpu.pb.gz', data: pb('cpu') }]));
    expect(() => planUpload('p.tar.gz', bytes, 0, opts)).toThrow(WouldQuarantine);
  });
});

describe('mutated bundles', () => {
  // Seeded byte flips over an uncompressed bundle: the archive reader and the manifest checks
  // either refuse the bundle with a DecodeError or hand out members; nothing else escapes, and a
  // member's failure stays that member's.
  test('2,000 mutations: DecodeError or members, never another exception', () => {
    const good = tar([
      { name: 'manifest.json', data: manifest([{ name: 'cpu.pb.gz', kind: 'cpu', start: START }, { name: 'm.jsonl', kind: 'metrics', start: START }]) },
      { name: 'cpu.pb.gz', data: pb('cpu') },
      { name: 'm.jsonl', data: METRICS },
    ]);
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let refused = 0;
    let expanded = 0;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(good);
      // Mostly the headers and the manifest (the first 2 KiB), where the structure is.
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) b[Math.floor(rnd() * (rnd() < 0.8 ? 2048 : b.length))] = Math.floor(rnd() * 256);
      try {
        for (const input of expandUpload(b, META).inputs) if (!input.ok) expect(input.error).toBeInstanceOf(Error);
        expanded++;
      } catch (e) {
        if (!isDecodeError(e)) throw new Error(`mutation ${i}: ${(e as Error).stack}`, { cause: e });
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(expanded).toBeGreaterThan(0);
  });
});
