// The digest's 24 h window as production holds it, at sizes this machine cannot compact hour by
// hour (a 1,000-instance hour takes most of an hour of this machine's compaction): every hour
// compacted with its hour rollups, the last hour still fresh. Not part of the simulator's contract.
//
// Input: DIR made by the simulator's real path (bench/fleet.ts --step generate, then --step
// compact): the two hours before END generated fresh, the first of them (END - 2h) compacted and
// rolled up by the scheduled compaction's code, the last (END - 1h) left fresh.
// This copies the compacted hour's files, every raw table's (the compactor's unit files, as they
// are) and every hour rollup's, with a whole-hour shift to each earlier hour of the window, the
// way bench/fleet-tier.ts copies rollups: the time columns moved, profile_id re-derived per hour
// (copyId, as the generator does), nothing else touched; published in each dt's manifest with the
// hour as coverage. Then bench/fleet-tier.ts extends the rollups to the baseline's days (hour
// files and day forms). Every simulated hour is an exact copy of the source hour, so the copied
// hours are what the compactor would have written for them; the baseline has no raw tier (the
// digest reads rolled-up hours from rollups only).
//
//   node dist/bench/digest-window.js DIR END_ISO [BASELINE_DAYS=7]
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { RAW_TABLE_NAMES } from '../lib/model/schema';
import { publishLive } from '../lib/store/compact';
import { DAY_US, HOUR_US, utcDate, utcHour } from '../lib/store/layout';
import { LocalStore } from '../lib/store/local';
import { readManifest } from '../lib/store/manifest';
import { openDuckDb, sqlString } from '../lib/store/parquet';
import { copyIdSql, loadDictionaries, shiftFile, verifyShift, type BaseDictionaries, type ShiftRole } from './fleet-parquet';
import { extendRollupTier } from './fleet-tier';

const RAW_ROLES: Record<string, ShiftRole> = { time: 'time', profile_id: 'hash' };

const cache = new Map<string, { bytes: Buffer; dicts: BaseDictionaries }>();

/** A compacted raw file shifted by whole hours: copy-with-shift, or DuckDB where a chunk is not dictionary-encoded. */
async function shiftRaw(conn: DuckDBConnection, src: string, shiftHours: number, out: string, verify: boolean): Promise<'copy' | 'sql'> {
  const spec = { shiftHours, batchId: '' };
  // Each unit file is copied to every hour: its bytes and dictionaries are read once.
  let base = cache.get(src);
  if (!base) cache.set(src, (base = { bytes: await fs.readFile(src), dicts: await loadDictionaries(conn, src, RAW_ROLES) }));
  const bytes = shiftFile(base.bytes, base.dicts, spec);
  if (bytes) {
    await fs.writeFile(out, bytes);
    if (verify) await verifyShift(conn, src, out, RAW_ROLES, spec);
    return 'copy';
  }
  const repl = `"time" + INTERVAL (${shiftHours}) HOUR AS "time", ${copyIdSql('profile_id', `'@${shiftHours}'`, shiftHours)} AS profile_id`;
  await conn.run(`COPY (SELECT * REPLACE (${repl}) FROM read_parquet('${sqlString(src)}')) TO '${sqlString(out)}' (FORMAT parquet, COMPRESSION zstd)`);
  return 'sql';
}

async function main(): Promise<void> {
  const [dir, endIso, daysArg] = process.argv.slice(2);
  const endUs = Date.parse(endIso) * 1000;
  const baselineDays = Number(daysArg ?? 7);
  if (!dir || !Number.isFinite(endUs) || endUs % HOUR_US !== 0 || !(baselineDays > 0)) throw new Error('usage: digest-window.js DIR END_ISO [BASELINE_DAYS]');
  const store = new LocalStore(dir);
  const scratch = path.join(store.scratchDir, 'window');
  await fs.mkdir(scratch, { recursive: true });
  const db = await openDuckDb({ memoryLimit: '1500MB', tempDirectory: path.join(store.scratchDir, 'duckdb-spill') });
  const conn = await db.connect();
  const t0 = Date.now();
  const real = endUs - 2 * HOUR_US;
  const tally = { files: 0, copy: 0, sql: 0, hours: 0 };
  try {
    // DIGEST_WINDOW_TABLES=a,b: only these raw tables (to finish a run that was stopped).
    const only = process.env.DIGEST_WINDOW_TABLES?.split(',');
    for (const table of RAW_TABLE_NAMES.filter((t) => !only || only.includes(t))) {
      const { manifest } = await readManifest(store, table, utcDate(real));
      const units = manifest.live.filter((l) => l.hours.length === 1 && l.hours[0] === utcHour(real));
      if (units.length === 0) throw new Error(`${table}: no compacted file of ${new Date(real / 1000).toISOString()} (compact that hour first)`);
      for (let h = real - HOUR_US, shift = -1; h >= endUs - 24 * HOUR_US; h -= HOUR_US, shift--) {
        for (const [i, u] of units.entries()) {
          const src = path.join(dir, table, `dt=${utcDate(real)}`, u.name);
          const out = path.join(scratch, `${table}-${h}-${i}.parquet`);
          // The first copy of each file is checked row by row against DuckDB's own shift.
          tally[await shiftRaw(conn, src, shift, out, shift === -1)]++;
          await publishLive(store, table, utcDate(h), out, `h${String(utcHour(h)).padStart(2, '0')}-tier-${i}.parquet`, [utcHour(h)]);
          tally.files++;
        }
      }
      process.stderr.write(`${table}: ${units.length} file(s) per hour copied to 22 hours\n`);
    }
    tally.hours = 22;
    // Rollups: hour files for every hour before the real one back to the baseline's start, and
    // day forms for the baseline's whole days (one extra day so its first day is whole too).
    const tier = await extendRollupTier(store, conn, real + HOUR_US, Math.ceil((24 * HOUR_US + baselineDays * DAY_US) / DAY_US) + 1);
    process.stdout.write(JSON.stringify({ raw: tally, tier, seconds: (Date.now() - t0) / 1000 }) + '\n');
  } finally {
    conn.closeSync();
    db.closeSync();
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

void main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
