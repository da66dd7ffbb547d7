// `fleetprof ingest --jobs N` (bin/commands/ingest-workers.ts): this thread and N - 1 worker threads
// take files from one list, each writing its own batches. The rows must be the ones one thread
// writes, a bad input must fail alone and once, and ingesting the same files again must not
// change what readers see (every batch has its own id; readers keep one copy per profile).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { openEngine } from '../lib/query/open';
import { LocalStore } from '../lib/store/local';
import { encodeProfile, sampleProfile } from './helpers/pprof-builder';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const INPUTS = 120;
const BAD = 77;

function ingest(dir: string, data: string, ...extra: string[]) {
  return spawnSync(process.execPath, [CLI, 'ingest', '--data', data, '--service', 'svc', '--instance', 'i1', ...extra, dir], { encoding: 'utf8' });
}

describe('fleetprof ingest --jobs', () => {
  let tmp: string;
  let dir: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-jobs-'));
    dir = path.join(tmp, 'in');
    mkdirSync(dir);
    const t0 = 1_764_000_000_000_000_000n; // 2025-11-24T16:00:00Z
    for (let i = 0; i < INPUTS; i++) {
      // Two hours of profiles, so a batch of either thread may hold two files per table.
      const bytes = i === BAD ? Buffer.from('not a profile') : gzipSync(encodeProfile({ ...sampleProfile(), timeNanos: t0 + BigInt(i) * 60_000_000_000n }));
      writeFileSync(path.join(dir, `${String(i).padStart(4, '0')}-cpu.pb.gz`), bytes);
    }
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test('two threads write the rows one thread writes; a bad input fails once; a second run changes nothing readers see', async () => {
    const one = path.join(tmp, 'one');
    const two = path.join(tmp, 'two');
    const r1 = ingest(dir, one, '--jobs', '1');
    const r2 = ingest(dir, two, '--jobs', '2');
    for (const r of [r1, r2]) {
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`${String(BAD).padStart(4, '0')}-cpu.pb.gz`);
      expect(r.stderr).toContain(`ingested ${INPUTS - 1} of ${INPUTS} inputs (1 failed`);
    }
    // Every row of every table, batch ids aside, equal as multisets.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      for (const t of ['profiles', 'functions', 'stacks']) {
        const src = (d: string) => `(SELECT * EXCLUDE (_batch) FROM read_parquet('${d}/fresh/${t}/**/*.parquet', hive_partitioning = true))`;
        const n = async (sql: string) => Number((await conn.runAndReadAll(sql)).getRows()[0][0]);
        expect(await n(`SELECT count(*) FROM ${src(one)}`)).toBeGreaterThan(0);
        expect([t, await n(`SELECT count(*) FROM ${src(one)}`)]).toEqual([t, await n(`SELECT count(*) FROM ${src(two)}`)]);
        expect([t, await n(`SELECT count(*) FROM (${src(one)} EXCEPT ALL ${src(two)})`)]).toEqual([t, 0]);
        expect([t, await n(`SELECT count(*) FROM (${src(two)} EXCEPT ALL ${src(one)})`)]).toEqual([t, 0]);
      }
    } finally {
      conn.closeSync();
      db.closeSync();
    }
    // Redelivery: the same files again, on two threads, into the same directory.
    expect(ingest(dir, two, '--jobs', '2').status).toBe(1);
    const store = new LocalStore(two);
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

  test('--jobs takes a whole number of at least 1', () => {
    const r = ingest(dir, path.join(tmp, 'zero'), '--jobs', '0');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--jobs takes 1 or more/);
  });
});
