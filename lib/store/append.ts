import type { DuckDBConnection, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { duckdbType, type ColumnType } from '../model/schema';

// JS rows -> a DuckDB table through the appender, a data chunk (typed vectors) at a time. The
// ingest writer's path into DuckDB (lib/store/parquet.ts ParquetWriter.write): no data ever becomes
// SQL text (a frame name may hold any character, NUL included) and no JSON text is built or parsed.
// Replaced NDJSON files read by read_json: encoding the JSON, its garbage and DuckDB's JSON reader
// were about half of the ingest CPU (docs/performance.md, "Ingest, layout v2 batches").

type Api = typeof import('@duckdb/node-api');
let apiModule: Promise<Api> | undefined;
/** @duckdb/node-api, loaded on first use (as openDuckDb does: loading the binding costs ~1 s). */
export function duckdbApi(): Promise<Api> {
  return (apiModule ??= import('@duckdb/node-api'));
}

/** A column of an append target: its name, its type, and how to read it from a row. */
export interface AppendColumn<R> {
  readonly name: string;
  readonly type: ColumnType;
  /** `part`: the index in `parts` of the row's part (see appendTable). */
  readonly get: (row: R, part: number) => unknown;
}

/** A column's cells as the appender takes them; timestamps travel as epoch microseconds (BIGINT). */
export function appendType(api: Api, t: ColumnType): DuckDBType {
  switch (t.kind) {
    case 'varchar':
      return api.VARCHAR;
    case 'bigint':
    case 'timestamp':
      return api.BIGINT;
    case 'integer':
      return api.INTEGER;
    case 'double':
      return api.DOUBLE;
    case 'boolean':
      return api.BOOLEAN;
    case 'list':
      return api.LIST(appendType(api, t.of));
    case 'map':
      return api.MAP(appendType(api, t.key), appendType(api, t.value));
    case 'struct':
      return api.STRUCT(Object.fromEntries(Object.entries(t.fields).map(([k, f]) => [k, appendType(api, f)])));
  }
}

type Cell = (v: unknown) => DuckDBValue;

const int64 = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(v as number));

/** JS value of a column type -> the appender's value; undefined and null are NULL. */
function cellOf(api: Api, t: ColumnType): Cell | undefined {
  switch (t.kind) {
    case 'bigint':
    case 'timestamp':
      return (v) => (v == null ? null : int64(v));
    case 'list': {
      const of = cellOf(api, t.of);
      return (v) => (v == null ? null : api.listValue(of ? (v as readonly unknown[]).map(of) : (v as DuckDBValue[])));
    }
    case 'map': {
      const key = cellOf(api, t.key) ?? ((k: unknown) => k as DuckDBValue);
      const value = cellOf(api, t.value) ?? ((x: unknown) => x as DuckDBValue);
      return (v) => {
        if (v == null) return null;
        const entries = v instanceof Map ? [...(v as Map<unknown, unknown>).entries()] : Object.entries(v as object);
        return api.mapValue(entries.map(([k, x]) => ({ key: key(k), value: value(x) })));
      };
    }
    case 'struct': {
      const fields = Object.entries(t.fields).map(([name, f]) => [name, cellOf(api, f) ?? ((x: unknown) => x as DuckDBValue)] as const);
      return (v) => {
        if (v == null) return null;
        const o = v as Record<string, unknown>;
        const out: Record<string, DuckDBValue> = {};
        for (const [name, c] of fields) out[name] = c(o[name]);
        return api.structValue(out);
      };
    }
    default:
      return undefined; // varchar, integer, double, boolean: the JS value as it is
  }
}

/** Rows per data chunk: DuckDB's vector size. */
const CHUNK_ROWS = 2048;

type Bindings = typeof import('@duckdb/node-bindings');
type RawVector = import('@duckdb/node-bindings').Vector;

/**
 * A column of one data chunk filled in JS typed arrays and copied into DuckDB's vector memory in
 * one call per chunk (@duckdb/node-bindings, the C API node-api itself wraps). node-api's vectors
 * keep a cache per item and rebuild a list's child vector on flush; for the ingest's numbers and
 * lists of numbers that bookkeeping (and a BigInt per int64 cell) was most of the appender's JS
 * time. The checks and their messages are node-api's, so a bad value fails the same way.
 */
interface ColumnBuffer {
  /** Sets item `i` (growing the buffer if needed); undefined and null are NULL. */
  set(i: number, v: unknown): void;
  /**
   * Sets items [at, at + list.length) to a list's elements, as `set` of each would. A list
   * column's elements come through here, one call per list: a call of `set` per element went
   * through a call site shared by every buffer class (megamorphic, not inlined), and was most of
   * appending a list (the runtime_metrics histograms, the stacks' frame ids).
   */
  setMany(at: number, list: ArrayLike<unknown>): void;
  /** Copies items [0, n) into `vector`, then forgets them. */
  write(b: Bindings, vector: RawVector, n: number): void;
}

/** Validity bits of a buffer, allocated at its first NULL (none: every item valid). */
class Nulls {
  private words: Uint32Array | undefined;
  private any = false;
  constructor(private capacity: number) {}

  mark(i: number, isNull: boolean): void {
    if (!isNull && !this.any) return;
    if (!this.words || this.words.length * 32 < this.capacity) this.grow();
    const w = this.words!;
    if (isNull) {
      this.any = true;
      w[i >>> 5] &= ~(1 << (i & 31));
    } else w[i >>> 5] |= 1 << (i & 31);
  }

  ensure(capacity: number): void {
    this.capacity = Math.max(this.capacity, capacity);
  }

  private grow(): void {
    // 64-bit words, as DuckDB's validity mask is; all valid to start with.
    const words = new Uint32Array(Math.ceil(this.capacity / 64) * 2).fill(0xffffffff);
    if (this.words) words.set(this.words);
    this.words = words;
  }

  write(b: Bindings, vector: RawVector, n: number): void {
    if (!this.any) return;
    const w = this.words!;
    const bytes = Math.ceil(n / 64) * 8;
    b.vector_ensure_validity_writable(vector);
    b.copy_data_to_vector_validity(vector, 0, w.buffer as ArrayBuffer, w.byteOffset, bytes);
    w.fill(0xffffffff);
    this.any = false;
  }
}

/** A fixed-width column (INTEGER, DOUBLE, BIGINT, BOOLEAN) in a typed array of `bytes` per item. */
// Subclasses `declare` their views: set from the base constructor (views()), a class field would
// be re-initialized to undefined after it.
abstract class FixedBuffer implements ColumnBuffer {
  protected buf: ArrayBuffer;
  protected readonly nulls: Nulls;
  constructor(
    protected capacity: number,
    private readonly bytes: number,
  ) {
    this.buf = new ArrayBuffer(capacity * bytes);
    this.nulls = new Nulls(capacity);
    this.views();
  }

  protected abstract views(): void;
  protected abstract put(i: number, v: unknown): void;

  set(i: number, v: unknown): void {
    if (i >= this.capacity) this.grow(i + 1);
    if (v == null) {
      this.nulls.mark(i, true);
      return;
    }
    this.put(i, v);
    this.nulls.mark(i, false);
  }

  setMany(at: number, list: ArrayLike<unknown>): void {
    const len = list.length;
    if (at + len > this.capacity) this.grow(at + len);
    const nulls = this.nulls;
    for (let k = 0; k < len; k++) {
      const v = list[k];
      if (v == null) nulls.mark(at + k, true);
      else {
        this.put(at + k, v);
        nulls.mark(at + k, false);
      }
    }
  }

  private grow(min: number): void {
    const capacity = Math.max(min, this.capacity * 2);
    const buf = new ArrayBuffer(capacity * this.bytes);
    new Uint8Array(buf).set(new Uint8Array(this.buf));
    this.buf = buf;
    this.capacity = capacity;
    this.nulls.ensure(capacity);
    this.views();
  }

  write(b: Bindings, vector: RawVector, n: number): void {
    b.copy_data_to_vector(vector, 0, this.buf, 0, n * this.bytes);
    this.nulls.write(b, vector, n);
  }
}

class IntegerBuffer extends FixedBuffer {
  declare private a: Int32Array;
  constructor(capacity: number) {
    super(capacity, 4);
  }
  protected views(): void {
    this.a = new Int32Array(this.buf);
  }
  protected put(i: number, v: unknown): void {
    if (!Number.isInteger(v)) throw new Error('number is not an integer');
    if ((v as number) < -2147483648 || (v as number) > 2147483647) throw new Error('number out of int32 range');
    this.a[i] = v as number;
  }
}

class DoubleBuffer extends FixedBuffer {
  declare private a: Float64Array;
  constructor(capacity: number) {
    super(capacity, 8);
  }
  protected views(): void {
    this.a = new Float64Array(this.buf);
  }
  protected put(i: number, v: unknown): void {
    this.a[i] = v as number;
  }
}

const TWO_32 = 4294967296;

/**
 * BIGINT (and timestamps as epoch microseconds): a safe integer is written as its two 32-bit
 * halves (two's complement, little-endian, as DuckDB stores int64 here), no BigInt made; anything
 * else through BigInt as before (a non-integer throws, a bigint beyond int64 throws).
 */
class BigIntBuffer extends FixedBuffer {
  declare private w: Int32Array;
  declare private big: BigInt64Array;
  constructor(capacity: number) {
    super(capacity, 8);
  }
  protected views(): void {
    this.w = new Int32Array(this.buf);
    this.big = new BigInt64Array(this.buf);
  }
  protected put(i: number, v: unknown): void {
    if (typeof v === 'number' && Number.isSafeInteger(v)) {
      this.w[2 * i] = v | 0; // the low 32 bits, whatever the magnitude (ToInt32 is modulo 2^32)
      this.w[2 * i + 1] = Math.floor(v / TWO_32);
      return;
    }
    const x = int64(v);
    if (BigInt.asIntN(64, x) !== x) throw new Error('bigint out of int64 range');
    this.big[i] = x;
  }
}

class BooleanBuffer extends FixedBuffer {
  declare private a: Uint8Array;
  constructor(capacity: number) {
    super(capacity, 1);
  }
  protected views(): void {
    this.a = new Uint8Array(this.buf);
  }
  protected put(i: number, v: unknown): void {
    this.a[i] = v ? 1 : 0;
  }
}

/** Bytes of a duckdb_string_t (duckdb.h): length, then 12 bytes inline or a 4-byte prefix and a pointer. */
const STRING_T_BYTES = 16;

/**
 * VARCHAR: one native copy per distinct string of a data chunk, without node-api's per-item caches.
 * A string repeated in the chunk (a metric's name in every snapshot, a sample type or a function
 * name in every row of its profile) is copied once: its other items get the same duckdb_string_t
 * (duckdb.h's public layout), whose pointer, if any, is into the vector's own string heap, which
 * never moves and lives as long as the vector. The appender copies each item's bytes out as before.
 */
class VarcharBuffer implements ColumnBuffer {
  private items: unknown[] = [];
  set(i: number, v: unknown): void {
    this.items[i] = v;
  }
  setMany(at: number, list: ArrayLike<unknown>): void {
    const items = this.items;
    for (let k = 0; k < list.length; k++) items[at + k] = list[k];
  }
  write(b: Bindings, vector: RawVector, n: number): void {
    const items = this.items;
    let nulls: Nulls | undefined;
    const first = new Map<unknown, number>();
    // (item, earlier item with the same string) pairs
    let repeats: Int32Array | undefined;
    let r = 0;
    for (let i = 0; i < n; i++) {
      const s = items[i];
      if (s == null) {
        (nulls ??= new Nulls(n)).mark(i, true);
        continue;
      }
      const f = first.get(s);
      if (f === undefined) {
        b.vector_assign_string_element(vector, i, s as string);
        first.set(s, i);
      } else {
        repeats ??= new Int32Array(2 * n);
        repeats[r++] = i;
        repeats[r++] = f;
      }
    }
    if (repeats) {
      // vector_get_data returns a copy of the slots: patch it, then copy it back.
      const slots = b.vector_get_data(vector, n * STRING_T_BYTES);
      for (let k = 0; k < r; k += 2) {
        const at = repeats[k + 1] * STRING_T_BYTES;
        slots.copyWithin(repeats[k] * STRING_T_BYTES, at, at + STRING_T_BYTES);
      }
      b.copy_data_to_vector(vector, 0, slots.buffer as ArrayBuffer, slots.byteOffset, n * STRING_T_BYTES);
    }
    nulls?.write(b, vector, n);
    this.items = [];
  }
}

/**
 * LIST of a type with a buffer of its own: the elements of all the chunk's lists in one child
 * buffer, and each item's (offset, length) as DuckDB's list entries (two uint64 per item).
 */
class ListBuffer implements ColumnBuffer {
  private entries: Uint32Array;
  private readonly nulls: Nulls;
  private total = 0;
  constructor(
    private capacity: number,
    private readonly child: ColumnBuffer,
  ) {
    this.entries = new Uint32Array(capacity * 4);
    this.nulls = new Nulls(capacity);
  }

  set(i: number, v: unknown): void {
    if (i >= this.capacity) {
      const entries = new Uint32Array(Math.max(i + 1, this.capacity * 2) * 4);
      entries.set(this.entries);
      this.entries = entries;
      this.capacity = entries.length / 4;
      this.nulls.ensure(this.capacity);
    }
    const e = this.entries;
    if (v == null) {
      e[4 * i] = this.total;
      e[4 * i + 1] = 0;
      e[4 * i + 2] = 0;
      e[4 * i + 3] = 0;
      this.nulls.mark(i, true);
      return;
    }
    const list = v as ArrayLike<unknown>;
    const len = list.length;
    if (typeof v !== 'object' || typeof len !== 'number') throw new Error('not a list');
    const at = this.total;
    this.child.setMany(at, list);
    this.total = at + len;
    if (this.total >= TWO_32) throw new Error('list elements past 2^32 in one data chunk');
    e[4 * i] = at;
    e[4 * i + 1] = 0;
    e[4 * i + 2] = len;
    e[4 * i + 3] = 0;
    this.nulls.mark(i, false);
  }

  setMany(at: number, list: ArrayLike<unknown>): void {
    for (let k = 0; k < list.length; k++) this.set(at + k, list[k]);
  }

  write(b: Bindings, vector: RawVector, n: number): void {
    b.list_vector_reserve(vector, this.total);
    b.list_vector_set_size(vector, this.total);
    if (this.total > 0) this.child.write(b, b.list_vector_get_child(vector), this.total);
    b.copy_data_to_vector(vector, 0, this.entries.buffer as ArrayBuffer, 0, n * 16);
    this.nulls.write(b, vector, n);
    this.total = 0;
  }
}

/**
 * MAP(K, V): DuckDB's list of STRUCT(key, value), the keys and values each in a buffer of their
 * own. A map is a plain object or a Map (entries in their iteration order, as before).
 */
class MapBuffer implements ColumnBuffer {
  private readonly list: ListBuffer;
  private readonly pairs: PairBuffer;
  constructor(capacity: number, keys: ColumnBuffer, values: ColumnBuffer) {
    this.pairs = new PairBuffer(keys, values);
    this.list = new ListBuffer(capacity, this.pairs);
  }
  set(i: number, v: unknown): void {
    if (v == null || v instanceof Map) return this.list.set(i, v == null ? v : this.pairs.from(v as Map<unknown, unknown>));
    if (typeof v !== 'object') throw new Error('not a map');
    this.list.set(i, this.pairs.fromObject(v as Record<string, unknown>));
  }
  setMany(at: number, list: ArrayLike<unknown>): void {
    for (let k = 0; k < list.length; k++) this.set(at + k, list[k]);
  }
  write(b: Bindings, vector: RawVector, n: number): void {
    this.list.write(b, vector, n);
  }
}

/** The STRUCT(key, value) child of a MAP: `set` takes [key, value] pairs. */
class PairBuffer implements ColumnBuffer {
  private static readonly NONE: readonly [unknown, unknown][] = [];
  constructor(
    private readonly keys: ColumnBuffer,
    private readonly values: ColumnBuffer,
  ) {}
  from(m: Map<unknown, unknown>): readonly [unknown, unknown][] {
    return m.size === 0 ? PairBuffer.NONE : [...m.entries()];
  }
  fromObject(o: Record<string, unknown>): readonly [unknown, unknown][] {
    // Most rows' labels are empty: no entries array for those.
    for (const _k in o) return Object.entries(o);
    return PairBuffer.NONE;
  }
  set(i: number, v: unknown): void {
    const [k, x] = v as [unknown, unknown];
    this.keys.set(i, k);
    this.values.set(i, x);
  }
  setMany(at: number, list: ArrayLike<unknown>): void {
    for (let k = 0; k < list.length; k++) this.set(at + k, list[k]);
  }
  write(b: Bindings, vector: RawVector, n: number): void {
    this.keys.write(b, b.struct_vector_get_child(vector, 0), n);
    this.values.write(b, b.struct_vector_get_child(vector, 1), n);
  }
}

/** A buffer for a column of type `t`, or undefined where node-api's vectors do the work (structs). */
function bufferOf(t: ColumnType, capacity: number): ColumnBuffer | undefined {
  switch (t.kind) {
    case 'integer':
      return new IntegerBuffer(capacity);
    case 'double':
      return new DoubleBuffer(capacity);
    case 'bigint':
    case 'timestamp':
      return new BigIntBuffer(capacity);
    case 'boolean':
      return new BooleanBuffer(capacity);
    case 'varchar':
      return new VarcharBuffer();
    case 'list': {
      const child = bufferOf(t.of, capacity * 4);
      return child && new ListBuffer(capacity, child);
    }
    case 'map': {
      const keys = bufferOf(t.key, capacity);
      const values = bufferOf(t.value, capacity);
      return keys && values && new MapBuffer(capacity, keys, values);
    }
    default:
      return undefined;
  }
}

/**
 * Creates TEMP table `name` with `columns` and appends `parts` (arrays of rows) to it. The caller
 * drops it. A value that does not fit its column (a non-integer for INTEGER, a bigint beyond
 * int64) throws, naming the column.
 */
export async function appendTable<R>(conn: DuckDBConnection, name: string, columns: readonly AppendColumn<R>[], parts: readonly (readonly R[])[]): Promise<number> {
  await createAppendTable(conn, name, columns);
  return appendRows(conn, name, columns, parts);
}

/** Creates (or empties) TEMP table `name` with `columns`, for appendRows. */
export async function createAppendTable<R>(conn: DuckDBConnection, name: string, columns: readonly AppendColumn<R>[]): Promise<void> {
  await conn.run(`CREATE OR REPLACE TEMP TABLE "${name}" (${columns.map((c) => `"${c.name}" ${duckdbType(c.type, { timestampsAs: 'BIGINT' })}`).join(', ')})`);
}

/** Appends `parts` to TEMP table `name` made by createAppendTable with the same columns. */
export async function appendRows<R>(conn: DuckDBConnection, name: string, columns: readonly AppendColumn<R>[], parts: readonly (readonly R[])[]): Promise<number> {
  const api = await duckdbApi();
  // Loaded with node-api (its pinned dependency), so requiring it here loads nothing new.
  const b = require('@duckdb/node-bindings') as Bindings;
  const types = columns.map((c) => appendType(api, c.type));
  const buffers = columns.map((c) => bufferOf(c.type, CHUNK_ROWS));
  const cells = columns.map((c) => cellOf(api, c.type));
  const appender = await conn.createAppender(name, 'main', 'temp');
  const total = parts.reduce((s, rows) => s + rows.length, 0);
  let n = 0;
  try {
    let size = Math.min(CHUNK_ROWS, total);
    let chunk = api.DuckDBDataChunk.create(types, size);
    // node-api's vectors only for the columns without a buffer of ours (maps, structs).
    let vectors = columns.map((_c, i) => (buffers[i] ? undefined : chunk.getColumnVector(i)));
    let r = 0;
    for (let p = 0; p < parts.length; p++) {
      for (const row of parts[p]) {
        for (let c = 0; c < columns.length; c++) {
          const raw = columns[c].get(row, p);
          try {
            const buffer = buffers[c];
            if (buffer) buffer.set(r, raw);
            else {
              const cell = cells[c];
              vectors[c]!.setItem(r, (cell ? cell(raw) : raw) as never);
            }
          } catch (e) {
            throw new Error(`column ${columns[c].name}: ${(e as Error).message}`, { cause: e });
          }
        }
        n++;
        if (++r === size) {
          // A chunk sized to the rows left: every vector's every row is written before it goes.
          for (let c = 0; c < columns.length; c++) {
            const buffer = buffers[c];
            if (buffer) buffer.write(b, b.data_chunk_get_vector(chunk.chunk, c), size);
            else vectors[c]!.flush();
          }
          appender.appendDataChunk(chunk);
          if (n < total) {
            size = Math.min(CHUNK_ROWS, total - n);
            chunk = api.DuckDBDataChunk.create(types, size);
            vectors = columns.map((_c, i) => (buffers[i] ? undefined : chunk.getColumnVector(i)));
          }
          r = 0;
        }
      }
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  return n;
}
