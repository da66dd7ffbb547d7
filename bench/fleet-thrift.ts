// Thrift compact protocol, just enough to read Parquet's footer and page headers as generic
// structs and write them back byte for byte (bench/fleet-parquet.ts edits a few fields). Unknown
// fields round-trip untouched, so whatever a newer DuckDB adds to the footer survives.
// Hand-written because no Thrift or Parquet library is a dependency, and the simulator only needs
// this much (spec: https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md).

export const enum TType {
  STOP = 0,
  TRUE = 1,
  FALSE = 2,
  BYTE = 3,
  I16 = 4,
  I32 = 5,
  I64 = 6,
  DOUBLE = 7,
  BINARY = 8,
  LIST = 9,
  SET = 10,
  MAP = 11,
  STRUCT = 12,
}

export type TValue = boolean | number | bigint | Uint8Array | TList | TMap | TStruct;
export interface TList {
  elem: number;
  items: TValue[];
}
export interface TMap {
  key: number;
  value: number;
  entries: [TValue, TValue][];
}
export interface TField {
  id: number;
  type: number;
  value: TValue;
}
export interface TStruct {
  fields: TField[];
}

export class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    pos = 0,
  ) {
    this.pos = pos;
  }
  private byte(): number {
    if (this.pos >= this.buf.length) throw new Error('thrift: read past the end');
    return this.buf[this.pos++];
  }
  private varint(): bigint {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      r |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return r;
      shift += 7n;
    }
  }
  private zigzag(): bigint {
    const v = this.varint();
    return (v >> 1n) ^ -(v & 1n);
  }
  private value(type: number): TValue {
    switch (type) {
      case TType.TRUE:
        return true;
      case TType.FALSE:
        return false;
      case TType.BYTE:
        return this.byte();
      case TType.I16:
      case TType.I32:
        return Number(this.zigzag());
      case TType.I64:
        return this.zigzag();
      case TType.DOUBLE: {
        const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
        this.pos += 8;
        return v;
      }
      case TType.BINARY: {
        const n = Number(this.varint());
        const v = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n;
        return v;
      }
      case TType.LIST:
      case TType.SET: {
        const h = this.byte();
        let n = h >> 4;
        const elem = h & 0x0f;
        if (n === 15) n = Number(this.varint());
        const items: TValue[] = [];
        // A list's booleans are one byte each (1 true), not folded into the type nibble.
        for (let i = 0; i < n; i++) items.push(elem === TType.TRUE || elem === TType.FALSE ? this.byte() === 1 : this.value(elem));
        return { elem, items };
      }
      case TType.MAP: {
        const n = Number(this.varint());
        if (n === 0) return { key: 0, value: 0, entries: [] };
        const kv = this.byte();
        const entries: [TValue, TValue][] = [];
        for (let i = 0; i < n; i++) entries.push([this.value(kv >> 4), this.value(kv & 0x0f)]);
        return { key: kv >> 4, value: kv & 0x0f, entries };
      }
      case TType.STRUCT:
        return this.struct();
      default:
        throw new Error(`thrift: unknown type ${type} at ${this.pos}`);
    }
  }
  struct(): TStruct {
    const fields: TField[] = [];
    let last = 0;
    for (;;) {
      const h = this.byte();
      const type = h & 0x0f;
      if (type === TType.STOP) return { fields };
      const delta = h >> 4;
      const id = delta === 0 ? Number(this.zigzag()) : last + delta;
      last = id;
      fields.push({ id, type, value: this.value(type) });
    }
  }
}

export class Writer {
  private chunks: number[] = [];
  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
  private varint(v: bigint): void {
    let x = v;
    for (;;) {
      if (x < 0x80n) {
        this.chunks.push(Number(x));
        return;
      }
      this.chunks.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
  }
  private zigzag(v: bigint, bits: bigint): void {
    this.varint(BigInt.asUintN(Number(bits), (v << 1n) ^ (v >> (bits - 1n))));
  }
  private value(type: number, v: TValue): void {
    switch (type) {
      case TType.TRUE:
      case TType.FALSE:
        return; // in the field header
      case TType.BYTE:
        this.chunks.push(v as number);
        return;
      case TType.I16:
      case TType.I32:
        this.zigzag(BigInt(v as number), 32n);
        return;
      case TType.I64:
        this.zigzag(BigInt(v as bigint), 64n);
        return;
      case TType.DOUBLE: {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, v as number, true);
        this.chunks.push(...b);
        return;
      }
      case TType.BINARY: {
        const b = v as Uint8Array;
        this.varint(BigInt(b.length));
        for (const x of b) this.chunks.push(x);
        return;
      }
      case TType.LIST:
      case TType.SET: {
        const l = v as TList;
        if (l.items.length < 15) this.chunks.push((l.items.length << 4) | l.elem);
        else {
          this.chunks.push(0xf0 | l.elem);
          this.varint(BigInt(l.items.length));
        }
        for (const it of l.items) {
          if (l.elem === TType.TRUE || l.elem === TType.FALSE) this.chunks.push(it ? 1 : 2);
          else this.value(l.elem, it);
        }
        return;
      }
      case TType.MAP: {
        const m = v as TMap;
        this.varint(BigInt(m.entries.length));
        if (m.entries.length === 0) return;
        this.chunks.push((m.key << 4) | m.value);
        for (const [k, x] of m.entries) {
          this.value(m.key, k);
          this.value(m.value, x);
        }
        return;
      }
      case TType.STRUCT:
        this.struct(v as TStruct);
        return;
      default:
        throw new Error(`thrift: cannot write type ${type}`);
    }
  }
  struct(s: TStruct): void {
    let last = 0;
    for (const f of s.fields) {
      const type = f.type === TType.TRUE || f.type === TType.FALSE ? (f.value ? TType.TRUE : TType.FALSE) : f.type;
      const delta = f.id - last;
      if (delta > 0 && delta <= 15) this.chunks.push((delta << 4) | type);
      else {
        this.chunks.push(type);
        this.zigzag(BigInt(f.id), 16n);
      }
      last = f.id;
      this.value(type, f.value);
    }
    this.chunks.push(TType.STOP);
  }
}

export function field(s: TStruct, id: number): TField | undefined {
  return s.fields.find((f) => f.id === id);
}

export function setField(s: TStruct, id: number, type: number, value: TValue): void {
  const f = field(s, id);
  if (f) {
    f.type = type;
    f.value = value;
  } else {
    s.fields.push({ id, type, value });
    s.fields.sort((a, b) => a.id - b.id);
  }
}

export function dropField(s: TStruct, id: number): void {
  s.fields = s.fields.filter((f) => f.id !== id);
}
