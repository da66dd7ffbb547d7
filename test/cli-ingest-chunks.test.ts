// `fleetprof ingest` over a directory larger than one chunk (bin/commands/ingest.ts CHUNK_INPUTS):
// one chunk is written while the next is decoded, and every input still lands exactly once, with a
// bad input failing alone in whichever chunk it falls.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { runIngest } from '../bin/commands/ingest';
import { openEngine } from '../lib/query/open';
import { LocalStore } from '../lib/store/local';
import { encodeProfile, sampleProfile } from './helpers/pprof-builder';

const INPUTS = 450; // more than two chunks of 200
const BAD = 317; // in the second chunk

describe('fleetprof ingest in chunks', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-chunks-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test('every input of several chunks is ingested once; a bad one fails alone', async () => {
    const dir = path.join(tmp, 'in');
    mkdirSync(dir);
    const t0 = 1_764_000_000_000_000_000n; // 2025-11-24T16:00:00Z, one hour for all
    for (let i = 0; i < INPUTS; i++) {
      const bytes = i === BAD ? Buffer.from('not a profile') : gzipSync(encodeProfile({ ...sampleProfile(), timeNanos: t0 + BigInt(i) * 1_000_000_000n }));
      writeFileSync(path.join(dir, `${String(i).padStart(4, '0')}-cpu.pb.gz`), bytes);
    }
    const data = path.join(tmp, 'data');
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let code: number;
    let notes: string;
    try {
      code = await runIngest([dir], { data, service: 'svc', instance: 'i1', version: '', label: {} });
    } finally {
      notes = stderr.mock.calls.map((c) => String(c[0])).join('');
      stderr.mockRestore();
    }
    expect(code).not.toBe(0);
    expect(notes).toContain(`${String(BAD).padStart(4, '0')}-cpu.pb.gz`);
    expect(notes).toMatch(new RegExp(`ingested ${INPUTS - 1} of ${INPUTS} inputs`));

    const store = new LocalStore(data);
    // Three chunks (200, 200, 50): a file per table per chunk.
    expect((await store.list('fresh/profiles/')).filter((o) => o.key.endsWith('.parquet'))).toHaveLength(3);
    const engine = await openEngine(store, {}, [store.root]);
    try {
      const [r] = await engine.rows('SELECT count(*)::INTEGER AS n, count(DISTINCT profile_id)::INTEGER AS ids, sum(samples)::INTEGER AS samples FROM profiles');
      expect(r).toEqual({ n: INPUTS - 1, ids: INPUTS - 1, samples: (INPUTS - 1) * 3 });
      const [s] = await engine.rows(`SELECT sum(value)::BIGINT AS v FROM stacks WHERE sample_type = 'cpu'`);
      expect(BigInt(s.v as bigint)).toBe(BigInt(INPUTS - 1) * 60_000_000n);
    } finally {
      engine.close();
    }
  }, 180_000);

  test('the same bytes twice in one chunk (a path given twice, a copy) are written once', async () => {
    const dir = path.join(tmp, 'dup');
    mkdirSync(dir);
    const bytes = gzipSync(encodeProfile(sampleProfile()));
    writeFileSync(path.join(dir, 'a-cpu.pb.gz'), bytes);
    writeFileSync(path.join(dir, 'b-cpu.pb.gz'), bytes);
    const data = path.join(tmp, 'dup-data');
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let code: number;
    try {
      code = await runIngest([dir, path.join(dir, 'a-cpu.pb.gz')], { data, service: 'svc', instance: 'i1', version: '', label: {}, jobs: 1 });
    } finally {
      stderr.mockRestore();
    }
    expect(code).toBe(0);
    const store = new LocalStore(data);
    const engine = await openEngine(store, {}, [store.root]);
    try {
      const [r] = await engine.rows('SELECT count(*)::INTEGER AS n, sum(samples)::INTEGER AS samples FROM profiles');
      expect(r).toEqual({ n: 1, samples: 3 });
      const [s] = await engine.rows(`SELECT sum(value)::BIGINT AS v FROM stacks WHERE sample_type = 'cpu'`);
      expect(BigInt(s.v as bigint)).toBe(60_000_000n);
    } finally {
      engine.close();
    }
  }, 60_000);
});
