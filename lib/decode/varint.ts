import { Reader } from 'protobufjs/minimal';
import { DecodeError } from './errors';
import type { Int64 } from '../model/profile';

// protobufjs's Reader gives us the cursor, tags, lengths and strings; 64-bit varints are read
// here because its int64() allocates a Long per value, which dominated decode time when measured.
// Values that fit in 53 bits come back as numbers; anything larger as an exact bigint.

const TWO_POW_49 = 2 ** 49;

function truncated(): never {
  throw new DecodeError('malformed', 'truncated varint (unexpected end of data)');
}

/** Reads a varint as int64 (two's complement for negatives). */
export function readInt64(r: Reader): Int64 {
  return readVarint(r, true);
}

/** Reads a varint as uint64. */
export function readUint64(r: Reader): Int64 {
  return readVarint(r, false);
}

function readVarint(r: Reader, signed: boolean): Int64 {
  const buf = r.buf;
  let pos = r.pos;
  const end = r.len;
  if (pos >= end) truncated();
  let b = buf[pos++];
  if (b < 0x80) {
    r.pos = pos;
    return b;
  }
  // Up to 7 bytes the value is below 2^49: exact in a double, and never negative.
  let result = b & 0x7f;
  let mul = 128;
  while (mul < TWO_POW_49) {
    if (pos >= end) truncated();
    b = buf[pos++];
    result += (b & 0x7f) * mul;
    if (b < 0x80) {
      r.pos = pos;
      return result;
    }
    mul *= 128;
  }
  return readSlow(r, signed);
}

function readSlow(r: Reader, signed: boolean): Int64 {
  const buf = r.buf;
  let pos = r.pos;
  let v = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= r.len) truncated();
    const b = buf[pos++];
    v |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) {
      r.pos = pos;
      const x = signed ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v);
      return x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
    }
    shift += 7n;
  }
  throw new DecodeError('malformed', 'bad varint (longer than 10 bytes)');
}

/** A varint used as a small index (string table, counts): must fit in a non-negative int. */
export function readIndex(r: Reader): number {
  const v = readInt64(r);
  if (typeof v !== 'number' || v < 0 || v > 0x7fffffff) {
    throw new DecodeError('malformed', `index out of range: ${v}`);
  }
  return v;
}
