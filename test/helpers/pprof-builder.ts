import { Writer } from 'protobufjs/minimal';
import { FUNCTION, LABEL, LINE, LOCATION, MAPPING, PROFILE, SAMPLE, VALUE_TYPE, WIRE } from '../../lib/model/pprof-wire';
import { mulberry32 } from '../../lib/stats/random';

export { mulberry32 };

// Hand-builds perftools.profiles.Profile bytes (lib/model/profile.proto, field numbers from
// lib/model/pprof-wire.ts) for decoder
// tests. Deliberately low level: every string reference is a raw string-table index and every
// id is whatever the test says, so dangling ids, out-of-range indices, id 0, duplicates and
// values beyond 2^53 (pass a bigint) can all be expressed. Fields left undefined are not
// written; fields set (even to 0) are written, so "explicit zero" is expressible too.

/** An int64/uint64 field value. Numbers must be safe integers; use bigint beyond 2^53. */
export type I64 = number | bigint;

export interface PValueType {
  type?: I64;
  unit?: I64;
}

export interface PLabel {
  key?: I64;
  str?: I64;
  num?: I64;
  numUnit?: I64;
}

export interface PSample {
  locationIds?: I64[];
  values?: I64[];
  labels?: PLabel[];
}

export interface PMapping {
  id?: I64;
  memoryStart?: I64;
  memoryLimit?: I64;
  fileOffset?: I64;
  filename?: I64;
  buildId?: I64;
  hasFunctions?: boolean;
  hasFilenames?: boolean;
  hasLineNumbers?: boolean;
  hasInlineFrames?: boolean;
}

export interface PLine {
  functionId?: I64;
  line?: I64;
  column?: I64;
}

export interface PLocation {
  id?: I64;
  mappingId?: I64;
  address?: I64;
  /** line[0] is the innermost inlined frame, the last one the real function. */
  lines?: PLine[];
  isFolded?: boolean;
}

export interface PFunction {
  id?: I64;
  name?: I64;
  systemName?: I64;
  filename?: I64;
  startLine?: I64;
}

export interface PProfile {
  sampleTypes?: PValueType[];
  samples?: PSample[];
  mappings?: PMapping[];
  locations?: PLocation[];
  functions?: PFunction[];
  stringTable?: string[];
  dropFrames?: I64;
  keepFrames?: I64;
  /** Several values write field 9 several times (what concatenated profiles look like). */
  timeNanos?: I64 | I64[];
  durationNanos?: I64;
  periodType?: PValueType;
  period?: I64;
  comments?: I64[];
  defaultSampleType?: I64;
  docUrl?: I64;
  /** Raw bytes appended after all fields (hand-made fields, garbage, ...). */
  trailer?: Uint8Array;
}

/** Top-level Profile fields, named as in profile.proto. */
export type ProfileField =
  | 'sample_type'
  | 'sample'
  | 'mapping'
  | 'location'
  | 'function'
  | 'string_table'
  | 'drop_frames'
  | 'keep_frames'
  | 'time_nanos'
  | 'duration_nanos'
  | 'period_type'
  | 'period'
  | 'comment'
  | 'default_sample_type'
  | 'doc_url';

export const SCHEMA_ORDER: readonly ProfileField[] = [
  'sample_type',
  'sample',
  'mapping',
  'location',
  'function',
  'string_table',
  'drop_frames',
  'keep_frames',
  'time_nanos',
  'duration_nanos',
  'period_type',
  'period',
  'comment',
  'default_sample_type',
  'doc_url',
];

export interface EncodeOptions {
  /** Write repeated scalars (location_id, value, comment) packed (default) or one record each. */
  packed?: boolean;
  /**
   * Order of the top-level fields. Fields not listed follow in schema order. Records of one
   * repeated field always stay in their given order relative to each other.
   */
  order?: readonly ProfileField[];
  /**
   * Instead of `order`: interleave all top-level records randomly (seeded), keeping each repeated
   * field's own records in order, the way Go interleaves locations with samples.
   */
  shuffleSeed?: number;
}

// Wire types.
export const VARINT = WIRE.VARINT;
export const FIXED64 = WIRE.FIXED64;
export const BYTES = WIRE.BYTES;
export const FIXED32 = WIRE.FIXED32;

/** The varint bytes of an int64/uint64 value; negatives are two's complement (10 bytes). */
export function varint(v: I64): Uint8Array {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`not a safe integer: ${v}; pass a bigint`);
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return Uint8Array.from(out);
}

/** The tag bytes of a field. */
export function tag(field: number, wire: number): Uint8Array {
  return varint(field * 8 + wire);
}

/** A whole varint field: tag + value. */
export function varintField(field: number, v: I64): Uint8Array {
  return concat(tag(field, VARINT), varint(v));
}

/** A whole length-delimited field: tag + length + payload. */
export function bytesField(field: number, payload: Uint8Array): Uint8Array {
  return concat(tag(field, BYTES), varint(payload.length), payload);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatList(parts);
}

/** concat() for many parts (a spread of 100k+ arguments overflows the stack). */
export function concatList(parts: readonly Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Small message writer on top of protobufjs's Writer, with exact 64-bit varints. */
class Msg {
  readonly w = Writer.create();
  int(field: number, v: I64 | boolean | undefined): this {
    if (v === undefined) return this;
    this.w.raw(tag(field, VARINT));
    this.w.raw(varint(typeof v === 'boolean' ? (v ? 1 : 0) : v));
    return this;
  }
  ints(field: number, vs: readonly I64[] | undefined, packed: boolean): this {
    if (vs === undefined || vs.length === 0) return this;
    if (packed) {
      this.w.raw(tag(field, BYTES));
      this.w.raw(varint(vs.reduce<number>((n, v) => n + varint(v).length, 0)));
      for (const v of vs) this.w.raw(varint(v));
    } else {
      for (const v of vs) this.int(field, v);
    }
    return this;
  }
  msg(field: number, body: Uint8Array | undefined): this {
    if (body === undefined) return this;
    this.w.raw(bytesField(field, body));
    return this;
  }
  str(field: number, s: string): this {
    this.w.uint32(field * 8 + BYTES).string(s);
    return this;
  }
  finish(): Uint8Array {
    return this.w.finish();
  }
}

function valueType(v: PValueType | undefined): Uint8Array | undefined {
  if (v === undefined) return undefined;
  return new Msg().int(VALUE_TYPE.TYPE, v.type).int(VALUE_TYPE.UNIT, v.unit).finish();
}

function label(l: PLabel): Uint8Array {
  return new Msg().int(LABEL.KEY, l.key).int(LABEL.STR, l.str).int(LABEL.NUM, l.num).int(LABEL.NUM_UNIT, l.numUnit).finish();
}

function sample(s: PSample, packed: boolean): Uint8Array {
  const m = new Msg().ints(SAMPLE.LOCATION_ID, s.locationIds, packed).ints(SAMPLE.VALUE, s.values, packed);
  for (const l of s.labels ?? []) m.msg(SAMPLE.LABEL, label(l));
  return m.finish();
}

function mapping(m: PMapping): Uint8Array {
  return new Msg()
    .int(MAPPING.ID, m.id)
    .int(MAPPING.MEMORY_START, m.memoryStart)
    .int(MAPPING.MEMORY_LIMIT, m.memoryLimit)
    .int(MAPPING.FILE_OFFSET, m.fileOffset)
    .int(MAPPING.FILENAME, m.filename)
    .int(MAPPING.BUILD_ID, m.buildId)
    .int(MAPPING.HAS_FUNCTIONS, m.hasFunctions)
    .int(MAPPING.HAS_FILENAMES, m.hasFilenames)
    .int(MAPPING.HAS_LINE_NUMBERS, m.hasLineNumbers)
    .int(MAPPING.HAS_INLINE_FRAMES, m.hasInlineFrames)
    .finish();
}

function line(l: PLine): Uint8Array {
  return new Msg().int(LINE.FUNCTION_ID, l.functionId).int(LINE.LINE, l.line).int(LINE.COLUMN, l.column).finish();
}

function location(l: PLocation): Uint8Array {
  const m = new Msg().int(LOCATION.ID, l.id).int(LOCATION.MAPPING_ID, l.mappingId).int(LOCATION.ADDRESS, l.address);
  for (const ln of l.lines ?? []) m.msg(LOCATION.LINE, line(ln));
  return m.int(LOCATION.IS_FOLDED, l.isFolded).finish();
}

function func(f: PFunction): Uint8Array {
  return new Msg().int(FUNCTION.ID, f.id).int(FUNCTION.NAME, f.name).int(FUNCTION.SYSTEM_NAME, f.systemName).int(FUNCTION.FILENAME, f.filename).int(FUNCTION.START_LINE, f.startLine).finish();
}

/** Every top-level record of the profile, grouped by field, each group in its given order. */
function records(p: PProfile, packed: boolean): Map<ProfileField, Uint8Array[]> {
  const g = new Map<ProfileField, Uint8Array[]>();
  const add = (f: ProfileField, rec: Uint8Array) => {
    let list = g.get(f);
    if (!list) g.set(f, (list = []));
    list.push(rec);
  };
  const one = (f: ProfileField, n: number, v: I64 | undefined) => {
    if (v !== undefined) add(f, varintField(n, v));
  };
  for (const t of p.sampleTypes ?? []) add('sample_type', bytesField(PROFILE.SAMPLE_TYPE, valueType(t)!));
  for (const s of p.samples ?? []) add('sample', bytesField(PROFILE.SAMPLE, sample(s, packed)));
  for (const m of p.mappings ?? []) add('mapping', bytesField(PROFILE.MAPPING, mapping(m)));
  for (const l of p.locations ?? []) add('location', bytesField(PROFILE.LOCATION, location(l)));
  for (const f of p.functions ?? []) add('function', bytesField(PROFILE.FUNCTION, func(f)));
  for (const s of p.stringTable ?? []) add('string_table', new Msg().str(PROFILE.STRING_TABLE, s).finish());
  one('drop_frames', PROFILE.DROP_FRAMES, p.dropFrames);
  one('keep_frames', PROFILE.KEEP_FRAMES, p.keepFrames);
  const times = p.timeNanos === undefined ? [] : Array.isArray(p.timeNanos) ? p.timeNanos : [p.timeNanos];
  for (const t of times) one('time_nanos', PROFILE.TIME_NANOS, t);
  one('duration_nanos', PROFILE.DURATION_NANOS, p.durationNanos);
  if (p.periodType) add('period_type', bytesField(PROFILE.PERIOD_TYPE, valueType(p.periodType)!));
  one('period', PROFILE.PERIOD, p.period);
  if (p.comments && p.comments.length > 0) add('comment', new Msg().ints(PROFILE.COMMENT, p.comments, packed).finish());
  one('default_sample_type', PROFILE.DEFAULT_SAMPLE_TYPE, p.defaultSampleType);
  one('doc_url', PROFILE.DOC_URL, p.docUrl);
  return g;
}

/** Encodes a profile. The result is raw protobuf (gzip it yourself if needed). */
export function encodeProfile(p: PProfile, opts: EncodeOptions = {}): Uint8Array {
  const groups = records(p, opts.packed ?? true);
  const out: Uint8Array[] = [];
  if (opts.shuffleSeed !== undefined) {
    const rnd = mulberry32(opts.shuffleSeed);
    const queues = [...groups.values()].map((q) => [...q]);
    for (;;) {
      const live = queues.filter((q) => q.length > 0);
      if (live.length === 0) break;
      out.push(live[Math.floor(rnd() * live.length)].shift()!);
    }
  } else {
    const order = [...(opts.order ?? []), ...SCHEMA_ORDER.filter((f) => !(opts.order ?? []).includes(f))];
    for (const f of order) out.push(...(groups.get(f) ?? []));
  }
  if (p.trailer) out.push(p.trailer);
  return concatList(out);
}

/** Interns strings into a string table whose entry 0 is ''. */
export class StringTable {
  readonly strings: string[] = [''];
  private readonly index = new Map<string, number>([['', 0]]);
  id(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

/**
 * A small valid CPU-like profile: functions main.main > main.work > main.leaf (leaf inlined into
 * work), a mapping, labels, and a sample with no locations. Handy as a base to break.
 */
export function sampleProfile(): PProfile {
  const s = new StringTable();
  const fn = (id: number, name: string) => ({ id, name: s.id(name), systemName: s.id(name), filename: s.id('main.go'), startLine: id * 10 });
  return {
    sampleTypes: [
      { type: s.id('samples'), unit: s.id('count') },
      { type: s.id('cpu'), unit: s.id('nanoseconds') },
    ],
    periodType: { type: s.id('cpu'), unit: s.id('nanoseconds') },
    period: 10_000_000,
    timeNanos: 1_700_000_000_000_000_000n,
    durationNanos: 1_500_000_000,
    mappings: [{ id: 1, memoryStart: 0x400000, memoryLimit: 0x800000, filename: s.id('/bin/svc'), buildId: s.id('abc123'), hasFunctions: true }],
    functions: [fn(1, 'main.main'), fn(2, 'main.work'), fn(3, 'main.leaf')],
    locations: [
      { id: 1, mappingId: 1, address: 0x401000, lines: [{ functionId: 1, line: 12 }] },
      { id: 2, mappingId: 1, address: 0x402000, lines: [{ functionId: 3, line: 33 }, { functionId: 2, line: 25 }] },
    ],
    samples: [
      { locationIds: [2, 1], values: [3, 30_000_000], labels: [{ key: s.id('handler'), str: s.id('/api') }] },
      { locationIds: [1], values: [1, 10_000_000] },
      { locationIds: [], values: [2, 20_000_000] },
    ],
    comments: [s.id('built by the test')],
    stringTable: s.strings,
  };
}
