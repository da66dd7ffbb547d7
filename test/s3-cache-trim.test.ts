// The S3 download cache is bounded (lib/aws/s3-store.ts trimCache; the compaction and merge Lambdas
// trim it at the start of each invocation, tables-store.ts trimTablesCache): a delete clears only
// the deleting process's copies, so a worker keeps copies of inputs another process (the planner,
// a finalizer elsewhere) deleted; trimming evicts the least recently used copies (a hit counts as
// a use) until the budget holds, and partial downloads. Against moto.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3Store } from '../lib/aws/s3-store';
import { cacheBudgetBytes, trimTablesCache } from '../lib/aws/tables-store';
import { motoAvailable, motoSandbox, type MotoSandbox } from './helpers/moto';

const BUCKET = 'fleetprof-cache-trim';
const SIZE = 100_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function cached(store: S3Store): Promise<{ names: string[]; bytes: number }> {
  const names: string[] = [];
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        names.push(path.basename(p).split('.')[0]);
        bytes += (await fs.stat(p)).size;
      }
    }
  };
  await walk(path.join(store.cacheDir, BUCKET));
  return { names: names.sort(), bytes };
}

const d = motoAvailable() ? describe : describe.skip;
d('the download cache (moto)', () => {
  let sandbox: MotoSandbox;
  let s3: S3Client;
  let tmp: string;

  beforeAll(async () => {
    sandbox = await motoSandbox({ bucket: BUCKET, tmpPrefix: 'fleetprof-cache-trim-' });
    ({ s3, tmp } = sandbox);
  }, 60_000);

  afterAll(async () => {
    await sandbox?.close();
  });

  test("a worker's copies of objects another process deleted stay until trimmed; trimming keeps the most recently used within the budget", async () => {
    const store = (name: string) => new S3Store({ client: s3, bucket: BUCKET, prefix: 'tables/', cacheDir: path.join(tmp, name, 'cache'), scratchDir: path.join(tmp, name, 'scratch') });
    const worker = store('worker');
    const planner = store('planner');
    const keys = ['f0', 'f1', 'f2', 'f3'].map((n) => `profiles/dt=2026-12-01/${n}.parquet`);
    for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `tables/${k}`, Body: Buffer.alloc(SIZE, k.length) }));
    const listed = await worker.list('profiles/');
    for (const o of listed) {
      await worker.localPath(o);
      await sleep(20);
    }
    // The planner deletes f1 after the grace: the worker's copy stays (only the deleter's cache is cleared).
    await planner.delete(keys[1]);
    expect((await planner.list('profiles/')).map((o) => o.key)).not.toContain(keys[1]);
    expect((await cached(worker)).names).toEqual(['f0', 'f1', 'f2', 'f3']);
    // A hit on f0 makes it the most recently used; a crashed download left a partial file.
    await worker.localPath(listed[0]);
    const part = `${worker.cachePathOf(listed[2])}.1234.part`;
    await fs.writeFile(part, Buffer.alloc(10));

    const r = await worker.trimCache(2 * SIZE);
    expect(r).toEqual({ files: 3, bytes: 2 * SIZE + 10, left: 2 * SIZE });
    expect(await cached(worker)).toEqual({ names: ['f0', 'f3'], bytes: 2 * SIZE });
    // Within the budget: nothing more goes; an evicted object is downloaded again when read.
    expect(await worker.trimCache(2 * SIZE)).toEqual({ files: 0, bytes: 0, left: 2 * SIZE });
    expect((await fs.readFile(await worker.localPath(listed[2]))).length).toBe(SIZE);
  }, 60_000);

  test("the Lambdas' budget is a quarter of their /tmp, applied by trimTablesCache", async () => {
    expect(cacheBudgetBytes(10240)).toBe(2560 * 1024 * 1024);
    const worker = new S3Store({ client: s3, bucket: BUCKET, prefix: 'tables/', cacheDir: path.join(tmp, 'lambda', 'cache'), scratchDir: path.join(tmp, 'lambda', 'scratch') });
    const big = 'profiles/dt=2026-12-02/big.parquet';
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `tables/${big}`, Body: Buffer.alloc(300 * 1024) }));
    const [o] = (await worker.list(big)).filter((x) => x.key === big);
    await worker.localPath(o);
    expect((await cached(worker)).bytes).toBe(300 * 1024);
    await trimTablesCache(worker, { ephemeralStorageMb: 1 }); // a budget of 256 KiB
    expect((await cached(worker)).bytes).toBe(0);
  }, 60_000);
});
