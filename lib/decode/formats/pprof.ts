import { Reader } from 'protobufjs/minimal';
import { DecodeError } from '../errors';
import type { Decoded, InputFormat } from '../format';
import { GrowableF64, GrowableU32, GrowableUint } from '../growable';
import { readIndex, readInt64, readUint64 } from '../varint';
import { FUNCTION, LABEL, LINE, LOCATION, MAPPING, PROFILE, SAMPLE, VALUE_TYPE, WIRE } from '../../model/pprof-wire';
import type { Func, Int64, Label, Location, Mapping, Profile, SampleValues, ValueType } from '../../model/profile';
import { LIMITS } from '../../model/limits';
import { overLimit } from '../errors';

// A streaming decoder for perftools.profiles.Profile (lib/model/profile.proto; field numbers in
// lib/model/pprof-wire.ts).
// Field order on the wire is not schema order (Go writes the string table last and interleaves
// locations with samples), so everything is read raw and resolved only after the whole message.

const WIRE_VARINT = WIRE.VARINT;
const WIRE_FIXED64 = WIRE.FIXED64;
const WIRE_BYTES = WIRE.BYTES;
const WIRE_FIXED32 = WIRE.FIXED32;

// Locations and lines are read straight into the shape of the model's Location and Line, with
// raw ids where the model has indices; resolve() swaps the ids for indices in place, so each
// location costs one set of objects instead of two.
interface RawLine {
  /** Function id while reading, function index after resolve(). */
  fn: Int64;
  line: number;
  column: number;
}
interface RawLocation {
  id: Int64;
  /** Mapping id while reading (0 = none), mapping index (or -1) after resolve(). */
  mapping: Int64;
  address: Int64;
  lines: RawLine[];
  isFolded: boolean;
}
interface RawFunction {
  id: Int64;
  name: number;
  systemName: number;
  filename: number;
  startLine: number;
}
interface RawMapping {
  id: Int64;
  memoryStart: Int64;
  memoryLimit: Int64;
  fileOffset: Int64;
  filename: number;
  buildId: number;
  flags: [boolean, boolean, boolean, boolean];
}

/** Sentinel in the number arrays meaning "the exact value is in a side table". */
const BIG = Number.NaN;
const BIG_ID = 0xffffffff;

class RawProfile {
  constructor(inputBytes: number, sizes: WireSizes | null) {
    if (sizes) {
      // Allocated once at the size the wire announces: doubling arrays held up to 1.5x their
      // contents at each copy, and that was a third of a 1M-sample profile's decode (#13).
      this.locIds = new GrowableUint(Math.max(16, sizes.locIds));
      this.values = new GrowableF64(Math.max(16, sizes.samples * sizes.sampleTypes));
      this.sampleLocStart = new GrowableU32(sizes.samples + 1);
      this.labelPos = new GrowableU32(Math.max(16, sizes.labels));
      this.labelOwner = new GrowableU32(Math.max(16, sizes.labels));
      this.strings = new StringTable(Math.max(16, sizes.strings));
      return;
    }
    // The message does not parse at the field level: decoding will say why; starting sizes from
    // the input's size (every id and value takes at least one byte on the wire).
    const guess = Math.max(1024, inputBytes >> 3);
    this.locIds = new GrowableUint(guess * 4);
    this.values = new GrowableF64(guess >> 1);
    this.sampleLocStart = new GrowableU32(guess >> 3);
    this.labelPos = new GrowableU32(guess >> 3);
    this.labelOwner = new GrowableU32(guess >> 3);
    this.strings = new StringTable(guess >> 4);
  }
  sampleTypes: [number, number][] = [];
  // Per sample: offsets into locIds; values in a flat array; labels sparse.
  sampleLocStart: GrowableU32;
  /** Location ids; BIG_ID means "look in bigLocIds" (ids that do not fit in 32 bits). */
  locIds: GrowableUint;
  bigLocIds = new Map<number, Int64>();
  values: GrowableF64;
  bigValues = new Map<number, bigint>();
  // Labels as the wire position of their message (its length prefix), with the sample that owns
  // them: 8 bytes a label, parsed only in resolve(). Four float fields a label (36 bytes) cost a
  // 1M-label profile ~90 MB (#13); one object and one Map entry a label was worse still.
  labelPos: GrowableU32;
  labelOwner: GrowableU32;
  sampleCount = 0;
  valuesPerSample = -1;
  mappings: RawMapping[] = [];
  locations: RawLocation[] = [];
  functions: RawFunction[] = [];
  strings: StringTable;
  dropFrames = 0;
  keepFrames = 0;
  timeNanos: Int64 = 0;
  sawTime = false;
  durationNanos: Int64 = 0;
  periodType: [number, number] | null = null;
  period: Int64 = 0;
  comments: number[] = [];
  defaultSampleType = 0;
  docUrl = 0;
}

export function decodePprofMessage(bytes: Uint8Array): Profile {
  if (bytes.length === 0) throw new DecodeError('empty', 'empty input');
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sizes = wireSizes(buf);
  if (sizes && sizes.samples > LIMITS.maxSamples) throw overLimit('samples in the profile', sizes.samples, LIMITS.maxSamples);
  const raw = new RawProfile(buf.length, sizes);
  try {
    readProfile(Reader.create(buf), raw);
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    // protobufjs throws RangeError("index out of range") when a length runs past the end.
    if (e instanceof RangeError) {
      throw new DecodeError('malformed', `not a valid pprof protobuf: truncated data, a field runs past the end of the data (${e.message})`);
    }
    throw new DecodeError('malformed', `not a valid pprof protobuf: ${(e as Error).message}`);
  }
  return resolve(raw, buf);
}

/** What the decoder's arrays will hold, counted from the wire before they are allocated. */
interface WireSizes {
  samples: number;
  sampleTypes: number;
  /** Location ids of all samples, at most (a packed id takes at least one byte). */
  locIds: number;
  labels: number;
  strings: number;
}

/**
 * One pass over the message's fields and its samples' fields, reading tags and lengths only (a
 * few ms for a 26 MB profile): the sizes of the decoder's arrays. null where the message does not
 * parse at this level; the decoder then finds the problem and names it.
 */
function wireSizes(buf: Uint8Array): WireSizes | null {
  const n: WireSizes = { samples: 0, sampleTypes: 0, locIds: 0, labels: 0, strings: 0 };
  let pos = 0;
  const varint = (end: number): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) return -1;
      const b = buf[pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    return -1;
  };
  /** Moves past a field's value; false where it runs past `end`. */
  const skipValue = (wire: number, end: number): boolean => {
    if (wire === WIRE_VARINT) return varint(end) >= 0;
    if (wire === WIRE_FIXED64) pos += 8;
    else if (wire === WIRE_FIXED32) pos += 4;
    else if (wire === WIRE_BYTES) {
      const len = varint(end);
      if (len < 0) return false;
      pos += len;
    } else return false;
    return pos <= end;
  };
  const end = buf.length;
  while (pos < end) {
    const tag = varint(end);
    if (tag < 0) return null;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === WIRE_BYTES && field === PROFILE.SAMPLE) {
      const len = varint(end);
      const sEnd = pos + len;
      if (len < 0 || sEnd > end) return null;
      n.samples++;
      while (pos < sEnd) {
        const t = varint(sEnd);
        if (t < 0) return null;
        const f = Math.floor(t / 8);
        const w = t % 8;
        if (f === SAMPLE.LOCATION_ID && w === WIRE_BYTES) {
          const l = varint(sEnd);
          if (l < 0) return null;
          n.locIds += l;
          pos += l;
        } else {
          if (f === SAMPLE.LOCATION_ID) n.locIds++;
          else if (f === SAMPLE.LABEL) n.labels++;
          if (!skipValue(w, sEnd)) return null;
        }
      }
      if (pos !== sEnd) return null;
      continue;
    }
    if (wire === WIRE_BYTES && field === PROFILE.SAMPLE_TYPE) n.sampleTypes++;
    else if (wire === WIRE_BYTES && field === PROFILE.STRING_TABLE) n.strings++;
    if (!skipValue(wire, end)) return null;
  }
  return n;
}

function wireCheck(wire: number, expected: number, field: string): void {
  if (wire !== expected) throw new DecodeError('malformed', `field ${field} has wire type ${wire}, expected ${expected}`);
}

function skip(r: Reader, wire: number): void {
  switch (wire) {
    case WIRE_VARINT:
      readUint64(r);
      return;
    case WIRE_FIXED64:
      r.skip(8);
      return;
    case WIRE_BYTES:
      r.skip(r.uint32());
      return;
    case WIRE_FIXED32:
      r.skip(4);
      return;
    default:
      throw new DecodeError('malformed', `unknown wire type ${wire}`);
  }
}

/** Runs `each` once per element of a repeated scalar field, packed or not. */
function repeated(r: Reader, wire: number, each: () => void): void {
  if (wire === WIRE_BYTES) {
    const end = r.uint32() + r.pos;
    if (end > r.len) throw new DecodeError('malformed', 'packed field runs past the end of its message');
    const outerLen = r.len;
    r.len = end;
    while (r.pos < end) each();
    r.len = outerLen;
  } else if (wire === WIRE_VARINT) {
    each();
  } else {
    throw new DecodeError('malformed', `repeated varint field has wire type ${wire}`);
  }
}

/** Narrows the reader to one embedded message and restores it afterwards. */
/**
 * enter/leave: `embedded` without a callback, for the per-sample and per-label messages, where a
 * closure each was measurable garbage. enter returns the outer limit for leave to restore.
 */
function enter(r: Reader, wire: number, field: string): number {
  wireCheck(wire, WIRE_BYTES, field);
  const len = r.uint32();
  const end = r.pos + len;
  if (end > r.len) throw new DecodeError('malformed', `${field} message runs past the end of the data`);
  const outerLen = r.len;
  r.len = end;
  return outerLen;
}

function leave(r: Reader, outerLen: number): void {
  r.pos = r.len;
  r.len = outerLen;
}

function embedded<T>(r: Reader, wire: number, field: string, read: (r: Reader) => T): T {
  const outer = enter(r, wire, field);
  const v = read(r);
  leave(r, outer);
  return v;
}

function readProfile(r: Reader, p: RawProfile): void {
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    switch (field) {
      case PROFILE.SAMPLE_TYPE:
        p.sampleTypes.push(embedded(r, wire, 'sample_type', readValueType));
        break;
      case PROFILE.SAMPLE:
      {
        const outer = enter(r, wire, 'sample');
        readSample(r, p);
        leave(r, outer);
        break;
      }
      case PROFILE.MAPPING:
        p.mappings.push(embedded(r, wire, 'mapping', readMapping));
        break;
      case PROFILE.LOCATION:
        p.locations.push(embedded(r, wire, 'location', readLocation));
        break;
      case PROFILE.FUNCTION:
        p.functions.push(embedded(r, wire, 'function', readFunction));
        break;
      case PROFILE.STRING_TABLE:
        wireCheck(wire, WIRE_BYTES, 'string_table');
        p.strings.push(r);
        break;
      case PROFILE.DROP_FRAMES:
        wireCheck(wire, WIRE_VARINT, 'drop_frames');
        p.dropFrames = readIndex(r);
        break;
      case PROFILE.KEEP_FRAMES:
        wireCheck(wire, WIRE_VARINT, 'keep_frames');
        p.keepFrames = readIndex(r);
        break;
      case PROFILE.TIME_NANOS:
        wireCheck(wire, WIRE_VARINT, 'time_nanos');
        // pprof refuses this too: two time_nanos means two profiles were concatenated.
        if (p.sawTime) throw new DecodeError('malformed', 'concatenated profiles detected (time_nanos seen twice)');
        p.sawTime = true;
        p.timeNanos = readInt64(r);
        break;
      case PROFILE.DURATION_NANOS:
        wireCheck(wire, WIRE_VARINT, 'duration_nanos');
        p.durationNanos = readInt64(r);
        break;
      case PROFILE.PERIOD_TYPE:
        p.periodType = embedded(r, wire, 'period_type', readValueType);
        break;
      case PROFILE.PERIOD:
        wireCheck(wire, WIRE_VARINT, 'period');
        p.period = readInt64(r);
        break;
      case PROFILE.COMMENT:
        repeated(r, wire, () => p.comments.push(readIndex(r)));
        break;
      case PROFILE.DEFAULT_SAMPLE_TYPE:
        wireCheck(wire, WIRE_VARINT, 'default_sample_type');
        p.defaultSampleType = readIndex(r);
        break;
      case PROFILE.DOC_URL:
        wireCheck(wire, WIRE_VARINT, 'doc_url');
        p.docUrl = readIndex(r);
        break;
      default:
        skip(r, wire);
    }
  }
}

function readValueType(r: Reader): [number, number] {
  let type = 0;
  let unit = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    const wire = tag & 7;
    if (tag >>> 3 === VALUE_TYPE.TYPE && wire === WIRE_VARINT) type = readIndex(r);
    else if (tag >>> 3 === VALUE_TYPE.UNIT && wire === WIRE_VARINT) unit = readIndex(r);
    else skip(r, wire);
  }
  return [type, unit];
}

function readSample(r: Reader, p: RawProfile): void {
  const sampleIndex = p.sampleCount++;
  // Limits (lib/model/limits.ts) checked while reading, so an over-limit profile is refused
  // before its samples and label sets are built; lib/normalize/limits.ts checks them for every format.
  if (p.sampleCount > LIMITS.maxSamples) throw overLimit('samples in the profile', p.sampleCount, LIMITS.maxSamples);
  p.sampleLocStart.push(p.locIds.length);
  const values = p.values;
  const valuesBefore = values.length;
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === SAMPLE.LOCATION_ID || field === SAMPLE.VALUE) {
      // The hot loop of the whole decoder: no closures, 1-2 byte varints read inline.
      const ids = field === SAMPLE.LOCATION_ID;
      if (wire === WIRE_BYTES) {
        const end = r.uint32() + r.pos;
        if (end > r.len) throw new DecodeError('malformed', 'packed field runs past the end of its message');
        const outerLen = r.len;
        r.len = end;
        if (ids) while (r.pos < end) readLocationId(r, p);
        else while (r.pos < end) readValue(r, p);
        r.len = outerLen;
      } else if (wire === WIRE_VARINT) {
        if (ids) readLocationId(r, p);
        else readValue(r, p);
      }
      else throw new DecodeError('malformed', `repeated varint field has wire type ${wire}`);
    } else if (field === SAMPLE.LABEL) {
      wireCheck(wire, WIRE_BYTES, 'label');
      const at = r.pos;
      const end = r.uint32() + r.pos;
      if (end > r.len) throw new DecodeError('malformed', 'label message runs past the end of the data');
      r.pos = end;
      p.labelPos.push(at);
      p.labelOwner.push(sampleIndex);
    } else skip(r, wire);
  }
  const locs = p.locIds.length - p.sampleLocStart.data[sampleIndex];
  // Every location is at least one frame.
  if (locs > LIMITS.maxFramesPerStack) throw overLimit(`frames in the stack of sample ${sampleIndex + 1}`, locs, LIMITS.maxFramesPerStack);
  // sample_type may come later on the wire, so only consistency is checked here and the
  // count itself in resolve().
  const n = values.length - valuesBefore;
  if (p.valuesPerSample === -1) p.valuesPerSample = n;
  else if (n !== p.valuesPerSample) {
    throw new DecodeError('malformed', `sample ${sampleIndex} has ${n} values, earlier samples have ${p.valuesPerSample}`);
  }
}

/** One location id (uint64) of a sample; 1-2 byte varints (ids below 16384) read inline. */
function readLocationId(r: Reader, p: RawProfile): void {
  const buf = r.buf;
  const pos = r.pos;
  const b0 = buf[pos];
  if (pos < r.len && b0 < 0x80) {
    r.pos = pos + 1;
    p.locIds.push(b0);
    return;
  }
  if (pos + 1 < r.len && buf[pos + 1] < 0x80) {
    r.pos = pos + 2;
    p.locIds.push((b0 & 0x7f) | (buf[pos + 1] << 7));
    return;
  }
  const id = readUint64(r);
  if (typeof id === 'number' && id < BIG_ID) p.locIds.push(id);
  else {
    p.bigLocIds.set(p.locIds.length, id);
    p.locIds.push(BIG_ID);
  }
}

/** One value (int64) of a sample. */
function readValue(r: Reader, p: RawProfile): void {
  const buf = r.buf;
  const pos = r.pos;
  const b0 = buf[pos];
  if (pos < r.len && b0 < 0x80) {
    r.pos = pos + 1;
    p.values.push(b0);
    return;
  }
  const v = readInt64(r);
  if (typeof v === 'number') p.values.push(v);
  else {
    p.bigValues.set(p.values.length, v);
    p.values.push(BIG);
  }
}

/** FNV-1a step over a number's low and high 32 bits. */
function mix(h: number, v: number): number {
  h = Math.imul(h ^ (v | 0), 16777619);
  return Math.imul(h ^ ((v / 4294967296) | 0), 16777619);
}

/** One label's fields, read in resolve() from its wire position (RawProfile.labelPos). */
interface RawLabel {
  key: number;
  str: number;
  num: Int64;
  numUnit: number;
}

/**
 * The common label (its length, tags and values in one byte each or small varints) read straight
 * from the bytes into out[o..o+3]; false for anything else (long, negative or big values, other
 * fields, malformed), which readLabelAt then reads and judges.
 */
function labelFieldsFast(buf: Uint8Array, at: number, out: Float64Array, o: number): boolean {
  const len = buf[at];
  let q = at + 1;
  const end = q + len;
  if (len >= 0x80 || end > buf.length) return false;
  out[o] = 0;
  out[o + 1] = 0;
  out[o + 2] = 0;
  out[o + 3] = 0;
  while (q < end) {
    const tag = buf[q++];
    // Fields 1-4 as varints: key, str, num, num_unit.
    if ((tag & 7) !== 0 || tag < 8 || tag > 0x20) return false;
    let v = 0;
    let mul = 1;
    let b = 0x80;
    for (let i = 0; i < 4 && b >= 0x80; i++) {
      if (q >= end) return false;
      b = buf[q++];
      v += (b & 0x7f) * mul;
      mul *= 128;
    }
    // Four bytes at most: below 2^28, a valid index and an exact num.
    if (b >= 0x80) return false;
    out[o + (tag >> 3) - 1] = v;
  }
  return true;
}

function readLabelAt(r: Reader, at: number, l: RawLabel): void {
  r.pos = at;
  const outer = enter(r, WIRE_BYTES, 'label');
  l.key = 0;
  l.str = 0;
  l.num = 0;
  l.numUnit = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    const wire = tag & 7;
    switch (tag >>> 3) {
      case LABEL.KEY:
        wireCheck(wire, WIRE_VARINT, 'label.key');
        l.key = readIndex(r);
        break;
      case LABEL.STR:
        wireCheck(wire, WIRE_VARINT, 'label.str');
        l.str = readIndex(r);
        break;
      case LABEL.NUM:
        wireCheck(wire, WIRE_VARINT, 'label.num');
        l.num = readInt64(r);
        break;
      case LABEL.NUM_UNIT:
        wireCheck(wire, WIRE_VARINT, 'label.num_unit');
        l.numUnit = readIndex(r);
        break;
      default:
        skip(r, wire);
    }
  }
  leave(r, outer);
}

function readMapping(r: Reader): RawMapping {
  const m: RawMapping = { id: 0, memoryStart: 0, memoryLimit: 0, fileOffset: 0, filename: 0, buildId: 0, flags: [false, false, false, false] };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const wire = tag & 7;
    const field = tag >>> 3;
    if (wire !== WIRE_VARINT) {
      skip(r, wire);
      continue;
    }
    switch (field) {
      case MAPPING.ID:
        m.id = readUint64(r);
        break;
      case MAPPING.MEMORY_START:
        m.memoryStart = readUint64(r);
        break;
      case MAPPING.MEMORY_LIMIT:
        m.memoryLimit = readUint64(r);
        break;
      case MAPPING.FILE_OFFSET:
        m.fileOffset = readUint64(r);
        break;
      case MAPPING.FILENAME:
        m.filename = readIndex(r);
        break;
      case MAPPING.BUILD_ID:
        m.buildId = readIndex(r);
        break;
      case MAPPING.HAS_FUNCTIONS:
      case MAPPING.HAS_FILENAMES:
      case MAPPING.HAS_LINE_NUMBERS:
      case MAPPING.HAS_INLINE_FRAMES:
        m.flags[field - MAPPING.HAS_FUNCTIONS] = readUint64(r) !== 0;
        break;
      default:
        readUint64(r);
    }
  }
  return m;
}

function readLocation(r: Reader): RawLocation {
  const loc: RawLocation = { id: 0, mapping: 0, address: 0, lines: [], isFolded: false };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const wire = tag & 7;
    switch (tag >>> 3) {
      case LOCATION.ID:
        wireCheck(wire, WIRE_VARINT, 'location.id');
        loc.id = readUint64(r);
        break;
      case LOCATION.MAPPING_ID:
        wireCheck(wire, WIRE_VARINT, 'location.mapping_id');
        loc.mapping = readUint64(r);
        break;
      case LOCATION.ADDRESS:
        wireCheck(wire, WIRE_VARINT, 'location.address');
        loc.address = readUint64(r);
        break;
      case LOCATION.LINE:
        loc.lines.push(embedded(r, wire, 'line', readLine));
        break;
      case LOCATION.IS_FOLDED:
        wireCheck(wire, WIRE_VARINT, 'location.is_folded');
        loc.isFolded = readUint64(r) !== 0;
        break;
      default:
        skip(r, wire);
    }
  }
  return loc;
}

function readLine(r: Reader): RawLine {
  const l: RawLine = { fn: 0, line: 0, column: 0 };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const wire = tag & 7;
    const field = tag >>> 3;
    if (wire !== WIRE_VARINT) skip(r, wire);
    else if (field === LINE.FUNCTION_ID) l.fn = readUint64(r);
    else if (field === LINE.LINE) l.line = Number(readInt64(r));
    else if (field === LINE.COLUMN) l.column = Number(readInt64(r));
    else readUint64(r);
  }
  return l;
}

function readFunction(r: Reader): RawFunction {
  const f: RawFunction = { id: 0, name: 0, systemName: 0, filename: 0, startLine: 0 };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const wire = tag & 7;
    const field = tag >>> 3;
    if (wire !== WIRE_VARINT) skip(r, wire);
    else if (field === FUNCTION.ID) f.id = readUint64(r);
    else if (field === FUNCTION.NAME) f.name = readIndex(r);
    else if (field === FUNCTION.SYSTEM_NAME) f.systemName = readIndex(r);
    else if (field === FUNCTION.FILENAME) f.filename = readIndex(r);
    else if (field === FUNCTION.START_LINE) f.startLine = Number(readInt64(r));
    else readUint64(r);
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Resolution: strings, ids and validation (pprof's postDecode + CheckValid).

function resolve(p: RawProfile, buf: Buffer): Profile {
  const strings = p.strings;
  if (strings.length === 0 || strings.get(buf, 0) !== '') {
    throw new DecodeError('malformed', "string_table[0] must be ''");
  }
  const str = (i: number, what: string): string => {
    if (i >= strings.length) throw new DecodeError('malformed', `${what}: string index ${i} out of range (table has ${strings.length})`);
    return strings.get(buf, i);
  };
  const vt = ([t, u]: [number, number], what: string): ValueType => ({ type: str(t, what), unit: str(u, what) });

  const sampleTypes = p.sampleTypes.map((x) => vt(x, 'sample_type'));
  const nTypes = sampleTypes.length;
  if (p.sampleCount > 0 && nTypes === 0) throw new DecodeError('malformed', 'samples present but no sample_type');
  if (p.values.length !== p.sampleCount * nTypes) {
    // Find the first offending sample for a useful message.
    throw new DecodeError('malformed', `sample value count does not match the ${nTypes} sample types`);
  }

  const mappings: Mapping[] = [];
  const mappingIndex = new IdIndex(p.mappings, 'mapping');
  for (const m of p.mappings) {
    mappings.push({
      id: m.id,
      memoryStart: m.memoryStart,
      memoryLimit: m.memoryLimit,
      fileOffset: m.fileOffset,
      filename: str(m.filename, 'mapping.filename'),
      buildId: str(m.buildId, 'mapping.build_id'),
      hasFunctions: m.flags[0],
      hasFilenames: m.flags[1],
      hasLineNumbers: m.flags[2],
      hasInlineFrames: m.flags[3],
    });
  }

  const functions: Func[] = [];
  const functionIndex = new IdIndex(p.functions, 'function');
  for (const f of p.functions) {
    functions.push({
      id: f.id,
      name: str(f.name, 'function.name'),
      systemName: str(f.systemName, 'function.system_name'),
      filename: str(f.filename, 'function.filename'),
      startLine: f.startLine,
    });
  }

  const locationIndex = new IdIndex(p.locations, 'location');
  for (const l of p.locations) {
    const mappingId = l.mapping;
    if (mappingId === 0) l.mapping = -1;
    else {
      const mi = mappingIndex.get(mappingId);
      if (mi === undefined) throw new DecodeError('malformed', `location ${l.id} refers to unknown mapping ${mappingId}`);
      l.mapping = mi;
    }
    for (const ln of l.lines) {
      const fi = ln.fn === 0 ? undefined : functionIndex.get(ln.fn);
      if (fi === undefined) throw new DecodeError('malformed', `location ${l.id} has a line with unknown function ${ln.fn}`);
      ln.fn = fi;
    }
  }
  const locations = p.locations as Location[];

  // Samples: location ids -> indices.
  // In place: the id array becomes the index array, and the sample offsets gain their end.
  const locIds = p.locIds;
  if (p.locations.length > 0xffff) locIds.widen(); // indices must fit where the ids were
  const denseLoc = locationIndex.dense;
  const ids = locIds.data;
  for (let i = 0; i < locIds.length; i++) {
    const raw = ids[i];
    const idx = raw < denseLoc.length ? denseLoc[raw] : locationIndex.get(raw === BIG_ID ? p.bigLocIds.get(i)! : raw);
    if (idx === undefined || idx < 0) throw new DecodeError('malformed', `sample refers to unknown location id ${raw === BIG_ID ? p.bigLocIds.get(i) : raw}`);
    ids[i] = idx;
  }
  const stack = ids.subarray(0, locIds.length);
  p.sampleLocStart.push(locIds.length);
  const stackStart = p.sampleLocStart.data.subarray(0, p.sampleCount + 1);

  let values: SampleValues;
  if (p.bigValues.size === 0) {
    // A view, not a copy: the array was allocated at its final size (wireSizes).
    values = { exact: 'number', data: p.values.data.subarray(0, p.values.length) };
  } else {
    const data = new BigInt64Array(p.values.length);
    for (let i = 0; i < p.values.length; i++) {
      const v = p.values.data[i];
      data[i] = v === v ? BigInt(v) : p.bigValues.get(i)!;
    }
    values = { exact: 'bigint', data };
  }

  const { labelSet, labelSets } = internLabelSets(p, buf, str);

  const defaultName = p.defaultSampleType !== 0 ? str(p.defaultSampleType, 'default_sample_type') : '';
  const defaultSampleType =
    defaultName && sampleTypes.some((t) => t.type === defaultName) ? defaultName : (sampleTypes[nTypes - 1]?.type ?? '');

  return {
    format: 'pprof',
    sampleTypes,
    defaultSampleType,
    samples: { count: p.sampleCount, stackStart, stack, values, labelSet, labelSets },
    mappings,
    locations,
    functions,
    dropFrames: str(p.dropFrames, 'drop_frames'),
    keepFrames: str(p.keepFrames, 'keep_frames'),
    timeNanos: p.timeNanos,
    durationNanos: p.durationNanos,
    periodType: p.periodType ? vt(p.periodType, 'period_type') : null,
    period: p.period,
    comments: p.comments.map((c) => str(c, 'comment')),
    docUrl: str(p.docUrl, 'doc_url'),
  };
}

/** Each sample's label set, deduplicated (its own function: V8 optimizes the hot loop apart). */
function internLabelSets(p: RawProfile, buf: Buffer, str: (i: number, what: string) => string): { labelSet: Uint32Array; labelSets: Label[][] } {
  // Labels deduplicated so rows can share them, in two passes. The first reads each
  // sample's labels from the wire once and finds the distinct sets on their raw fields (interned by
  // a numeric hash, confirmed field by field against the fields kept for each distinct set: a
  // string key per sample was the largest cost of label-heavy profiles), refusing a profile over
  // the limit before any set is built; the second builds each distinct set once.
  const nLabels = p.labelOwner.length;
  const owner = p.labelOwner.data;
  const pos = p.labelPos.data;
  const r = Reader.create(buf);
  // Per sample: 0 = no labels, else 1 + its distinct raw set.
  const labelSet = new Uint32Array(p.sampleCount);
  // Per distinct raw set: where its fields start in setFields (four a label: key, str, num,
  // num_unit; BIG with the exact num in bigNums), its label count, the next set with the same hash.
  const setStart = new GrowableU32(1024);
  const setLen = new GrowableU32(1024);
  const setNext = new GrowableU32(1024);
  const setFields = new GrowableF64(4096);
  const bigNums = new Map<number, bigint>();
  const NONE = 0xffffffff;
  const byHash = new Map<number, number>();
  // The current sample's labels: four fields each, BIG for a num in runBig.
  let runF = new Float64Array(64);
  const runBig: bigint[] = [];
  const slow: RawLabel = { key: 0, str: 0, num: 0, numUnit: 0 };
  const sameAsRun = (e: number, n: number): boolean => {
    if (setLen.data[e] !== n) return false;
    const f = setFields.data;
    for (let k = 0, j = setStart.data[e]; k < n * 4; k++, j++) {
      if (runF[k] !== f[j]) {
        // NaN != NaN: two big nums, compared exactly.
        if ((k & 3) !== 2 || runF[k] === runF[k] || f[j] === f[j] || runBig[k >> 2] !== bigNums.get(j)) return false;
      }
    }
    return true;
  };
  let nonEmpty = 0;
  for (let first = 0; first < nLabels; ) {
    // The labels of one sample are consecutive (they are read with it).
    let last = first;
    while (last + 1 < nLabels && owner[last + 1] === owner[first]) last++;
    const n = last - first + 1;
    let h = 0x811c9dc5 ^ (n - 1);
    let kept = false;
    if (runF.length < n * 4) runF = new Float64Array(n * 8);
    for (let k = 0; k < n; k++) {
      const o = k * 4;
      if (!labelFieldsFast(buf, pos[first + k], runF, o)) {
        readLabelAt(r, pos[first + k], slow);
        runF[o] = slow.key;
        runF[o + 1] = slow.str;
        runF[o + 2] = typeof slow.num === 'number' ? slow.num : BIG;
        runF[o + 3] = slow.numUnit;
        if (typeof slow.num !== 'number') runBig[k] = slow.num;
      }
      // pprof drops a label with neither a string nor a number nor a unit.
      kept ||= runF[o + 1] !== 0 || runF[o + 2] !== 0 || runF[o + 3] !== 0;
      const num = runF[o + 2];
      h = mix(mix(mix(mix(h, runF[o]), runF[o + 1]), num === num ? num : Number(BigInt.asIntN(32, runBig[k]))), runF[o + 3]);
    }
    const head = byHash.get(h);
    let e = head;
    while (e !== undefined && !sameAsRun(e, n)) e = setNext.data[e] === NONE ? undefined : setNext.data[e];
    if (e === undefined) {
      if (kept && ++nonEmpty > LIMITS.maxLabelSets) throw overLimit('distinct sample label sets', nonEmpty, LIMITS.maxLabelSets);
      e = setStart.length;
      setStart.push(setFields.length);
      setLen.push(n);
      setNext.push(head ?? NONE);
      byHash.set(h, e);
      for (let k = 0; k < n * 4; k++) {
        if (runF[k] !== runF[k]) bigNums.set(setFields.length, runBig[k >> 2]);
        setFields.push(runF[k]);
      }
    }
    labelSet[owner[first]] = e + 1;
    first = last + 1;
  }
  byHash.clear();
  const labelSets: Label[][] = [[]];
  const setOf = new Uint32Array(setStart.length + 1);
  const f = setFields.data;
  for (let e = 0; e < setStart.length; e++) {
    const labels: Label[] = [];
    for (let k = 0, j = setStart.data[e]; k < setLen.data[e]; k++, j += 4) {
      const key = f[j];
      const sv = f[j + 1];
      const num: Int64 = f[j + 2] === f[j + 2] ? f[j + 2] : bigNums.get(j + 2)!;
      const numUnit = f[j + 3];
      if (sv !== 0) labels.push({ key: str(key, 'label.key'), str: str(sv, 'label.str') });
      else if (num !== 0 || numUnit !== 0) labels.push({ key: str(key, 'label.key'), num, numUnit: str(numUnit, 'label.num_unit') });
    }
    setOf[e + 1] = labels.length === 0 ? 0 : labelSets.push(labels) - 1;
  }
  for (let i = 0; i < labelSet.length; i++) labelSet[i] = setOf[labelSet[i]];
  return { labelSet, labelSets };
}

/**
 * The string table as the wire positions of its strings, each decoded when first asked for: a
 * profile's strings are mostly label values and names that only a few rows need, and a JS string
 * each (~40 bytes for a short one) was the largest part of a 1M-label profile's decode (#13).
 * Decoding is protobufjs's (BufferReader.string): UTF-8 from the buffer; a length past the end
 * is the same RangeError.
 */
class StringTable {
  private readonly bounds: GrowableU32;
  /** Decoded strings by index, made at the first get (a slot a string, like the bounds). */
  private cache: (string | undefined)[] | null = null;
  constructor(capacity: number) {
    this.bounds = new GrowableU32(Math.max(16, capacity * 2));
  }
  get length(): number {
    return this.bounds.length >> 1;
  }
  /** Records the string field at the reader and moves past it. */
  push(r: Reader): void {
    const len = r.uint32();
    const start = r.pos;
    if (start + len > r.len) throw new RangeError(`index out of range: ${start} + ${len} > ${r.len}`);
    r.pos = start + len;
    this.bounds.push(start);
    this.bounds.push(r.pos);
  }
  get(buf: Buffer, i: number): string {
    const cache = (this.cache ??= new Array<string | undefined>(this.length).fill(undefined));
    let s = cache[i];
    if (s === undefined) {
      s = (buf as Buffer & { utf8Slice(start: number, end: number): string }).utf8Slice(this.bounds.data[i * 2], this.bounds.data[i * 2 + 1]);
      cache[i] = s;
    }
    return s;
  }
}

/**
 * id -> position. Producers such as Go number ids 1..n, so ids below 2n+1 live in a flat array
 * (a Map of every id was a measurable share of decode time); other ids go to a Map.
 */
class IdIndex {
  readonly dense: Int32Array;
  private readonly sparse = new Map<Int64, number>();
  constructor(items: readonly { id: Int64 }[], what: string) {
    this.dense = new Int32Array(Math.min(items.length * 2 + 1, 1 << 24)).fill(-1);
    for (let i = 0; i < items.length; i++) {
      const id = items[i].id;
      if (id === 0) throw new DecodeError('malformed', `${what} id 0 is reserved`);
      if (this.get(id) !== undefined) throw new DecodeError('malformed', `duplicate ${what} id ${id}`);
      if (typeof id === 'number' && id < this.dense.length) this.dense[id] = i;
      else this.sparse.set(id, i);
    }
  }
  get(id: Int64): number | undefined {
    if (typeof id === 'number' && id < this.dense.length) {
      const i = this.dense[id];
      return i < 0 ? undefined : i;
    }
    return this.sparse.get(id);
  }
}

/**
 * The protobuf form. Protobuf has no magic number, so this format is the registry's last resort:
 * its sniff accepts anything the formats before it did not claim.
 */
export const pprofFormat: InputFormat<Extract<Decoded, { input: 'profile' }>> = {
  name: 'pprof',
  input: 'profile',
  sniff: () => true,
  decode(raw) {
    if (raw[0] === 0) {
      // A protobuf never starts with field 0; this is the pre-Go-1.8 / gperftools binary format.
      throw new DecodeError('unsupported', 'legacy binary CPU profile (Go <= 1.7, gperftools or Java) is not supported; capture with Go >= 1.8');
    }
    try {
      return { input: 'profile', profile: decodePprofMessage(raw) };
    } catch (e) {
      if (e instanceof DecodeError && looksLikeText(raw)) {
        throw new DecodeError('unsupported', 'plain text that is not a Go profile (no pprof text header recognized)');
      }
      throw e;
    }
  },
};

function looksLikeText(b: Uint8Array): boolean {
  const n = Math.min(b.length, 512);
  let printable = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i];
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127) || c >= 0xc0) printable++;
  }
  return printable >= n * 0.95;
}
