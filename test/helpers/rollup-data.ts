// A multi-hour, multi-day data directory made of real Go profiles (test/fixtures), for rollup
// and query-planner tests: the fixtures are ingested once, then every profile is copied to new
// times, instances and process identities (rows identical otherwise), the way the fleet simulator
// copies an hour. Times are chosen so that windows cross hours and a UTC day boundary, counter
// series run across hours, restart (with and without a process identity) and fall silent for more
// than an hour, and gauge means need rounding.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ingestProfileBytes } from '../../lib/ingest';
import { parseSourceMeta } from '../../lib/model/source';
import { LocalStore } from '../../lib/store/local';
import { openDuckDb, ParquetWriter, writeNdjson } from '../../lib/store/parquet';

const MIN_US = 60_000_000;
/** 2026-11-30T21:10:00Z: the data runs past midnight into 2026-12-01. */
export const T0_US = Date.UTC(2026, 10, 30, 21, 10) * 1000;

const GO = path.join(__dirname, '..', 'fixtures/go');
const CUM = path.join(__dirname, '..', 'fixtures/cumulative');
const GO_RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'];
const GO_KINDS = ['cpu', 'heap', 'allocs', 'goroutine', 'block', 'mutex', 'threadcreate'];

interface Copy {
  source: string;
  timeUs: number;
  instance: string;
  process: string;
}

/** Where every copy of a source goes. */
function plan(): Copy[] {
  const out: Copy[] = [];
  const cum = (run: string, seq: number, kind: string) => path.join(CUM, run, `${String(seq).padStart(2, '0')}_${kind}.pb.gz`);
  const cumKinds = ['allocs', 'heap', 'block', 'mutex', 'goroutine'];
  const n = readdirSync(path.join(CUM, 'run1')).filter((f) => f.endsWith('_allocs.pb.gz')).length;
  for (const kind of cumKinds) {
    for (let k = 1; k <= n; k++) {
      // c1: two processes (run ids), 25 min apart, the second starting 4 h after the first.
      out.push({ source: cum('run1', k, kind), timeUs: T0_US + (k - 1) * 25 * MIN_US, instance: 'c1', process: 'run1' });
      out.push({ source: cum('run2', k, kind), timeUs: T0_US + 240 * MIN_US + (k - 1) * 25 * MIN_US, instance: 'c1', process: 'run2' });
      // c2: the same without process identity (the restart is found by counters going down).
      out.push({ source: cum('run1', k, kind), timeUs: T0_US + 7 * MIN_US + (k - 1) * 25 * MIN_US, instance: 'c2', process: '' });
      out.push({ source: cum('run2', k, kind), timeUs: T0_US + 247 * MIN_US + (k - 1) * 25 * MIN_US, instance: 'c2', process: '' });
      // c3: one process silent for over an hour between its 4th and 5th snapshot.
      const gap = k <= 4 ? 0 : 125 - 25;
      out.push({ source: cum('run1', k, kind), timeUs: T0_US + 3 * MIN_US + ((k - 1) * 25 + gap) * MIN_US, instance: 'c3', process: 'p3' });
    }
  }
  for (const [r, run] of GO_RUNS.entries()) {
    for (const kind of GO_KINDS) {
      // One snapshot every 20 min for 7 h per instance; instance 'mix' alternates two instances'
      // profiles (v1), so its gauge means are of different values (rounding) and its counters
      // go up and down (restarts).
      for (let j = 0; j < 21; j++) {
        const src = path.join(GO, run, `${kind}.pb.gz`);
        out.push({ source: src, timeUs: T0_US + (j * 20 + r * 3) * MIN_US, instance: run, process: '' });
        if (r < 2 && j % 2 === r) out.push({ source: src, timeUs: T0_US + (j * 20 + 11) * MIN_US, instance: 'mix', process: 'm' });
      }
    }
  }
  return out;
}

/**
 * Writes the data directory (layout v2, fresh tier): `fresh/<table>/dt=D/hour=HH/data_0.parquet` for
 * profiles, functions and stacks, one batch (`_batch` = 'b0'). Returns its path; the caller removes it.
 */
export async function buildRollupTestData(): Promise<string> {
  const staging = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-rollup-stage-'));
  const out = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-rollup-data-'));
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  const conn = await instance.connect();
  try {
    const copies = plan();
    const store = new LocalStore(staging);
    const ids = new Map<string, string>();
    for (const src of new Set(copies.map((c) => c.source))) {
      const run = path.basename(path.dirname(src));
      const version = src.includes(CUM) ? 'v1' : run.includes('v2') ? 'v2' : 'v1';
      const service = src.includes(CUM) ? 'cum' : 'svc-a';
      const meta = parseSourceMeta({ service, instance: 'x', version, source: src, sourceId: src });
      const r = await ingestProfileBytes(readFileSync(src), meta, { store, writer });
      ids.set(src, r.profileId);
    }
    const mapFile = path.join(staging, 'map.ndjson');
    await writeNdjson(
      mapFile,
      copies.map((c, i) => ({
        old_id: ids.get(c.source)!,
        new_id: createHash('sha256').update(`${c.source}#${i}`).digest('hex').slice(0, 32),
        time_us: c.timeUs,
        instance: c.instance,
        process: c.process,
      })),
    );
    const glob = (t: string) => path.join(staging, 'fresh', t, '**', '*.parquet').replace(/'/g, "''");
    mkdirSync(path.join(out, 'fresh'), { recursive: true });
    for (const t of ['profiles', 'functions', 'stacks']) {
      const set = t === 'profiles' ? `, m.process AS process` : '';
      const exclude = t === 'profiles' ? 'dt, hour, _batch, profile_id, time, instance, process' : 'dt, hour, _batch, profile_id, time, instance';
      await conn.run(`COPY (
          SELECT x.* EXCLUDE (${exclude}), m.new_id AS profile_id, make_timestamp(m.time_us) AS time, m.instance AS instance${set},
                 'b0' AS _batch, strftime(make_timestamp(m.time_us), '%Y-%m-%d') AS dt, strftime(make_timestamp(m.time_us), '%H') AS hour
          FROM read_parquet('${glob(t)}', hive_partitioning = true) x
          JOIN read_json('${mapFile.replace(/'/g, "''")}', format = 'newline_delimited', columns = {old_id: 'VARCHAR', new_id: 'VARCHAR', time_us: 'BIGINT', instance: 'VARCHAR', process: 'VARCHAR'}) m
            ON m.old_id = x.profile_id
        ) TO '${path.join(out, 'fresh', t).replace(/'/g, "''")}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt, hour))`);
    }
    return out;
  } finally {
    conn.closeSync();
    writer.close();
    instance.closeSync();
    rmSync(staging, { recursive: true, force: true });
  }
}
