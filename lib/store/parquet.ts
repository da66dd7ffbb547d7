import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { BATCH_COLUMN, dedupedSql } from './dedupe';
import { CODECS, duckdbType, type ColumnDef, type ColumnType, type JsonRow, type PackedStacks, type TableDef, type TableName, type TableRows } from '../model/schema';

// Rows -> one zstd Parquet file, through DuckDB's COPY ... ORDER BY the table's sort key, so
// row-group statistics prune well. Row types and their codecs live in lib/model/tables/.
//
// Data never becomes SQL text: rows, frame names and sample types reach DuckDB as NDJSON files
// read by read_json; only our own file paths and the schema's column names are in the SQL.

/** Rows of some table; which table's is checked where they are built (lib/normalize). */
export type TableData = TableRows[TableName];

/** Number of table rows a TableData makes (packed stacks: one per non-zero value). */
export function rowCount(d: TableData): number {
  if (!isPacked(d)) return d.length;
  let n = 0;
  for (const r of d.rows) for (const v of r.vals) if (v !== 0 && v !== 0n) n++;
  return n;
}

function isPacked(d: TableData): d is PackedStacks {
  return !Array.isArray(d);
}

export interface DuckDbSettings {
  threads?: number;
  memoryLimit?: string;
  tempDirectory?: string;
  /** DuckDB max_temp_directory_size, e.g. '1024MB'. */
  maxTempDirectorySize?: string;
}

export async function openDuckDb(settings: DuckDbSettings = {}): Promise<DuckDBInstance> {
  const options: Record<string, string> = { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' };
  if (settings.threads) options.threads = String(settings.threads);
  if (settings.memoryLimit) options.memory_limit = settings.memoryLimit;
  if (settings.tempDirectory) options.temp_directory = settings.tempDirectory;
  if (settings.maxTempDirectorySize) options.max_temp_directory_size = settings.maxTempDirectorySize;
  // Loaded on first use: requiring the library (or a CLI command that never queries) does not load
  // the native DuckDB binding (~1 s).
  const { DuckDBInstance: Instance } = await import('@duckdb/node-api');
  return Instance.create(':memory:', options);
}

export class ParquetWriter {
  private seq = 0;
  private constructor(private readonly conn: DuckDBConnection) {}

  /** The writer's DuckDB connection, for steps that write with SQL of their own (the rollup builder). */
  get connection(): DuckDBConnection {
    return this.conn;
  }

  static async create(instance: DuckDBInstance): Promise<ParquetWriter> {
    return new ParquetWriter(await instance.connect());
  }

  /**
   * Writes `data` (one part, or the parts of a batch: several sources' rows of one table) to
   * `outPath` (a local file; callers move it into place atomically). Rows reach DuckDB as
   * newline-delimited JSON read by its C++ JSON reader: measured ~30x faster than the appender
   * with per-cell DuckDB value objects for list and map columns. One COPY per batch file is what
   * makes batch ingest fast: its fixed cost (~10 ms) was paid per profile and table before.
   */
  async write(table: TableDef, data: TableData | readonly TableData[], outPath: string, opts: { batchId?: string } = {}): Promise<void> {
    const parts: readonly TableData[] = Array.isArray(data) && (data.length === 0 || !isRowLike(data[0])) ? (data as readonly TableData[]) : [data as TableData];
    const base = `${outPath}.${this.seq++}`;
    const files: string[] = [];
    const open = async (suffix: string): Promise<NdjsonFile> => {
      const f = `${base}.${suffix}.ndjson`;
      files.push(f);
      return NdjsonFile.open(f);
    };
    try {
      let src: string;
      const packed = parts.filter(isPacked);
      if (packed.length > 0) {
        if (packed.length !== parts.length) throw new Error(`${table.name}: packed and plain rows in one file`);
        src = await packedSource(table, packed, open);
      } else {
        const codec = CODECS[table.name as TableName] as { encode(r: unknown): JsonRow } | undefined;
        const out = await open('rows');
        let n = 0;
        try {
          for (const rows of parts as readonly (readonly unknown[])[]) {
            await out.write(rows, codec ? (r) => codec.encode(r) : undefined);
            n += rows.length;
          }
        } finally {
          await out.close();
        }
        src = plainSource(table, out.path, n);
      }
      const order = table.sortBy.map((c) => `"${c}"`).join(', ');
      src = withBatch(src, opts.batchId);
      await this.conn.run(
        `COPY (${src} ORDER BY ${order}) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`,
      );
    } finally {
      for (const f of files) await fs.rm(f, { force: true });
    }
  }

  /**
   * A Parquet file written from rows that arrive a chunk at a time (a gctrace log, runtime/metrics:
   * memory bounded by design, #13). JS holds one chunk: each is encoded and appended to an NDJSON
   * file on disk. Every RUN_ROWS rows become one sorted run (a COPY ... ORDER BY of that many rows
   * to a part file), and finish() concatenates the runs into the file without sorting again.
   * One COPY ... ORDER BY over all rows was what cost memory: ~440 MB of DuckDB for 1M metrics, and
   * with a memory_limit it failed instead of spilling; runs of 122,880 rows still cost ~250 MB,
   * runs of 16,384 ~50 MB (measured). The file is sorted within each run (row-group statistics
   * still prune on time-ordered input); the compactor re-sorts whole hours and days anyway.
   * Its COPYs run on one DuckDB thread: concatenating the runs of 1M metrics on two threads peaked
   * at ~480 MB RSS, on one at ~285 MB (each thread buffers its own row groups; measured with
   * bench:hostile's input, docs/performance.md). The rows are already sorted; one thread costs
   * little time here.
   */
  async rowFile(table: TableDef, outPath: string, runRows = RUN_ROWS, opts: { batchId?: string } = {}): Promise<RowFile> {
    const base = `${outPath}.${this.seq++}`;
    const codec = CODECS[table.name as TableName] as { encode(r: unknown): JsonRow } | undefined;
    const order = table.sortBy.map((c) => `"${c}"`).join(', ');
    const parts: string[] = [];
    let ndjson = '';
    let fh: fs.FileHandle | undefined;
    let n = 0;
    const endRun = async () => {
      if (!fh) return;
      await fh.close();
      fh = undefined;
      const part = `${base}.${parts.length}.part.parquet`;
      parts.push(part);
      try {
        await this.oneThread(() =>
          this.conn.run(`COPY (${withBatch(plainSource(table, ndjson, n), opts.batchId)} ORDER BY ${order}) TO '${sqlString(part)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`),
        );
      } finally {
        await fs.rm(ndjson, { force: true });
      }
      n = 0;
    };
    const cleanup = async () => {
      if (fh) await fh.close();
      fh = undefined;
      await fs.rm(ndjson, { force: true });
      for (const p of parts) await fs.rm(p, { force: true });
    };
    return {
      append: async (rows) => {
        for (let i = 0; i < rows.length; ) {
          if (!fh) {
            ndjson = `${base}.${parts.length}.rows.ndjson`;
            fh = await fs.open(ndjson, 'w');
          }
          const take = Math.min(rows.length - i, runRows - n, NDJSON_CHUNK_ROWS);
          const chunk = rows.slice(i, i + take);
          const text = toNdjson(codec ? chunk.map((r) => codec.encode(r)) : (chunk as object[]));
          if (text.length > 0) await fh.write(text);
          n += take;
          i += take;
          if (n >= runRows) await endRun();
        }
      },
      finish: async () => {
        try {
          await endRun();
          if (parts.length === 0) {
            await this.conn.run(`COPY (${withBatch(plainSource(table, '', 0), opts.batchId)}) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd)`);
          } else if (parts.length === 1) {
            await fs.rename(parts[0], outPath);
            parts.length = 0;
          } else {
            const list = parts.map((f) => `'${sqlString(f)}'`).join(', ');
            await this.oneThread(() =>
              this.conn.run(`COPY (SELECT * FROM read_parquet([${list}])) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`),
            );
          }
        } finally {
          await cleanup();
        }
      },
      discard: cleanup,
    };
  }

  /** Runs `f` with DuckDB's threads set to 1, then restores the instance's setting. */
  private async oneThread<T>(f: () => Promise<T>): Promise<T> {
    const r = await this.conn.runAndReadAll(`SELECT current_setting('threads')::INTEGER AS t`);
    const threads = Number(r.getRowObjectsJS()[0].t);
    if (threads === 1) return f();
    await this.conn.run('SET threads = 1');
    try {
      return await f();
    } finally {
      await this.conn.run(`SET threads = ${threads}`);
    }
  }

  /**
   * Merges Parquet files of one table into `outPath`, re-sorted, at a high zstd level: the
   * compaction step, where write time buys the bytes a year of storage pays for.
   */
  async merge(table: TableDef, inputs: readonly string[], outPath: string, zstdLevel = 19, orderBy: readonly string[] = table.sortBy, rowGroupRows = ROW_GROUP_ROWS): Promise<void> {
    const list = inputs.map((f) => `'${sqlString(f)}'`).join(', ');
    const source = `read_parquet([${list}], union_by_name = true, hive_partitioning = false)`;
    const missing = await missingColumns(this.conn, table, source);
    const cols = table.columns.map((c) => (missing.includes(c) ? `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"` : `"${c.name}"`)).join(', ');
    const order = orderBy.map((c) => `"${c}"`).join(', ');
    await this.conn.run(
      `COPY (SELECT ${cols} FROM ${source} ORDER BY ${order}) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL ${zstdLevel}, ROW_GROUP_SIZE ${rowGroupRows})`,
    );
  }

  /**
   * One hour's fresh batch files -> one compacted file of the rows that count (lib/store/dedupe.ts:
   * one batch per profile_id and hour, none a `live` file of the hour already holds), sorted by
   * service first so per-service reads prune on row-group statistics. Returns the row count.
   */
  async compactFresh(table: TableDef, fresh: readonly string[], live: readonly string[], outPath: string, zstdLevel: number, rowGroupRows = ROW_GROUP_ROWS): Promise<number> {
    const missing = (await missingColumns(this.conn, table, tierSource(table, 'fresh', fresh))).map((c) => `, CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join('');
    const rows = dedupedSql(table, {
      compacted: live.length > 0 ? tierSource(table, 'compacted', live) : undefined,
      fresh: tierSource(table, 'fresh', fresh),
      late: 'all',
      emit: 'fresh',
      extra: missing,
    });
    const cols = table.columns.map((c) => `"${c.name}"`).join(', ');
    const order = ['service', ...table.sortBy.filter((c) => c !== 'service')].map((c) => `"${c}"`).join(', ');
    const r = await this.conn.runAndReadAll(
      `COPY (SELECT ${cols} FROM (${rows}) ORDER BY ${order}) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL ${zstdLevel}, ROW_GROUP_SIZE ${rowGroupRows})`,
    );
    return Number(r.getRows()[0]?.[0] ?? 0);
  }

  close(): void {
    this.conn.closeSync();
  }
}

/**
 * Fresh files carry their batch id as a column (BATCH_COLUMN): the dedupe rule needs it and the
 * SQL sandbox refuses the filename column that would otherwise give it.
 */
function withBatch(src: string, batchId: string | undefined): string {
  if (batchId === undefined) return src;
  if (!/^[0-9a-z]+$/.test(batchId)) throw new Error(`bad batch id ${batchId}`);
  return `SELECT *, '${batchId}' AS ${BATCH_COLUMN} FROM (${src})`;
}

/** Rows per Parquet row group. */
const ROW_GROUP_ROWS = 122880;
/** Rows per sorted run of ParquetWriter.rowFile (see there). */
const RUN_ROWS = 16384;

/** See ParquetWriter.rowFile. */
export interface RowFile {
  append(rows: readonly unknown[]): Promise<void>;
  /** Writes the Parquet file and removes the NDJSON one. */
  finish(): Promise<void>;
  /** Removes the NDJSON file without writing (a failure elsewhere). */
  discard(): Promise<void>;
}

/** Rows per toNdjson() call while writing a file: the text in memory at once stays small. */
const NDJSON_CHUNK_ROWS = 8192;

/**
 * read_parquet over files of one tier with the Hive keys of its paths: dt for compacted files,
 * dt and hour for fresh ones (docs/architecture.md, "Storage layout").
 */
export function tierSource(table: TableDef, tier: 'fresh' | 'compacted', files: readonly string[]): string {
  const keys = [...table.partitionKeys.map((k) => k.name), ...(tier === 'fresh' ? ['hour'] : [])].map((k) => `'${k}': VARCHAR`).join(', ');
  return `read_parquet([${files.map((f) => `'${sqlString(f)}'`).join(', ')}], hive_partitioning = true, hive_types = {${keys}}, union_by_name = true)`;
}

/** An NDJSON file written in parts (a batch's sources one after another), a chunk of rows at a time. */
class NdjsonFile {
  private constructor(
    readonly path: string,
    private readonly fh: fs.FileHandle,
  ) {}

  static async open(file: string): Promise<NdjsonFile> {
    return new NdjsonFile(file, await fs.open(file, 'w'));
  }

  async write(rows: readonly unknown[], encode?: (r: unknown) => object): Promise<void> {
    for (let i = 0; i < rows.length; i += NDJSON_CHUNK_ROWS) {
      const chunk = rows.slice(i, i + NDJSON_CHUNK_ROWS);
      const text = toNdjson(encode ? chunk.map(encode) : (chunk as object[]));
      if (text.length > 0) await this.fh.write(text);
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** A plain row array (not a list of parts): its first element is a row object, not an array or PackedStacks. */
function isRowLike(x: unknown): boolean {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !('sampleTypes' in x && 'functions' in x && 'rows' in x);
}

/**
 * Rows -> an NDJSON file, written a chunk of rows at a time (encoded per chunk): one string of a
 * whole table failed with "Invalid string length" past V8's ~512 MiB string limit, and cost
 * several times the rows' size in memory before it did.
 */
export async function writeNdjson(file: string, rows: readonly unknown[], encode?: (r: unknown) => object): Promise<void> {
  const fh = await fs.open(file, 'w');
  try {
    for (let i = 0; i < rows.length || i === 0; i += NDJSON_CHUNK_ROWS) {
      const chunk = rows.slice(i, i + NDJSON_CHUNK_ROWS);
      const text = toNdjson(encode ? chunk.map(encode) : (chunk as object[]));
      if (text.length > 0) await fh.write(text);
    }
  } finally {
    await fh.close();
  }
}

/**
 * The table's columns that none of the files behind `source` (a read_parquet(...) expression)
 * has: files written before a column was added. Readers select them as typed NULLs, so old and new
 * files compact and query together (the stacks table's files, start_lines and inlined came later).
 */
export async function missingColumns(conn: DuckDBConnection, table: TableDef, source: string): Promise<ColumnDef[]> {
  const present = new Set(((await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)).getRowObjectsJS() as { column_name: string }[]).map((r) => r.column_name));
  return table.columns.filter((c) => !present.has(c.name));
}

/**
 * JSON lines with bigints written as exact integer literals (JSON has no size limit). A bigint
 * travels through JSON.stringify as a marker string, replaced by its digits afterwards; the marker
 * holds a random nonce, and should a data string ever start with it, another nonce is drawn, so
 * every string round-trips unchanged (an earlier fixed marker altered names that began with it).
 */
export function toNdjson(rows: readonly object[]): string {
  for (;;) {
    const nonce = randomBytes(8).toString('hex');
    const marker = `\u0000big${nonce}:`;
    let clash = false;
    const replacer = (_k: string, v: unknown) => {
      if (typeof v === 'bigint') return marker + v.toString();
      if (typeof v === 'string' && v.startsWith(marker)) clash = true;
      return v instanceof Map ? Object.fromEntries(v) : v;
    };
    let out = '';
    for (const r of rows) out += JSON.stringify(r, replacer) + '\n';
    if (!clash) return out.replace(new RegExp(`"\\\\u0000big${nonce}:(-?\\d+)"`, 'g'), '$1');
  }
}

/** Columns as NDJSON carries them: timestamps travel as epoch microseconds. */
function jsonType(t: ColumnType): string {
  return duckdbType(t.kind === 'timestamp' ? { kind: 'bigint' } : t);
}

function selectColumns(table: TableDef, expr: (c: ColumnDef) => string | undefined): string {
  return table.columns
    .map((c) => `${expr(c) ?? (c.type.kind === 'timestamp' ? `make_timestamp("${c.name}")` : `"${c.name}"`)} AS "${c.name}"`)
    .join(', ');
}

function plainSource(table: TableDef, file: string, n: number): string {
  if (n === 0) return `SELECT ${table.columns.map((c) => `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join(', ')} WHERE false`;
  const columns = table.columns.map((c) => `'${c.name}': '${jsonType(c.type)}'`).join(', ');
  return `SELECT ${selectColumns(table, () => undefined)} FROM read_json('${sqlString(file)}', format = 'newline_delimited', columns = {${columns}})`;
}

/**
 * Expands PackedStacks (one or several sources' of a batch): a row per sample type with a non-zero
 * value, frame ids to names, files and start lines. Each row carries the offsets of its source's
 * functions (`fb`) and sample types (`tb`) in the batch-wide lists. Functions and sample types
 * travel in NDJSON files of their own, never as SQL literals: a frame name may hold any
 * character, NUL included.
 */
async function packedSource(table: TableDef, parts: readonly PackedStacks[], open: (suffix: string) => Promise<NdjsonFile>): Promise<string> {
  const rows = await open('rows');
  const functions = await open('functions');
  const types = await open('types');
  let fb = 0;
  let tb = 0;
  let n = 0;
  try {
    for (const d of parts) {
      if (d.rows.length > 0 && d.sampleTypes.length > 0) {
        const offsets = { fb, tb };
        await rows.write(d.rows, (r) => ({ ...(r as object), ...offsets }));
        await functions.write(d.functions.map((f, k) => ({ i: fb + k, n: f.name, f: f.file, s: Math.trunc(f.startLine) })));
        await types.write(d.sampleTypes.map((t, k) => ({ ti: tb + k, sample_type: t.type, unit: t.unit })));
        n += d.rows.length;
        fb += d.functions.length;
        tb += d.sampleTypes.length;
      }
    }
  } finally {
    await rows.close();
    await functions.close();
    await types.close();
  }
  if (n === 0) return plainSource(table, '', 0);
  const computed: Record<string, string> = {
    frames: 'list_transform(frame_ids, x -> d.names[x + fb + 1])',
    files: 'list_transform(frame_ids, x -> d.files[x + fb + 1])',
    start_lines: 'list_transform(frame_ids, x -> d.starts[x + fb + 1])',
    sample_type: 't.tn[tb + j + 1]',
    unit: 't.tu[tb + j + 1]',
    value: 'vals[j + 1]',
  };
  const passed = table.columns.filter((c) => !(c.name in computed));
  const columns = [
    ...passed.map((c) => `'${c.name}': '${jsonType(c.type)}'`),
    `'frame_ids': 'INTEGER[]'`,
    `'vals': 'BIGINT[]'`,
    `'fb': 'INTEGER'`,
    `'tb': 'INTEGER'`,
  ].join(', ');
  const ndjson = (f: string, cols: string) => `read_json('${sqlString(f)}', format = 'newline_delimited', columns = {${cols}})`;
  return `SELECT ${selectColumns(table, (c) => computed[c.name])}
    FROM (SELECT *, UNNEST(range(len(vals))) AS j FROM ${ndjson(rows.path, columns)}) r
    CROSS JOIN (
      SELECT list(n ORDER BY i) AS names, list(f ORDER BY i) AS files, list(s ORDER BY i) AS starts
      FROM ${ndjson(functions.path, "'i': 'INTEGER', 'n': 'VARCHAR', 'f': 'VARCHAR', 's': 'INTEGER'")}
    ) d
    CROSS JOIN (
      SELECT list(sample_type ORDER BY ti) AS tn, list(unit ORDER BY ti) AS tu
      FROM ${ndjson(types.path, "'ti': 'INTEGER', 'sample_type': 'VARCHAR', 'unit': 'VARCHAR'")}
    ) t
    WHERE vals[j + 1] <> 0`;
}

export function sqlString(s: string): string {
  return s.replace(/'/g, "''");
}

