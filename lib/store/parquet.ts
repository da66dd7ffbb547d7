import { DuckDBInstance, listValue, mapValue, structValue, timestampValue, type DuckDBAppender, type DuckDBConnection, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { duckdbType, type ColumnType, type TableDef } from '../model/schema';

// Rows -> one zstd Parquet file, through DuckDB: an in-memory staging table filled by the
// appender, then COPY ... ORDER BY the table's sort key so row-group statistics prune well.

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
  private staged = new Set<string>();
  private constructor(private readonly conn: DuckDBConnection) {}

  static async create(instance: DuckDBInstance): Promise<ParquetWriter> {
    return new ParquetWriter(await instance.connect());
  }

  /** Writes `rows` to `outPath` (a local file; callers move it into place atomically). */
  async write(table: TableDef, rows: readonly Row[], outPath: string): Promise<void> {
    const stage = `stage_${table.name}`;
    if (!this.staged.has(stage)) {
      const cols = table.columns.map((c) => `"${c.name}" ${duckdbType(c.type)}`).join(', ');
      await this.conn.run(`CREATE OR REPLACE TABLE ${stage} (${cols})`);
      this.staged.add(stage);
    } else {
      await this.conn.run(`DELETE FROM ${stage}`);
    }
    const appender = await this.conn.createAppender(stage);
    try {
      const duckTypes = table.columns.map((_c, i) => appender.columnType(i));
      for (const row of rows) {
        for (let i = 0; i < table.columns.length; i++) {
          const col = table.columns[i];
          appendCell(appender, col.type, duckTypes[i], row[col.name] ?? null);
        }
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    const order = table.sortBy.map((c) => `"${c}"`).join(', ');
    await this.conn.run(
      `COPY (SELECT * FROM ${stage} ORDER BY ${order}) TO '${sqlString(outPath)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`,
    );
  }

  close(): void {
    this.conn.closeSync();
  }
}

export function sqlString(s: string): string {
  return s.replace(/'/g, "''");
}

function appendCell(a: DuckDBAppender, type: ColumnType, duckType: DuckDBType, v: CellValue): void {
  if (v === null) {
    a.appendNull();
    return;
  }
  switch (type.kind) {
    case 'varchar':
      a.appendVarchar(String(v));
      return;
    case 'bigint':
      a.appendBigInt(BigInt(v as number | bigint));
      return;
    case 'integer':
      a.appendInteger(v as number);
      return;
    case 'double':
      a.appendDouble(v as number);
      return;
    case 'boolean':
      a.appendBoolean(v as boolean);
      return;
    case 'timestamp':
      a.appendTimestamp(timestampValue(BigInt(v as number | bigint)));
      return;
    default:
      a.appendValue(toDuckValue(type, v), duckType);
  }
}

/** Nested values go through DuckDB's value objects; scalars are appended directly above. */
function toDuckValue(type: ColumnType, v: CellValue): DuckDBValue {
  if (v === null) return null;
  switch (type.kind) {
    case 'varchar':
      return String(v);
    case 'bigint':
      return BigInt(v as number | bigint);
    case 'integer':
    case 'double':
      return v as number;
    case 'boolean':
      return v as boolean;
    case 'timestamp':
      return timestampValue(BigInt(v as number | bigint));
    case 'list':
      return listValue((v as CellValue[]).map((x) => toDuckValue(type.of, x)));
    case 'map': {
      const entries = v instanceof Map ? [...v.entries()] : Object.entries(v as Record<string, CellValue>);
      return mapValue(entries.map(([key, value]) => ({ key, value: toDuckValue(type.value, value) })));
    }
    case 'struct': {
      const obj = v as Record<string, CellValue>;
      const out: Record<string, DuckDBValue> = {};
      for (const f of type.fields) out[f.name] = toDuckValue(f.type, obj[f.name] ?? null);
      return structValue(out);
    }
  }
}
