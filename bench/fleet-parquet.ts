// Copy-with-shift at the Parquet level for the fleet simulator's hours (bench/fleet-generate.ts).
//
// Every hour the simulator writes is its base hour with three columns changed: time (+ whole
// hours), profile_id (copyId: base id @ shift) and _batch (a new batch id). DuckDB writes those
// columns dictionary-encoded (a row group holds a few hundred distinct times and profiles), so the
// data pages (dictionary indices) of an hour equal the base hour's: only each such column chunk's
// dictionary page, its statistics and the footer offsets differ. This module copies the base
// file's bytes and swaps those dictionary pages, so an hour costs a file copy and a few hundred
// thousand md5s instead of re-encoding every row (the `stacks` lists cost ~100k rows/s to encode
// on this machine; see docs/performance.md).
//
// - the new dictionary pages are zstd frames of raw (stored) blocks: valid zstd that any reader
//   decompresses, written without a compressor (Node 20 has none); they are larger than DuckDB's,
//   by the dictionary bytes only;
// - the old dictionary values come from DuckDB (first occurrence order within each row group, the
//   order DuckDB's writer assigns dictionary indices in); the caller verifies the first copy of
//   each table row by row against SQL (verifyShift), so a DuckDB that orders differently fails
//   loudly instead of writing wrong hours;
// - a column chunk that is not purely dictionary-encoded makes shiftFile return null: the caller
//   falls back to a DuckDB COPY for that file;
// - statistics of the changed chunks are recomputed (time shifted; strings min/max of the new
//   dictionary); their bloom filters are dropped from the footer (stale), page indexes too (none
//   written by DuckDB 1.5; dropping them keeps readers off stale offsets if a later one does).
import { createHash } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../lib/store/parquet';
import { dropField, field, Reader, setField, TType, Writer, type TList, type TStruct } from './fleet-thrift';

const HOUR_US = 3_600_000_000n;
const DICT_ENCODINGS = new Set([2, 8]); // PLAIN_DICTIONARY, RLE_DICTIONARY
const CODEC_UNCOMPRESSED = 0;
const CODEC_ZSTD = 6;

/**
 * How a column changes in a copy: per hour, `time` (+ whole hours), `hash` (a new profile_id from
 * v @ shift) and `batch` (the copy's batch id); per instance copy k, `copy` (v ~ k: the instance
 * name) and `copy-hash` (a new profile_id from v ~ k @0, as the SQL base hour derives it).
 */
export type ShiftRole = 'time' | 'hash' | 'batch' | 'copy' | 'copy-hash';

/**
 * A copy's profile_id, in ingest's form (lib/store/layout.ts sourceToProfileId: 12 hex digits of
 * the source's time in ms, 20 of a hash): the base id's time digits moved by the shift, then 20
 * digits of md5(base id + tag), tag `@<shift>` (role hash) or `~<k>@0` (role copy-hash). The one
 * derivation of the JS dictionary swap (copyId) and of the SQL paths (copyIdSql): they must agree
 * to the byte (verifyShift checks it).
 */
export function copyId(v: string, tag: string, shiftHours: number): string {
  const ms = BigInt.asUintN(48, BigInt(`0x${v.slice(0, 12)}`) + BigInt(shiftHours) * 3_600_000n);
  return ms.toString(16).padStart(12, '0') + createHash('md5').update(`${v}${tag}`).digest('hex').slice(0, 20);
}

/** copyId in DuckDB SQL: `expr` the base id, `tagSql` a SQL string expression. */
export function copyIdSql(expr: string, tagSql: string, shiftHours: number): string {
  return `lower(lpad(to_hex(('0x' || left(${expr}, 12))::BIGINT + ${shiftHours * 3_600_000}), 12, '0')) || left(md5(${expr} || ${tagSql}), 20)`;
}

/** Per row group, per changed column: the dictionary's values in index order. */
export interface BaseDictionaries {
  roles: Record<string, ShiftRole>;
  /** rowGroups[rg][column] = values (bigint epoch us for time, strings otherwise). */
  rowGroups: Record<string, (bigint | string)[]>[];
}

/** Reads the dictionaries of `roles`' columns of a DuckDB-written base file. */
export async function loadDictionaries(conn: DuckDBConnection, file: string, roles: Record<string, ShiftRole>): Promise<BaseDictionaries> {
  const f = sqlString(file);
  const rgRows = (await conn.runAndReadAll(`SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata('${f}') ORDER BY row_group_id`)).getRows();
  const starts: number[] = [];
  let acc = 0;
  for (const r of rgRows) {
    starts.push(acc);
    acc += Number(r[1]);
  }
  const rowGroups: Record<string, (bigint | string)[]>[] = starts.map(() => ({}));
  await conn.run(`CREATE OR REPLACE TEMP TABLE fleet_rg AS SELECT * FROM (VALUES ${starts.map((s, i) => `(${i}, ${s})`).join(', ')}) t(rg, start)`);
  for (const [col, role] of Object.entries(roles)) {
    const v = role === 'time' ? `epoch_us("${col}")` : `"${col}"`;
    const rows = (
      await conn.runAndReadAll(
        `SELECT g.rg, ${v} AS v, min(p.file_row_number) AS first
         FROM read_parquet('${f}', file_row_number = true) p ASOF JOIN fleet_rg g ON p.file_row_number >= g.start
         GROUP BY ALL ORDER BY g.rg, first`,
      )
    ).getRows();
    for (const [rg, val] of rows) {
      const d = (rowGroups[Number(rg)][col] ??= []);
      d.push(role === 'time' ? BigInt(val as bigint) : String(val));
    }
  }
  return { roles, rowGroups };
}

/** A zstd frame holding `data` in raw blocks (RFC 8878: single segment, 8-byte content size). */
function zstdStored(data: Uint8Array): Uint8Array {
  const MAX = 128 * 1024;
  const blocks = Math.max(1, Math.ceil(data.length / MAX));
  const out = new Uint8Array(4 + 1 + 8 + blocks * 3 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xfd2fb528, true);
  out[4] = 0xe0; // FCS 8 bytes, single segment, no checksum, no dictionary
  dv.setBigUint64(5, BigInt(data.length), true);
  let pos = 13;
  for (let b = 0; b < blocks; b++) {
    const chunk = data.subarray(b * MAX, Math.min(data.length, (b + 1) * MAX));
    const last = b === blocks - 1 ? 1 : 0;
    const h = last | (0 << 1) | (chunk.length << 3); // Raw_Block
    out[pos] = h & 0xff;
    out[pos + 1] = (h >> 8) & 0xff;
    out[pos + 2] = (h >> 16) & 0xff;
    out.set(chunk, pos + 3);
    pos += 3 + chunk.length;
  }
  return out;
}

function plainBytes(values: (bigint | string)[], role: ShiftRole): Uint8Array {
  if (role === 'time') {
    const b = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => b.writeBigInt64LE(v as bigint, i * 8));
    return b;
  }
  const parts = values.map((v) => Buffer.from(v as string, 'utf8'));
  const b = Buffer.alloc(parts.reduce((a, p) => a + 4 + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    b.writeUInt32LE(p.length, pos);
    p.copy(b, pos + 4);
    pos += 4 + p.length;
  }
  return b;
}

export interface ShiftSpec {
  shiftHours: number;
  batchId: string;
  /** The instance copy k (roles `copy` and `copy-hash`). */
  copy?: number;
}

function copyOf(s: ShiftSpec): number {
  if (s.copy === undefined || !Number.isInteger(s.copy) || s.copy < 0) throw new Error('a copy role needs ShiftSpec.copy');
  return s.copy;
}

/** The new dictionary of one column for a shift (memoized by the caller per shift). */
export function shiftValues(values: (bigint | string)[], role: ShiftRole, s: ShiftSpec): (bigint | string)[] {
  if (role === 'time') return values.map((v) => (v as bigint) + BigInt(s.shiftHours) * HOUR_US);
  if (role === 'batch') return values.map(() => s.batchId);
  if (role === 'copy') return values.map((v) => `${v as string}~${copyOf(s)}`);
  if (role === 'copy-hash') return values.map((v) => copyId(v as string, `~${copyOf(s)}@0`, 0));
  return values.map((v) => copyId(v as string, `@${s.shiftHours}`, s.shiftHours));
}

const pathOf = (md: TStruct) =>
  ((field(md, 3)!.value as TList).items as Uint8Array[]).map((b) => Buffer.from(b).toString('utf8')).join('.');

/**
 * The base file's bytes with the dictionaries of the changed columns replaced for `s`, or null
 * when some changed column chunk is not purely dictionary-encoded with zstd or no compression.
 */
export function shiftFile(base: Buffer, dicts: BaseDictionaries, s: ShiftSpec): Buffer | null {
  if (base.toString('latin1', base.length - 4) !== 'PAR1') throw new Error('not a Parquet file');
  const footerLen = base.readUInt32LE(base.length - 8);
  const footerStart = base.length - 8 - footerLen;
  const meta = new Reader(base, footerStart).struct();
  const rgs = (field(meta, 4)!.value as TList).items as TStruct[];
  if (rgs.length !== dicts.rowGroups.length) return null;
  const swaps: { start: number; end: number; bytes: Uint8Array }[] = [];
  const chunkDelta = new Map<TStruct, number>();
  for (const [i, rg] of rgs.entries()) {
    for (const cc of (field(rg, 1)!.value as TList).items as TStruct[]) {
      const md = field(cc, 3)!.value as TStruct;
      const col = pathOf(md);
      const role = dicts.roles[col];
      if (!role) continue;
      const codec = field(md, 4)!.value as number;
      const dpo = field(md, 11);
      if ((codec !== CODEC_ZSTD && codec !== CODEC_UNCOMPRESSED) || !dpo) return null;
      const old = dicts.rowGroups[i][col];
      if (!old) return null;
      // Every data page of the chunk must read the dictionary (no PLAIN fallback pages).
      const start = Number(dpo.value as bigint);
      const end = start + Number(field(md, 7)!.value as bigint);
      let pos = start;
      let dictHeader: TStruct | undefined;
      let dictBodyEnd = 0;
      while (pos < end) {
        const r = new Reader(base, pos);
        const ph = r.struct();
        const type = field(ph, 1)!.value as number;
        const size = field(ph, 3)!.value as number;
        if (type === 2) {
          dictHeader = ph;
          dictBodyEnd = r.pos + size;
        } else if (type === 0) {
          const enc = field(field(ph, 5)!.value as TStruct, 2)!.value as number;
          if (!DICT_ENCODINGS.has(enc)) return null;
        } else return null;
        pos = r.pos + size;
      }
      if (!dictHeader) return null;
      const dh = field(dictHeader, 7)!.value as TStruct;
      if ((field(dh, 1)!.value as number) !== old.length) return null;
      const values = shiftValues(old, role, s);
      const plain = plainBytes(values, role);
      const body = codec === CODEC_ZSTD ? zstdStored(plain) : plain;
      setField(dictHeader, 2, TType.I32, plain.length);
      setField(dictHeader, 3, TType.I32, body.length);
      dropField(dictHeader, 4); // crc of the old body
      const w = new Writer();
      w.struct(dictHeader);
      const hb = w.bytes();
      const bytes = new Uint8Array(hb.length + body.length);
      bytes.set(hb);
      bytes.set(body, hb.length);
      swaps.push({ start, end: dictBodyEnd, bytes });
      chunkDelta.set(md, bytes.length - (dictBodyEnd - start));
      // Statistics: exact for the new values.
      const st = field(md, 12)?.value as TStruct | undefined;
      if (st) {
        let min: Uint8Array;
        let max: Uint8Array;
        if (role === 'time') {
          const ts = values as bigint[];
          const lo = ts.reduce((a, b) => (b < a ? b : a));
          const hi = ts.reduce((a, b) => (b > a ? b : a));
          min = Buffer.alloc(8);
          max = Buffer.alloc(8);
          (min as Buffer).writeBigInt64LE(lo);
          (max as Buffer).writeBigInt64LE(hi);
        } else {
          const bs = (values as string[]).map((v) => Buffer.from(v, 'utf8'));
          min = bs.reduce((a, b) => (Buffer.compare(b, a) < 0 ? b : a));
          max = bs.reduce((a, b) => (Buffer.compare(b, a) > 0 ? b : a));
        }
        for (const [id, v] of [
          [1, max],
          [2, min],
          [5, max],
          [6, min],
        ] as const)
          if (field(st, id)) setField(st, id, TType.BINARY, v);
      }
      dropField(md, 14); // bloom filter of the old values
      dropField(md, 15);
    }
  }
  swaps.sort((a, b) => a.start - b.start);
  const shift = (o: number): number => {
    let d = 0;
    for (const w of swaps) if (w.end <= o) d += w.bytes.length - (w.end - w.start);
    return o + d;
  };
  const mapI64 = (st: TStruct, id: number) => {
    const f = field(st, id);
    if (f) f.value = BigInt(shift(Number(f.value as bigint)));
  };
  for (const rg of rgs) {
    let rgDelta = 0;
    for (const cc of (field(rg, 1)!.value as TList).items as TStruct[]) {
      const md = field(cc, 3)!.value as TStruct;
      mapI64(cc, 2);
      for (const id of [4, 5, 6, 7]) dropField(cc, id); // page indexes (offsets would be stale)
      for (const id of [9, 10, 11, 14]) mapI64(md, id);
      const d = chunkDelta.get(md) ?? 0;
      if (d !== 0) {
        const f = field(md, 7)!;
        f.value = (f.value as bigint) + BigInt(d);
        rgDelta += d;
      }
    }
    mapI64(rg, 5);
    const tcs = field(rg, 6);
    if (tcs) tcs.value = (tcs.value as bigint) + BigInt(rgDelta);
  }
  const w = new Writer();
  w.struct(meta);
  const footer = w.bytes();
  const parts: Uint8Array[] = [];
  let cur = 0;
  for (const sw of swaps) {
    parts.push(base.subarray(cur, sw.start), sw.bytes);
    cur = sw.end;
  }
  parts.push(base.subarray(cur, footerStart), footer);
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(footer.length, 0);
  tail.write('PAR1', 4, 'latin1');
  parts.push(tail);
  return Buffer.concat(parts);
}

/**
 * Row by row, the changed columns of the shifted file equal SQL's shift of the base (time + shift
 * hours, profile_id = copyId(base id, @shift), _batch = the batch id): the check the generator runs
 * on the first shifted copy of each table. The other columns' pages are byte copies of the base's.
 */
export async function verifyShift(conn: DuckDBConnection, baseFile: string, shiftedFile: string, roles: Record<string, ShiftRole>, s: ShiftSpec): Promise<void> {
  const cols = Object.keys(roles);
  const expect = cols
    .map((c) => {
      const role = roles[c];
      const e =
        role === 'time'
          ? `b."${c}" + INTERVAL (${s.shiftHours}) HOUR`
          : role === 'hash'
            ? copyIdSql(`b."${c}"`, `'@${s.shiftHours}'`, s.shiftHours)
            : role === 'copy'
              ? `b."${c}" || '~${copyOf(s)}'`
              : role === 'copy-hash'
                ? copyIdSql(`b."${c}"`, `'~${copyOf(s)}@0'`, 0)
                : `'${sqlString(s.batchId)}'`;
      return `(n."${c}" IS NOT DISTINCT FROM ${e})`;
    })
    .join(' AND ');
  const sel = cols.map((c) => `"${c}"`).join(', ');
  const r = (
    await conn.runAndReadAll(
      `SELECT count(*) AS n, count(*) FILTER (WHERE NOT (${expect})) AS bad
       FROM (SELECT ${sel} FROM read_parquet('${sqlString(shiftedFile)}')) n POSITIONAL JOIN (SELECT ${sel} FROM read_parquet('${sqlString(baseFile)}')) b`,
    )
  ).getRows()[0];
  if (Number(r[1]) !== 0) throw new Error(`${shiftedFile}: ${r[1]} of ${r[0]} rows differ from the SQL shift of the base hour (dictionary order?)`);
}

/** The dictionaries of a shiftFile output: `dicts` with each changed column's values shifted. */
export function shiftDictionaries(dicts: BaseDictionaries, s: ShiftSpec): BaseDictionaries['rowGroups'] {
  return dicts.rowGroups.map((rg) => Object.fromEntries(Object.entries(rg).map(([c, v]) => [c, shiftValues(v, dicts.roles[c], s)])));
}

/**
 * One Parquet file holding the row groups of `files` in order (same schema; every file a
 * shiftFile output or otherwise without page indexes): each file's column chunks (and the bloom
 * filters between them and its footer) are copied as they are, the footers merged with every
 * offset moved by where the file's bytes land. The simulator's base hour is its source hour's
 * file copied once per instance copy k (instance and profile_id dictionaries swapped) and joined
 * here, so no row of the I/N copies is encoded by DuckDB.
 */
export function concatParquet(files: readonly Buffer[]): Buffer {
  if (files.length === 0) throw new Error('concatParquet: no files');
  const parts: Uint8Array[] = [Buffer.from('PAR1', 'latin1')];
  let at = 4;
  let meta: TStruct | undefined;
  let schema: string | undefined;
  const rowGroups: TStruct[] = [];
  let rows = 0n;
  for (const [i, f] of files.entries()) {
    if (f.toString('latin1', 0, 4) !== 'PAR1' || f.toString('latin1', f.length - 4) !== 'PAR1') throw new Error(`concatParquet: file ${i} is not Parquet`);
    const footerStart = f.length - 8 - f.readUInt32LE(f.length - 8);
    const m = new Reader(f, footerStart).struct();
    const w = new Writer();
    w.struct({ fields: [field(m, 2)!] });
    const sch = Buffer.from(w.bytes()).toString('base64');
    if (schema === undefined) schema = sch;
    else if (sch !== schema) throw new Error(`concatParquet: file ${i} has another schema`);
    meta ??= m;
    const delta = BigInt(at - 4);
    const move = (st: TStruct, id: number) => {
      const x = field(st, id);
      if (x) x.value = (x.value as bigint) + delta;
    };
    for (const rg of (field(m, 4)!.value as TList).items as TStruct[]) {
      for (const cc of (field(rg, 1)!.value as TList).items as TStruct[]) {
        if ([4, 5, 6, 7].some((id) => field(cc, id))) throw new Error(`concatParquet: file ${i} has page indexes`);
        move(cc, 2);
        const md = field(cc, 3)!.value as TStruct;
        for (const id of [9, 10, 11, 14]) move(md, id);
      }
      move(rg, 5);
      // ordinal (i16): renumbered; beyond i16 it is left out (optional in the format).
      if (rowGroups.length < 32768) setField(rg, 7, TType.I16, rowGroups.length);
      else dropField(rg, 7);
      rowGroups.push(rg);
    }
    rows += field(m, 3)!.value as bigint;
    parts.push(f.subarray(4, footerStart));
    at += footerStart - 4;
  }
  setField(meta!, 3, TType.I64, rows);
  (field(meta!, 4)!.value as TList).items = rowGroups;
  const w = new Writer();
  w.struct(meta!);
  const footer = w.bytes();
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(footer.length, 0);
  tail.write('PAR1', 4, 'latin1');
  parts.push(footer, tail);
  return Buffer.concat(parts);
}
