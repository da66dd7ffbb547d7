// What compaction leaves behind is deleted: the key counts object of a job that went stale after
// its finalizer PUT it (it lost its swap), and the S3 store's cached copy of every object it
// deletes (a warm compaction Lambda's /tmp would otherwise keep every file it replaced).
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { S3Store } from '../lib/aws/s3-store';
import { FreshBatch, prepareBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { compact } from '../lib/store/compact';
import { finalizeJob, jobKey, keysKey, planHourJob, putJob, runUnit } from '../lib/store/compact-jobs';
import { UNIT_ROWS } from '../lib/store/compact-hour';
import { parseKey } from '../lib/store/layout';
import { LocalStore } from '../lib/store/local';
import { EMPTY_MANIFEST, readManifest } from '../lib/store/manifest';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { motoAvailable, motoBucket, startMoto } from './helpers/moto';

const FIXTURES = path.join(__dirname, 'fixtures/go');
const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-housekeeping-'));
  dirs.push(dir);
  return dir;
}

function cpuBatch(store: LocalStore, writer: ParquetWriter, run: string): Promise<string[]> {
  const b = new FreshBatch({ store, writer });
  const file = path.join(FIXTURES, run, 'cpu.pb.gz');
  b.add(prepareBytes(readFileSync(file), parseSourceMeta({ service: 'svc-a', instance: run, version: 'v1', source: file, sourceId: `fixtures/${run}/cpu` })).entries);
  return b.publish();
}

test("a stale job's key counts object is retired with its outputs and deleted after the grace", async () => {
  const store = new LocalStore(await tempDir());
  const db = await openDuckDb();
  const writer = await ParquetWriter.create(db);
  try {
    const [first] = (await cpuBatch(store, writer, 'svc-a-v1-i1')).filter((k) => k.startsWith('fresh/profiles/'));
    const k = parseKey(first)!;
    if (k.tier !== 'fresh') throw new Error('not fresh');
    // Two planners race: A saw one batch, B two; B goes live first.
    const jobA = await planHourJob(store, writer, 'profiles', k.dt, k.hour, await store.list(first), EMPTY_MANIFEST, { unitRows: UNIT_ROWS, rollupSource: false, now: 1_000 });
    await putJob(store, jobA);
    await cpuBatch(store, writer, 'svc-a-v1-i2');
    const both = await store.list(`fresh/profiles/dt=${k.dt}/hour=${String(k.hour).padStart(2, '0')}/`);
    const jobB = await planHourJob(store, writer, 'profiles', k.dt, k.hour, both, EMPTY_MANIFEST, { unitRows: UNIT_ROWS, rollupSource: false, now: 1_000 });
    await putJob(store, jobB);
    const settings = () => ({ zstdLevel: 3, rowGroupRows: 122_880 });
    const res = { hours: 0, days: 0, filesMerged: 0, bytesBefore: 0, bytesAfter: 0, conflicts: 0 };
    await runUnit(store, writer, jobKey(jobA), 0, settings);
    await runUnit(store, writer, jobKey(jobB), 0, settings);
    expect(await finalizeJob(store, jobB, 1_000, res)).toBe('published');
    // A's finalizer got as far as its key counts before B's swap won (what finalizeJob PUTs first).
    await fs.mkdir(store.scratchDir, { recursive: true });
    const tmp = path.join(store.scratchDir, 'keys.json');
    await fs.writeFile(tmp, JSON.stringify({ version: 1, files: { [jobA.names[0]]: [['svc-a', 'svc-a-v1-i1', 1]] } }));
    await store.putFile(keysKey(jobA), tmp);
    expect(await finalizeJob(store, jobA, 2_000, res)).toBe('stale');
    const { manifest } = await readManifest(store, 'profiles', k.dt);
    expect(manifest.retired.map((r) => r.key)).toEqual(expect.arrayContaining([keysKey(jobA), `profiles/dt=${k.dt}/${jobA.names[0]}`]));
    // Finalized again (a redelivery): retired once.
    expect(await finalizeJob(store, jobA, 3_000, res)).toBe('stale');
    expect((await readManifest(store, 'profiles', k.dt)).manifest.retired.filter((r) => r.key === keysKey(jobA))).toHaveLength(1);
    // After the grace: gone; the live file's key counts stay.
    await compact(store, writer, { closedBefore: 0, now: 2_000 + 15 * 60_000, tables: ['profiles'] });
    expect(await store.read(keysKey(jobA))).toBeNull();
    expect(await store.read(keysKey(jobB))).not.toBeNull();
  } finally {
    writer.close();
    db.closeSync();
  }
}, 120_000);

const d = motoAvailable() ? describe : describe.skip;
d('S3 store (moto)', () => {
  test('deleting an object drops its cached copies, of every version, and no other object\'s', async () => {
    const moto = await startMoto();
    const tmp = await tempDir();
    const s3 = await motoBucket(moto, 'us-east-1', 'fleetprof-housekeeping');
    try {
      const store = new S3Store({ client: s3, bucket: 'fleetprof-housekeeping', cacheDir: path.join(tmp, 'cache'), scratchDir: path.join(tmp, 'scratch') });
      const put = async (key: string, text: string) => {
        await fs.mkdir(store.scratchDir, { recursive: true });
        const f = path.join(store.scratchDir, 'x');
        await fs.writeFile(f, text);
        await store.putFile(key, f);
        return (await store.list(key)).find((o) => o.key === key)!;
      };
      const dir = 'stacks/dt=2026-11-21';
      const a = await put(`${dir}/h01-aa.parquet`, 'one');
      const other = await put(`${dir}/h01-aa-u0of2.parquet`, 'other');
      const pa = await store.localPath(a);
      const po = await store.localPath(other);
      // An older version of the same key cached by an earlier invocation (another ETag).
      const older = store.cachePathOf({ ...a, etag: 'older' });
      await fs.copyFile(pa, older);
      expect(readdirSync(path.dirname(pa))).toHaveLength(3);
      await store.delete(a.key);
      expect(existsSync(pa)).toBe(false);
      expect(existsSync(older)).toBe(false);
      expect(existsSync(po)).toBe(true);
      // A key never cached: nothing to drop, no error.
      await store.delete(`${dir}/h02-bb.parquet`);
    } finally {
      s3.destroy();
      await moto.stop();
    }
  }, 60_000);
});
