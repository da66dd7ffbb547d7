import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { BATCH_COLUMN } from './dedupe';
import { appendRows, appendTable, createAppendTable, type AppendColumn } from './append';
import { duckdbType, T, type ColumnDef, type ColumnType, type PackedStacks, type TableDef, type TableName, type TableRows } from '../model/schema';

// Rows -> one zstd Parquet file, through DuckDB's COPY ... ORDER BY the table's sort key, so
// row-group statistics prune well. Row types and their codecs live in lib/model/tables/.
//
// Data never becomes SQL text: a batch's rows, frame names and sample types reach DuckDB through
// the appender (lib/store/append.ts); rows that arrive a chunk at a time (rowFile: gctrace logs,
// runtime/metrics) as NDJSON files read by read_json. Only our own file and table names and the
// schema's column names are in the SQL.

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
   * `outPath` (a local file; callers move it into place atomically). Rows reach DuckDB through the
   * appender, a data chunk of typed vectors at a time, into TEMP tables (lib/store/append.ts), and
   * one COPY ... ORDER BY writes the file. One COPY per batch file is what makes batch ingest fast:
   * its fixed cost (~10 ms) was paid per profile and table before.
   */
  async write(table: TableDef, data: TableData | readonly TableData[], outPath: string, opts: { batchId?: string } = {}): Promise<void> {
    const parts: readonly TableData[] = Array.isArray(data) && (data.length === 0 || !isRowLike(data[0])) ? (data as readonly TableData[]) : [data as TableData];
    const base = `fleetprof_w${this.seq++}`;
    const temps: string[] = [];
    const append = async <R>(suffix: string, columns: readonly AppendColumn<R>[], rows: readonly (readonly R[])[]): Promise<string> => {
      const name = `${base}_${suffix}`;
      temps.push(name);
      await appendTable(this.conn, name, columns, rows);
      return `temp.main."${name}"`;
    };
    try {
      let src: string;
      let count = 0;
      const packed = parts.filter(isPacked);
      if (packed.length > 0) {
        if (packed.length !== parts.length) throw new Error(`${table.name}: packed and plain rows in one file`);
        for (const p of packed) count += rowCount(p);
        src = await packedSource(table, packed, append);
      } else {
        for (const p of parts as readonly (readonly unknown[])[]) count += p.length;
        const rows = (parts as readonly (readonly Record<string, unknown>[])[]).filter((r) => r.length > 0);
        if (rows.length === 0) src = emptySource(table);
        else {
          const { from } = await splitByPart(table.columns, rows, [], append);
          src = `SELECT ${selectColumns(table, () => undefined)} FROM ${from}`;
        }
      }
      // Sorted by the table's key only when the file holds more than one row group: statistics
      // are per row group, so the order inside a single one prunes nothing (and the compactor
      // re-sorts every row anyway). A batch of 10 agent bundles is ~10,000 stacks rows, one
      // group; the sort was ~12% of its ingest CPU (docs/performance.md, "Ingest").
      const order = count > ROW_GROUP_ROWS ? ` ORDER BY ${table.sortBy.map((c) => `"${c}"`).join(', ')}` : '';
      src = withBatch(src, opts.batchId);
      // On one DuckDB thread: a batch's COPYs are small, and on two threads they cost ~1.6x the CPU
      // (stacks 2.2-2.7 vs 1.1-1.5 ms per profile, measured); the JS thread decoding the next input
      // uses the other core. `fleetprof ingest` of 270 profiles: 2.0-2.2 s CPU vs 2.4-3.0 s.
      await this.oneThread(() =>
        this.conn.run(`COPY (${src}${order}) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`),
      );
    } finally {
      for (const t of temps) await this.conn.run(`DROP TABLE IF EXISTS temp.main."${t}"`);
    }
  }

  /**
   * A Parquet file written from rows that arrive a chunk at a time (a gctrace log, runtime/metrics:
   * memory bounded by design, #13). JS holds one chunk: each goes through the appender into a TEMP
   * table (no JSON text: NDJSON files read by read_json were the path before, and their text, its
   * garbage and DuckDB's JSON reader cost memory and time). Every RUN_ROWS rows become one sorted
   * run (a COPY ... ORDER BY of that TEMP table to a part file, then dropped), and finish()
   * concatenates the runs into the file without sorting again, in row groups of a run's size, so
   * the concatenation holds one run's rows at a time (with 122,880-row groups, the concatenation
   * was the peak of ingesting 1M metrics, ~50 MB above the runs; docs/performance.md). One COPY ... ORDER BY over all rows was what cost memory: ~440 MB of
   * DuckDB for 1M metrics, and with a memory_limit it failed instead of spilling. The file is
   * sorted within each run (row-group statistics still prune on time-ordered input); the compactor
   * re-sorts whole hours and days anyway, in its own row groups. Its COPYs run on one DuckDB thread:
   * concatenating the runs of 1M metrics on two threads peaked at ~480 MB RSS, on one at ~285 MB
   * (each thread buffers its own row groups; bench:hostile's input, docs/performance.md).
   */
  async rowFile(table: TableDef, outPath: string, runRows = RUN_ROWS, opts: { batchId?: string } = {}): Promise<RowFile> {
    const base = `${outPath}.${this.seq}`;
    const tempBase = `fleetprof_r${this.seq++}`;
    const columns = table.columns.map((c) => ({ name: c.name, type: c.type, get: (r: Row) => r[c.name] }));
    const order = table.sortBy.map((c) => `"${c}"`).join(', ');
    const parts: string[] = [];
    let temp: string | undefined;
    let n = 0;
    const drop = async () => {
      if (temp) await this.conn.run(`DROP TABLE IF EXISTS temp.main."${temp}"`);
      temp = undefined;
      n = 0;
    };
    const endRun = async () => {
      if (!temp) return;
      const part = `${base}.${parts.length}.part.parquet`;
      parts.push(part);
      try {
        const src = withBatch(`SELECT ${selectColumns(table, () => undefined)} FROM temp.main."${temp}"`, opts.batchId);
        await this.oneThread(() => this.conn.run(`COPY (${src} ORDER BY ${order}) TO '${sqlString(part)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`), true);
      } finally {
        await drop();
      }
    };
    const cleanup = async () => {
      await drop();
      for (const p of parts) await fs.rm(p, { force: true });
    };
    return {
      get buffered() {
        return n;
      },
      endRun,
      append: async (rows) => {
        for (let i = 0; i < rows.length; ) {
          if (!temp) {
            temp = `${tempBase}_${parts.length}`;
            await createAppendTable(this.conn, temp, columns);
          }
          const take = Math.min(rows.length - i, runRows - n);
          await appendRows(this.conn, temp, columns, [take === rows.length ? (rows as readonly Row[]) : (rows.slice(i, i + take) as Row[])]);
          n += take;
          i += take;
          if (n >= runRows) await endRun();
        }
      },
      finish: async () => {
        try {
          await endRun();
          if (parts.length === 0) {
            await this.conn.run(`COPY (${withBatch(emptySource(table), opts.batchId)}) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd)`);
          } else if (parts.length === 1) {
            await fs.rename(parts[0], outPath);
            parts.length = 0;
          } else {
            const list = parts.map((f) => `'${sqlString(f)}'`).join(', ');
            await this.oneThread(
              () => this.conn.run(`COPY (SELECT * FROM read_parquet([${list}])) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${runRows})`),
              true,
            );
          }
        } finally {
          await cleanup();
        }
      },
      discard: cleanup,
    };
  }

  /**
   * Runs `f` with DuckDB's threads set to 1, then restores the instance's setting.
   *
   * `release`: afterwards DuckDB's allocator hands the memory `f` freed back to the OS. DuckDB
   * flushes its allocator's caches when a task ends on one of its worker threads, and whenever the
   * thread count changes (TaskScheduler::RelaunchThreads); on an instance of one thread (the
   * ingest Lambda's) the calling thread runs every task and neither happens, so the memory of
   * every finished run stayed with the process: the 285 MB gctrace log peaked at 492-508 MB with
   * one thread against 341-366 MB with two (`fleetprof ingest`, the Lambda's memory_limit, same
   * input, docs/performance.md). So a one-thread instance changes its thread count to 2 and back,
   * which flushes; the same happens with more threads through the SET below.
   */
  private async oneThread<T>(f: () => Promise<T>, release = false): Promise<T> {
    const r = await this.conn.runAndReadAll(`SELECT current_setting('threads')::INTEGER AS t`);
    const threads = Number(r.getRowObjectsJS()[0].t);
    if (threads === 1) {
      if (!release) return f();
      try {
        return await f();
      } finally {
        await this.conn.run('SET threads = 2');
        await this.conn.run('SET threads = 1');
      }
    }
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
  /** Rows appended since the last sorted run was written (held in DuckDB's TEMP table). */
  readonly buffered: number;
  /** Writes the rows buffered so far as a sorted run of their own (a shorter one). */
  endRun(): Promise<void>;
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


function selectColumns(table: TableDef, expr: (c: ColumnDef) => string | undefined): string {
  return table.columns
    .map((c) => `${expr(c) ?? (c.type.kind === 'timestamp' ? `make_timestamp("${c.name}")` : `"${c.name}"`)} AS "${c.name}"`)
    .join(', ');
}

/**
 * Expands PackedStacks (one or several sources' of a batch): a row per sample type with a non-zero
 * value, frame ids to names, files and start lines. Each row carries the offsets of its source's
 * functions (`fb`) and sample types (`tb`) in the batch-wide lists. Functions and sample types
 * are tables of their own, appended like the rows, never SQL literals: a frame name may hold any
 * character, NUL included.
 */
async function packedSource(table: TableDef, parts: readonly PackedStacks[], append: Append): Promise<string> {
  const used = parts.filter((d) => d.rows.length > 0 && d.sampleTypes.length > 0);
  if (used.length === 0) return emptySource(table);
  const fbs: number[] = [];
  const tbs: number[] = [];
  const fns: { n: string; f: string; s: number }[] = [];
  const types: { sample_type: string; unit: string }[] = [];
  for (const d of used) {
    fbs.push(fns.length);
    tbs.push(types.length);
    for (const f of d.functions) fns.push({ n: f.name, f: f.file, s: Math.trunc(f.startLine) });
    for (const t of d.sampleTypes) types.push({ sample_type: t.type, unit: t.unit });
  }
  const computed: Record<string, string> = {
    frames: 'list_transform(frame_ids, x -> d.names[x + fb + 1])',
    files: 'list_transform(frame_ids, x -> d.files[x + fb + 1])',
    start_lines: 'list_transform(frame_ids, x -> d.starts[x + fb + 1])',
    sample_type: 't.tn[tb + j + 1]',
    unit: 't.tu[tb + j + 1]',
    value: 'vals[j + 1]',
  };
  type Row = PackedStacks['rows'][number];
  const passed = table.columns.filter((c) => !(c.name in computed));
  const { from } = await splitByPart(
    passed,
    used.map((d) => d.rows as unknown as readonly Record<string, unknown>[]),
    [
      { name: 'fb', type: T.integer, get: (p: number) => fbs[p] },
      { name: 'tb', type: T.integer, get: (p: number) => tbs[p] },
    ],
    append,
    [
      { name: 'frame_ids', type: T.list(T.integer), get: (r) => (r as unknown as Row).frame_ids },
      { name: 'vals', type: T.list(T.bigint), get: (r) => (r as unknown as Row).vals },
    ],
  );
  type Fn = (typeof fns)[number];
  const functions = await append<Fn>(
    'functions',
    [
      { name: 'n', type: T.varchar, get: (f: Fn) => f.n },
      { name: 'f', type: T.varchar, get: (f: Fn) => f.f },
      { name: 's', type: T.integer, get: (f: Fn) => f.s },
    ],
    [fns],
  );
  type Ty = (typeof types)[number];
  const sampleTypes = await append<Ty>(
    'types',
    [
      { name: 'sample_type', type: T.varchar, get: (t: Ty) => t.sample_type },
      { name: 'unit', type: T.varchar, get: (t: Ty) => t.unit },
    ],
    [types],
  );
  // Appended in order, so a table's rowid is each row's position in the batch-wide list.
  return `SELECT ${selectColumns(table, (c) => computed[c.name])}
    FROM (SELECT *, UNNEST(range(len(vals))) AS j FROM ${from}) r
    CROSS JOIN (SELECT list(n ORDER BY rowid) AS names, list(f ORDER BY rowid) AS files, list(s ORDER BY rowid) AS starts FROM ${functions}) d
    CROSS JOIN (SELECT list(sample_type ORDER BY rowid) AS tn, list(unit ORDER BY rowid) AS tu FROM ${sampleTypes}) t
    WHERE vals[j + 1] <> 0`;
}

type Append = <R>(suffix: string, columns: readonly AppendColumn<R>[], rows: readonly (readonly R[])[]) => Promise<string>;

type Row = Record<string, unknown>;

/** The column that joins a batch's rows to their part (source) in splitByPart. */
const PART = 'fleetprof_part';

/**
 * Appends the non-empty `parts` (each one source's rows of a batch) as two tables and returns the
 * FROM clause that joins them: a column whose value is the same in every row of each part (a
 * profile's profile_id, service, instance, version, kind, time) is appended once per part; the
 * rest, plus `rowExtra`, once per row. Those repeated columns were most of the appender's work
 * (one native string copy per row and column). `partExtra`: more columns computed per part.
 */
async function splitByPart(
  columns: readonly ColumnDef[],
  parts: readonly (readonly Row[])[],
  partExtra: readonly { name: string; type: ColumnType; get: (p: number) => unknown }[],
  append: Append,
  rowExtra: readonly AppendColumn<Row>[] = [],
): Promise<{ from: string }> {
  const once = columns.filter((c) => samePerPart(c, parts));
  const perRow = columns.filter((c) => !once.includes(c));
  const rows = await append<Row>(
    'rows',
    [...perRow.map((c) => ({ name: c.name, type: c.type, get: (r: Row) => r[c.name] })), ...rowExtra, { name: PART, type: T.integer, get: (_r: Row, p: number) => p }],
    parts,
  );
  const index = parts.map((_rows, p) => p);
  const partTable = await append<number>(
    'parts',
    [
      { name: PART, type: T.integer, get: (p: number) => p },
      ...once.map((c) => ({ name: c.name, type: c.type, get: (p: number) => parts[p][0][c.name] })),
      ...partExtra,
    ],
    [index],
  );
  return { from: `${rows} JOIN ${partTable} USING (${PART})` };
}

/**
 * Whether column `c` holds one value in every row of each part. Scalars compared with ===, except
 * doubles (NaN, -0): those are always written per row. A list, map or struct counts only when every
 * row of the part holds the very same object (a source's labels: one object shared by its rows),
 * never by comparing contents.
 */
function samePerPart(c: ColumnDef, parts: readonly (readonly Row[])[]): boolean {
  if (c.type.kind === 'double') return false;
  for (const rows of parts) {
    const v = rows[0][c.name];
    for (let i = 1; i < rows.length; i++) if (rows[i][c.name] !== v) return false;
  }
  return true;
}

/** A typed SELECT of no rows: a batch file with the table's columns and nothing in it. */
function emptySource(table: TableDef): string {
  return `SELECT ${table.columns.map((c) => `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"`).join(', ')} WHERE false`;
}

export function sqlString(s: string): string {
  return s.replace(/'/g, "''");
}

