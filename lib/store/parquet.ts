import { promises as fs } from 'node:fs';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { duckdbType, type TableDef } from '../model/schema';

// Rows -> one zstd Parquet file, through DuckDB's COPY ... ORDER BY the table's sort key, so
// row-group statistics prune well.

export type CellValue = string | number | bigint | boolean | null | CellValue[] | { [k: string]: CellValue } | Map<string, CellValue>;
export type Row = Record<string, CellValue>;

export interface DuckDbSettings {
  threads?: number;
  memoryLimit?: string;
  tempDirectory?: string;
}

export async function openDuckDb(settings: DuckDbSettings = {}): Promise<DuckDBInstance> {
  const options: Record<string, string> = { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' };
  if (settings.threads) options.threads = String(settings.threads);
  if (settings.memoryLimit) options.memory_limit = settings.memoryLimit;
  if (settings.tempDirectory) options.temp_directory = settings.tempDirectory;
  return DuckDBInstance.create(':memory:', options);
}

export class ParquetWriter {
  private seq = 0;
  private constructor(private readonly conn: DuckDBConnection) {}

  static async create(instance: DuckDBInstance): Promise<ParquetWriter> {
    return new ParquetWriter(await instance.connect());
  }

  /**
   * Writes `rows` to `outPath` (a local file; callers move it into place atomically).
   * Rows reach DuckDB as newline-delimited JSON read by its C++ JSON reader: measured ~30x
   * faster than the appender with per-cell DuckDB value objects for list and map columns.
   */
  async write(table: TableDef, rows: readonly Row[], outPath: string): Promise<void> {
    const tmp = `${outPath}.${this.seq++}.ndjson`;
    try {
      await fs.writeFile(tmp, toNdjson(rows));
      const columns = table.columns.map((c) => `'${c.name}': '${duckdbType(c.type.kind === 'timestamp' ? { kind: 'bigint' } : c.type)}'`).join(', ');
      const select = table.columns.map((c) => (c.type.kind === 'timestamp' ? `make_timestamp("${c.name}") AS "${c.name}"` : `"${c.name}"`)).join(', ');
      const order = table.sortBy.map((c) => `"${c}"`).join(', ');
      const source = rows.length
        ? `read_json('${sqlString(tmp)}', format = 'newline_delimited', columns = {${columns}}, maximum_object_size = 268435456)`
        : `(SELECT ${table.columns.map((c) => `CAST(NULL AS ${duckdbType(c.type.kind === 'timestamp' ? { kind: 'bigint' } : c.type)}) AS "${c.name}"`).join(', ')} WHERE false)`;
      await this.conn.run(
        `COPY (SELECT ${select} FROM ${source} ORDER BY ${order}) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`,
      );
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /**
   * Merges Parquet files of one table into `outPath`, re-sorted, at a high zstd level: the
   * compaction step, where write time buys the bytes a year of storage pays for.
   */
  async merge(table: TableDef, inputs: readonly string[], outPath: string, zstdLevel = 19): Promise<void> {
    const list = inputs.map((f) => `'${sqlString(f)}'`).join(', ');
    const cols = table.columns.map((c) => `"${c.name}"`).join(', ');
    const order = table.sortBy.map((c) => `"${c}"`).join(', ');
    await this.conn.run(
      `COPY (SELECT ${cols} FROM read_parquet([${list}], union_by_name = true) ORDER BY ${order}) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL ${zstdLevel}, ROW_GROUP_SIZE 122880)`,
    );
  }

  close(): void {
    this.conn.closeSync();
  }
}

const BIG = '\u0000big:';
const BIG_RE = /"\\u0000big:(-?\d+)"/g;

/** JSON lines with bigints written as exact integer literals (JSON has no size limit). */
export function toNdjson(rows: readonly Row[]): string {
  const replacer = (_k: string, v: unknown) => {
    if (typeof v === 'bigint') return BIG + v.toString();
    // A string that itself began with the marker would be read back as a number: defuse it.
    if (typeof v === 'string' && v.startsWith(BIG)) return '\ufffd' + v.slice(1);
    return v instanceof Map ? Object.fromEntries(v) : v;
  };
  let out = '';
  for (const r of rows) out += JSON.stringify(r, replacer) + '\n';
  return out.replace(BIG_RE, '$1');
}

export function sqlString(s: string): string {
  return s.replace(/'/g, "''");
}

