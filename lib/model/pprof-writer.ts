import { Writer } from 'protobufjs/minimal';
import { PROFILE, tagOf, VALUE_TYPE, WIRE } from './pprof-wire';
import type { Int64 } from './profile';

// Writing a pprof Profile message, the part every encoder shares: protobufjs' Writer, the string
// table (interned as fields refer to strings, written last), int64 values that may be bigints, and
// ValueType messages. The two encoders build on it: the export of stored rows
// (lib/query/export.ts) and the scraper's counters-with-gauges profile (lib/scrape/heap-delta.ts).
//
// Hand-written instead of a library: the only TypeScript pprof writers on npm build a message
// object per sample (protobufjs' generated code); our profiles are columnar, and writing them
// straight to the Writer is short (field numbers from lib/model/pprof-wire.ts).

export class PprofWriter {
  readonly w = Writer.create();
  private readonly strings = [''];
  private readonly ids = new Map<string, number>([['', 0]]);

  /** The string table index of `x`, added on first use. */
  str(x: string): number {
    let i = this.ids.get(x);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(x);
      this.ids.set(x, i);
    }
    return i;
  }

  /** An int64 varint field, left out when 0 (the proto3 default). */
  int64Field(field: number, v: Int64): void {
    if (v !== 0 && v !== 0n) this.w.uint32(tagOf(field, WIRE.VARINT)).int64(int64(v));
  }

  /** A ValueType message (sample type, period type) as field `field`. */
  valueType(field: number, t: { type: string; unit: string }): void {
    const V = WIRE.VARINT;
    this.w.uint32(tagOf(field, WIRE.BYTES)).fork();
    this.w.uint32(tagOf(VALUE_TYPE.TYPE, V)).int64(this.str(t.type));
    this.w.uint32(tagOf(VALUE_TYPE.UNIT, V)).int64(this.str(t.unit));
    this.w.ldelim();
  }

  /** The Profile's bytes: what was written, then the string table. */
  finish(): Uint8Array {
    for (const x of this.strings) this.w.uint32(tagOf(PROFILE.STRING_TABLE, WIRE.BYTES)).string(x);
    return this.w.finish();
  }
}

/** An Int64 as protobufjs' Writer takes it: a number, or a 64-bit two's complement {low, high}. */
export function int64(v: Int64): number {
  if (typeof v === 'number') return v;
  const u = BigInt.asUintN(64, v);
  // protobufjs accepts a LongBits-like object where its types say number.
  return { low: Number(u & 0xffffffffn), high: Number(u >> 32n) } as unknown as number;
}
