// The fleet simulator's rollup tier beyond what the machine can compact (bench:fleet --rollup-days N,
// not part of the simulator's contract): after DIR holds the compacted, rolled-up hours of a real
// run, every other hour of the N days ending at H+1h gets the rollups the stack would hold for it.
//
// Every simulated hour is an exact copy of the source hour shifted by whole hours, so its hour
// rollups (profiles_1h, functions_1h, stacks_1h) are the measured hour's rollup files with their
// time columns (hour; first_time, last_time; gc_1h's stream pieces) shifted: written by copy-with-shift
// (bench/fleet-parquet.ts) and published into each dt's manifest like the rollup builder's own
// files (`rollup-<hour>.parquet`). The day forms (functions_1d, stacks_1d, function_shares_1d, gc_1d, totals_1d) are built by the stack's
// own code (lib/store/rollup-build.ts buildDayRollups) for the last day from its 24 hour files,
// then copied with a whole-day shift to the other days.
//
// What this does NOT create: the raw tiers of those hours (1,000 instances x 30 days is ~10^11
// rows: neither generated nor compacted on this machine). Queries the planner answers from
// rollups (top, flame graph of whole hours and days) see the full N days; queries that read raw
// rows (diff, gc, digest, raw edges of windows) see only the really generated hours.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { RollupTableName } from '../lib/model/schema';
import { publishLive } from '../lib/store/compact';
import { DAY_US, HOUR_US, utcDate, utcHour } from '../lib/store/layout';
import { readManifest } from '../lib/store/manifest';
import type { LocalStore } from '../lib/store/local';
import { liveFileSet } from '../lib/store/live';
import { DAY_FILE_ID, hourFileId } from '../lib/store/rollup';
import { buildDayRollups } from '../lib/store/rollup-build';
import { sqlString } from '../lib/store/parquet';
import { loadDictionaries, shiftFile, type BaseDictionaries, type ShiftRole } from './fleet-parquet';

const HOUR_TABLES: { table: RollupTableName; roles: Record<string, ShiftRole> }[] = [
  { table: 'profiles_1h', roles: { hour: 'time', first_time: 'time', last_time: 'time' } },
  { table: 'functions_1h', roles: { hour: 'time' } },
  { table: 'stacks_1h', roles: { hour: 'time' } },
  { table: 'function_shares_1h', roles: { hour: 'time' } },
  { table: 'attributed_1h', roles: { hour: 'time' } },
  // gc_1h's stream pieces hold times and stream ids inside a list: shifted by SQL (gcShiftSql).
  { table: 'gc_1h', roles: { hour: 'time' } },
];
const DAY_TABLES: RollupTableName[] = ['functions_1d', 'stacks_1d', 'function_shares_1d', 'attributed_1d', 'gc_1d', 'totals_1d'];
/** A day file's coverage in its manifest (published like the builder's own: hours 0..23). */
const ALL_HOURS = Array.from({ length: 24 }, (_, h) => h);

/** gc_1h / gc_1d shifted: the time column, and in every stream piece its hour, times and stream id (a new log per copied hour, as fleet-generate gives each hour new profile ids). */
function gcShiftSql(src: string, col: 'hour' | 'day', shiftHours: number, out: string): string {
  const ns = `${shiftHours}::BIGINT * 3600000000000`;
  return `COPY (SELECT * REPLACE ("${col}" + INTERVAL (${shiftHours}) HOUR AS "${col}",
      list_transform(streams, x -> struct_pack(stream := md5(x.stream || '@${shiftHours}'), hour := x.hour + INTERVAL (${shiftHours}) HOUR,
        first_ns := x.first_ns + ${ns}, last_end_ns := x.last_end_ns + ${ns}, procs := x.procs, retract := x.retract)) AS streams)
    FROM read_parquet('${sqlString(src)}')) TO '${sqlString(out)}' (FORMAT parquet, COMPRESSION zstd)`;
}

async function liveFiles(store: LocalStore, table: RollupTableName, dt: string): Promise<string[]> {
  const dayUs = Date.parse(`${dt}T00:00:00Z`) * 1000;
  const s = await liveFileSet(store, table, { fromUs: dayUs, toUs: dayUs + DAY_US });
  return [...s.compacted, ...s.fresh];
}

const dictCache = new Map<string, BaseDictionaries>();

/** One file shifted by whole hours: copy-with-shift, or DuckDB where a column is not dictionary-encoded. */
async function shiftOne(conn: DuckDBConnection, src: string, roles: Record<string, ShiftRole>, shiftHours: number, out: string): Promise<'copy' | 'sql'> {
  if (/\/gc_1[hd]\//.test(src) || /gc_1d-template/.test(src)) {
    await conn.run(gcShiftSql(src, 'hour' in roles ? 'hour' : 'day', shiftHours, out));
    return 'sql';
  }
  // A template is copied to every hour: its dictionaries are read once (a scan of the whole file).
  const key = `${src}\0${Object.keys(roles).join()}`;
  let dicts = dictCache.get(key);
  if (!dicts) dictCache.set(key, (dicts = await loadDictionaries(conn, src, roles)));
  const bytes = shiftFile(await fs.readFile(src), dicts, { shiftHours, batchId: '' });
  if (bytes) {
    await fs.writeFile(out, bytes);
    return 'copy';
  }
  const repl = Object.keys(roles)
    .map((c) => `"${c}" + INTERVAL (${shiftHours}) HOUR AS "${c}"`)
    .join(', ');
  await conn.run(`COPY (SELECT * REPLACE (${repl}) FROM read_parquet('${sqlString(src)}')) TO '${sqlString(out)}' (FORMAT parquet, COMPRESSION zstd)`);
  return 'sql';
}

export interface TierResult {
  hourFiles: number;
  dayFiles: number;
  copied: number;
  bySql: number;
  seconds: number;
}

/**
 * Extends DIR's rollups to every hour of the `days` days ending at endUs (the real run's last
 * hour is endUs - 1 h; its rollups are the template).
 */
export async function extendRollupTier(store: LocalStore, conn: DuckDBConnection, endUs: number, days: number, only?: readonly RollupTableName[]): Promise<TierResult> {
  // `only`: extend just these tables (a tier made before they existed; bench/digest-tier.ts).
  const hourTables = HOUR_TABLES.filter((t) => !only || only.includes(t.table));
  const dayTables = DAY_TABLES.filter((t) => !only || only.includes(t));
  const has = (t: RollupTableName) => !only || only.includes(t);
  const t0 = process.hrtime.bigint();
  const res: TierResult = { hourFiles: 0, dayFiles: 0, copied: 0, bySql: 0, seconds: 0 };
  const lastHour = endUs - HOUR_US;
  const lastDt = utcDate(lastHour);
  const scratch = path.join(store.scratchDir, 'tier');
  await fs.mkdir(scratch, { recursive: true });
  const tally = (k: 'copy' | 'sql') => (k === 'copy' ? res.copied++ : res.bySql++);
  // Templates: the measured hour's rollup file of each hour table: the live file its dt's
  // manifest says covers that hour (the builder's names vary: rollup-<hour> from rollupStore,
  // r<HH>-<id>-<n> from the compaction's hook).
  const templates = new Map<RollupTableName, string>();
  for (const { table } of hourTables) {
    const { manifest } = await readManifest(store, table, lastDt);
    const entry = manifest.live.find((l) => l.hours.length === 1 && l.hours[0] === utcHour(lastHour));
    const f = entry && (await liveFiles(store, table, lastDt)).find((x) => path.basename(x) === entry.name);
    if (!f) throw new Error(`${table} dt=${lastDt}: no rollup of ${new Date(lastHour / 1000).toISOString()} to copy (run the compaction first)`);
    templates.set(table, f);
  }
  const firstHour = endUs - days * DAY_US;
  for (let h = firstHour; h < lastHour; h += HOUR_US) {
    const dt = utcDate(h);
    const shift = (h - lastHour) / HOUR_US;
    // Hours the real run generated and rolled up already (D > 1 hour) keep their own rollups.
    if ((await readManifest(store, hourTables[0].table, dt)).manifest.live.some((l) => l.hours.includes(utcHour(h)))) continue;
    for (const { table, roles } of hourTables) {
      const out = path.join(scratch, `${table}-${h}.parquet`);
      tally(await shiftOne(conn, templates.get(table)!, roles, shift, out));
      await publishLive(store, table, dt, out, `${hourFileId(h)}.parquet`, [utcHour(h)]);
      res.hourFiles++;
    }
    process.stderr.write(`\rrollup tier: hour ${(h - firstHour) / HOUR_US + 1}/${days * 24 - 1}`);
  }
  process.stderr.write('\n');
  // Day forms: the stack's builder over the last whole day's 24 hour files, then shifted copies.
  const lastDay = Math.floor(endUs / DAY_US) * DAY_US - DAY_US;
  if (lastDay >= firstHour) {
    const ldt = utcDate(lastDay);
    const built = await buildDayRollups(
      conn,
      {
        functions_1h: has('functions_1d') ? await liveFiles(store, 'functions_1h', ldt) : [],
        stacks_1h: has('stacks_1d') ? await liveFiles(store, 'stacks_1h', ldt) : [],
        function_shares_1h: has('function_shares_1d') ? await liveFiles(store, 'function_shares_1h', ldt) : [],
        attributed_1h: has('attributed_1d') ? await liveFiles(store, 'attributed_1h', ldt) : [],
        gc_1h: has('gc_1d') ? await liveFiles(store, 'gc_1h', ldt) : [],
        profiles_1h: has('totals_1d') ? await liveFiles(store, 'profiles_1h', ldt) : [],
      },
      lastDay,
      path.join(scratch, 'day'),
    );
    const dayTemplate = new Map<RollupTableName, string>();
    for (const f of built) {
      const keep = path.join(scratch, `${f.table}-template.parquet`);
      await fs.copyFile(f.path, keep);
      dayTemplate.set(f.table, keep);
      // When the real hour closed its day, the compactor already published that day's form from
      // the one hour it had: this one (all 24 hours) replaces it, else the day is counted twice.
      const stale = (await readManifest(store, f.table, ldt)).manifest.live.map((l) => l.name);
      await publishLive(store, f.table, ldt, f.path, `${DAY_FILE_ID}.parquet`, ALL_HOURS, stale);
      res.dayFiles++;
    }
    for (let d = lastDay - DAY_US; d >= firstHour; d -= DAY_US) {
      for (const table of dayTables) {
        const src = dayTemplate.get(table);
        if (!src) continue;
        const out = path.join(scratch, `${table}-${d}.parquet`);
        tally(await shiftOne(conn, src, { day: 'time' }, (d - lastDay) / HOUR_US, out));
        await publishLive(store, table, utcDate(d), out, `${DAY_FILE_ID}.parquet`, ALL_HOURS);
        res.dayFiles++;
      }
    }
  }
  await fs.rm(scratch, { recursive: true, force: true });
  res.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return res;
}
