import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { FreshBatch, prepareBytes } from '../../lib/ingest';
import { parseSourceMeta } from '../../lib/model/source';
import { openDuckDb, ParquetWriter } from '../../lib/store/parquet';
import type { Store } from '../../lib/store/store';

const FIXTURES = path.join(__dirname, '../fixtures/go');

/**
 * The compaction tests' small fleet, written as ingest writes it: each run's profiles of `kinds`
 * (test/fixtures/go/<run>/<kind>.pb.gz; svc-b for runs on instance i2, v2 for runs of v2) in a
 * batch of their own, then one gctrace log for each of two instances (gc1, gc2 of svc-a v1,
 * counted from `gcStartUs`) in one more batch.
 */
export async function ingestFixtureFleet(store: Store, o: { runs: readonly string[]; kinds: readonly string[]; gcLog: Uint8Array; gcStartUs: number }): Promise<void> {
  const db = await openDuckDb();
  const writer = await ParquetWriter.create(db);
  try {
    for (const run of o.runs) {
      const b = new FreshBatch({ store, writer });
      for (const kind of o.kinds) {
        const file = path.join(FIXTURES, run, `${kind}.pb.gz`);
        b.add(prepareBytes(readFileSync(file), parseSourceMeta({ service: run.includes('i2') ? 'svc-b' : 'svc-a', instance: run, version: run.includes('v2') ? 'v2' : 'v1', source: file, sourceId: `fixtures/${run}/${kind}` })).entries);
      }
      await b.publish();
    }
    const b = new FreshBatch({ store, writer });
    for (const inst of ['gc1', 'gc2']) b.add(prepareBytes(o.gcLog, parseSourceMeta({ service: 'svc-a', instance: inst, version: 'v1', startUs: o.gcStartUs, source: `gc-${inst}`, sourceId: `test:gc:${inst}` })).entries);
    await b.publish();
  } finally {
    writer.close();
    db.closeSync();
  }
}
