// Corrupt fresh files outside the merge Lambda: `fleetprof compact` (a data directory, and the
// bucket against moto) moves a fresh file DuckDB cannot read aside as the stack does
// (quarantine/tables/<key> with <that>.reason.json naming it), in an open hour (the merge) and in a
// closed hour the merger no longer takes (the hour's compaction planning); it names the file on
// stderr, everything else merges and compacts, every other row is seen exactly once, and a re-run
// refuses nothing and changes nothing.
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { runCompact } from '../bin/commands/compact';
import { S3Store } from '../lib/aws/s3-store';
import { FreshBatch, prepareBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { parseKey } from '../lib/store/layout';
import { LocalStore } from '../lib/store/local';
import { readManifest } from '../lib/store/manifest';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import type { Store } from '../lib/store/store';
import { motoAvailable, motoSandbox } from './helpers/moto';
import { rowsSeen } from './helpers/rows-seen';

const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'];
const RAW = ['profiles', 'functions', 'stacks'] as const;
const MINUTE_MS = 60_000;
const batchId = (ms: number, n: number) => `b${ms.toString(36).padStart(9, '0')}${n.toString(16).padStart(12, '0')}`;

/** Where the tables are, and how a test reaches around the store (a torn upload, the quarantine). */
interface Place {
  store: Store;
  /** Cache dirs the readers' views may read (rowsSeen). */
  dirs: string[];
  compactArgs: { data?: string; bucket?: string };
  /** Replaces the object at `key` with `bytes` as a torn upload would. */
  tear(key: string, bytes: Uint8Array): Promise<void>;
  /** The object at a key outside the tables (the quarantine), or null. */
  outside(key: string): Promise<Buffer | null>;
}

async function batch(store: Store, id: string, run: string, copy: string): Promise<string[]> {
  const db = await openDuckDb();
  const writer = await ParquetWriter.create(db);
  try {
    const b = new FreshBatch({ store, writer });
    const f = path.join(FIXTURES, run, 'cpu.pb.gz');
    b.add(prepareBytes(readFileSync(f), parseSourceMeta({ service: run.includes('i2') ? 'svc-b' : 'svc-a', instance: run, version: run.includes('v2') ? 'v2' : 'v1', source: f, sourceId: `test:${run}${copy}` })).entries);
    return await b.publish(id);
  } finally {
    writer.close();
    db.closeSync();
  }
}

async function stderrOf(f: () => Promise<number>): Promise<string> {
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    expect(await f()).toBe(0);
    return spy.mock.calls.map((c) => String(c[0])).join('');
  } finally {
    spy.mockRestore();
  }
}

async function scenario(p: Place): Promise<void> {
  const { store } = p;
  const seen = () => rowsSeen(store, p.dirs, RAW);
  // The fixtures' hour, from a first batch under a placeholder id, then the hour's minutes 1..3.
  const first = await batch(store, batchId(0, 0), RUNS[0], ':0');
  const k = parseKey(first[0])!;
  if (k.tier !== 'fresh') throw new Error('expected a fresh key');
  const hourMs = Date.parse(`${k.dt}T${String(k.hour).padStart(2, '0')}:00:00Z`);
  for (const x of first) await store.delete(x);
  const keys = [];
  for (const [i, run] of RUNS.entries()) keys.push(await batch(store, batchId(hourMs + (i + 1) * MINUTE_MS, i + 1), run, `:${i}`));

  /** Tears the table's file of a batch (half its bytes); returns its key and the rows that count without it. */
  const tear = async (batchKeys: string[], table: string) => {
    const key = batchKeys.find((x) => x.startsWith(`fresh/${table}/`))!;
    const bytes = readFileSync(await store.localPath((await store.list(key))[0]));
    await store.delete(key);
    const truth = await seen();
    const torn = bytes.subarray(0, Math.floor(bytes.length / 2));
    await p.tear(key, torn);
    await expect(seen()).rejects.toThrow(); // fails every reader of its table until moved aside
    return { key, torn, truth };
  };
  const quarantined = async (key: string, torn: Uint8Array, stderr: string, what: string) => {
    expect(stderr).toContain(`quarantined ${key} to quarantine/tables/${key} (the rest of its ${what}): ${key}: not a readable Parquet file (`);
    expect(await p.outside(`quarantine/tables/${key}`)).toEqual(Buffer.from(torn));
    const record = JSON.parse(String(await p.outside(`quarantine/tables/${key}.reason.json`)));
    expect(record).toMatchObject({ code: 'unreadable' });
    expect(record.reason.startsWith(`${key}: not a readable Parquet file (`)).toBe(true);
    expect(record.reason).not.toMatch(/Error:|SELECT|read_parquet/);
    expect((await readManifest(store, parseKey(key)!.table, parseKey(key)!.dt)).manifest.merged).toContain(key);
  };

  // An open hour: the merge moves the torn stacks file aside, the rest of its batch and the hour merge.
  const open = await tear(keys[1], 'stacks');
  const mergeErr = await stderrOf(() => runCompact({ ...p.compactArgs, now: (hourMs + 30 * MINUTE_MS) * 1000 }));
  await quarantined(open.key, open.torn, mergeErr, 'batch merges');
  expect(mergeErr).toMatch(/merged \d+ fresh files of the open hours into 3 files/);
  expect(await seen()).toEqual(open.truth);

  // A closed hour (the merger no longer takes it): a late batch with a torn functions file. The
  // hour's compaction quarantines it and compacts everything else.
  const late = await batch(store, batchId(hourMs + 40 * MINUTE_MS, 9), RUNS[2], ':late');
  const closed = await tear(late, 'functions');
  const nowUs = (hourMs + 3 * 60 * MINUTE_MS) * 1000;
  const compactErr = await stderrOf(() => runCompact({ ...p.compactArgs, now: nowUs }));
  await quarantined(closed.key, closed.torn, compactErr, 'hour compacts');
  expect(compactErr).toMatch(/compacted [1-9]\d* hour/);
  expect(await seen()).toEqual(closed.truth);
  const { manifest } = await readManifest(store, 'functions', k.dt);
  expect(manifest.live.some((f) => f.hours.includes(k.hour))).toBe(true);
  for (const t of RAW) {
    const fresh = (await store.list(`fresh/${t}/dt=${k.dt}/`)).filter((o) => o.key.endsWith('.parquet'));
    const merged = new Set((await readManifest(store, t, k.dt)).manifest.merged);
    expect(fresh.filter((o) => !merged.has(o.key)).map((o) => o.key)).toEqual([]); // nothing of the hour left raw
  }

  // A re-run: nothing to refuse, nothing changes.
  const before = { manifests: await Promise.all(RAW.map((t) => readManifest(store, t, k.dt).then((r) => r.manifest.live))), rows: await seen() };
  const again = await stderrOf(() => runCompact({ ...p.compactArgs, now: nowUs }));
  expect(again).not.toContain('quarantined');
  expect({ manifests: await Promise.all(RAW.map((t) => readManifest(store, t, k.dt).then((r) => r.manifest.live))), rows: await seen() }).toEqual(before);
}

test('fleetprof compact --data quarantines a corrupt fresh file in an open hour (merge) and in a closed hour (compaction) to <data>/quarantine/tables/, names it, compacts the rest; a re-run changes nothing', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-compact-quarantine-'));
  try {
    const store = new LocalStore(dir);
    await scenario({
      store,
      dirs: [dir],
      compactArgs: { data: dir },
      tear: async (key, bytes) => {
        await fs.writeFile(store.pathOf(key), bytes);
      },
      outside: async (key) => fs.readFile(path.join(dir, key)).catch(() => null),
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}, 120_000);

const d = motoAvailable() ? describe : describe.skip;
d('the bucket (moto)', () => {
  test('fleetprof compact --bucket quarantines the same way, to the bucket\'s quarantine/tables/', async () => {
    const bucket = 'fleetprof-compact-quarantine';
    const sandbox = await motoSandbox({ bucket, tmpPrefix: 'fleetprof-compact-quarantine-s3-', env: true });
    try {
      const { s3: client, tmp } = sandbox;
      const store = new S3Store({ client, bucket, prefix: 'tables/', cacheDir: path.join(tmp, 'test-cache'), scratchDir: path.join(tmp, 'scratch') });
      await scenario({
        store,
        dirs: [store.cacheDir],
        compactArgs: { bucket },
        tear: async (key, bytes) => {
          await client.send(new PutObjectCommand({ Bucket: bucket, Key: `tables/${key}`, Body: bytes }));
        },
        outside: async (key) => {
          try {
            return Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
          } catch {
            return null;
          }
        },
      });
    } finally {
      await sandbox.close();
    }
  }, 180_000);
});
