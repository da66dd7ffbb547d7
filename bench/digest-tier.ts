// The digest's rollups (attributed_1h/_1d) on a fleet simulator directory whose rollup tier was
// made before they existed (bench:fleet --rollup-days by an older build): the real hour's rollups
// rebuilt by the stack's own code (rollupStore, from the hour's raw files), then attributed_1h
// copied to every other hour of the tier and attributed_1d built for the last whole day and copied
// to the others, as bench/fleet-tier.ts does for the other rollups. Not part of the simulator's
// contract; for measuring the digest at sizes this machine cannot compact in a session.
//
//   node dist/bench/digest-tier.js DIR END_ISO DAYS      (END: the end of the real hour)
import { LocalStore } from '../lib/store/local';
import * as path from 'node:path';
import { openDuckDb } from '../lib/store/parquet';
import { rollupStore } from '../lib/store/rollup';
import { extendRollupTier } from './fleet-tier';

async function main(): Promise<void> {
  const [dir, endIso, daysArg] = process.argv.slice(2);
  const endUs = Date.parse(endIso) * 1000;
  const days = Number(daysArg);
  if (!dir || !Number.isFinite(endUs) || !(days > 0)) throw new Error('usage: digest-tier.js DIR END_ISO DAYS');
  const store = new LocalStore(dir);
  // The machine's rule: <= 3 GB per process, spills under the bench's own directory.
  const db = await openDuckDb({ memoryLimit: '2GB', tempDirectory: path.join(dir, '..', 'duckdb-spill'), threads: 2 });
  const conn = await db.connect();
  try {
    const t0 = Date.now();
    const r = await rollupStore(store, conn, { fromUs: endUs - 3_600_000_000, toUs: endUs });
    process.stderr.write(`real hour rolled up: ${JSON.stringify(r)} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const tier = await extendRollupTier(store, conn, endUs, days, ['attributed_1h', 'attributed_1d']);
    process.stderr.write(`tier: ${JSON.stringify(tier)}\n`);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

void main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
