// runtime/metrics snapshots as JSON -> MetricSnapshotRow per metric per snapshot.
//
// Input: one document `{"time": "<RFC 3339>", "metrics": {"<name>": <value>}}`, a JSON array of
// them, or JSON lines (one document per line). A value is a number (or null for a metric the
// runtime reported as unsupported) or a Float64Histogram `{"buckets": [...], "counts": [...]}`.
// JSON cannot hold infinities, so histogram bounds may be the strings "-Inf"/"+Inf" ("Inf",
// "-Infinity", "+Infinity", "Infinity" too) or null as the first (-Inf) or last (+Inf) bound.
//
// Kind rule: the JSON does not carry runtime/metrics' Kind, and a float64 metric can happen to hold
// an integral value (0 cpu-seconds at startup), so the kind is inferred from the unit, which is
// stable across snapshots: runtime/metrics reports time (`seconds`, `cpu-seconds`) as Float64 and
// every other scalar (bytes, objects, gc-cycles, percent, ...) as Uint64. A value in a non-time unit
// that is not a non-negative integer is still reported as float64 rather than rejected.

import type { MetricKind, MetricSnapshotRow, RowStream } from '../../model/gc';
import { DecodeError } from '../errors';
import type { ByteSource, Decoded, InputFormat } from '../format';
import { parseRfc3339Us } from './gctrace';
import { preview } from '../preview';
import { LIMITS, timeRangeProblem } from '../../model/limits';

// runtime/metrics description.go: ^(?P<name>/[^:]+):(?P<unit>[^:*/]+(?:[*/][^:*/]+)*)$
const METRIC_NAME = /^\/[^:]+:([^:*/]+(?:[*/][^:*/]+)*)$/;
const FLOAT_UNITS = new Set(['seconds', 'cpu-seconds']);
const NEG_INF = new Set(['-Inf', '-inf', '-Infinity']);
const POS_INF = new Set(['+Inf', '+inf', 'Inf', 'inf', '+Infinity', 'Infinity']);

export function parseRuntimeMetrics(text: string): MetricSnapshotRow[] {
  const rows: MetricSnapshotRow[] = [];
  textRows(text, (r) => rows.push(r));
  return rows;
}

type Sink = (row: MetricSnapshotRow) => void;

function textRows(text: string, sink: Sink): void {
  const docs = parseDocuments(text);
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `document ${i + 1}` : 'document';
    snapshotRows(doc, where, sink);
  });
}

function bad(message: string): DecodeError {
  return new DecodeError('malformed', `runtime/metrics: ${message}`);
}

function parseDocuments(text: string): unknown[] {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed.length === 0) throw new DecodeError('empty', 'runtime/metrics: empty input');
  let whole: unknown;
  let wholeError: unknown;
  try {
    whole = JSON.parse(trimmed);
  } catch (e) {
    wholeError = e;
  }
  if (wholeError === undefined) return Array.isArray(whole) ? whole : [whole];

  const lines = trimmed.split('\n');
  if (lines.length === 1) throw bad(`not JSON (${errorText(wholeError)})${infinityHint(trimmed)}`);
  const docs: unknown[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line.length === 0) continue;
    try {
      docs.push(JSON.parse(line));
    } catch (e) {
      const what = docs.length === 0 ? 'not JSON or JSON lines' : 'not valid JSON lines';
      throw bad(`${what}: line ${i + 1}: ${errorText(e)}${infinityHint(line)}`);
    }
  }
  return docs;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function infinityHint(s: string): string {
  return /(?<!")[-+]?\b(?:Inf|Infinity|NaN)\b(?!")/.test(s) ? '; write infinities as the strings "-Inf"/"+Inf"' : '';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function snapshotRows(doc: unknown, where: string, sink: Sink): void {
  if (!isObject(doc)) throw bad(`${where}: expected an object {"time": ..., "metrics": {...}}`);
  const timeUs = docTime(doc, where);
  if (doc.metrics === undefined) throw bad(`${where}: missing "metrics"`);
  if (!isObject(doc.metrics)) throw bad(`${where}: "metrics" must be an object of name -> value`);
  for (const [name, value] of Object.entries(doc.metrics)) sink(metricRow(name, value, timeUs, where));
}

/** A document's "time", validated, in epoch microseconds. */
function docTime(doc: Record<string, unknown>, where: string): number {
  if (doc.time === undefined || doc.time === null) throw bad(`${where}: missing "time"`);
  if (typeof doc.time !== 'string') throw bad(`${where}: "time" must be an RFC 3339 string, got ${preview(doc.time)}`);
  const timeUs = parseRfc3339Us(doc.time);
  if (timeUs === null) {
    throw bad(`${where}: "time" ${preview(doc.time)} is not an RFC 3339 timestamp with a zone (e.g. 2024-01-01T00:00:00Z)`);
  }
  const outside = timeRangeProblem(timeUs);
  if (outside) throw new DecodeError('out-of-range', `runtime/metrics: ${where}: "time" ${preview(doc.time)}: ${outside}`);
  return timeUs;
}

/**
 * A row as an instance of a class, not an object literal: V8 tracks each literal's allocation site
 * and, once a young-generation GC finds most of a site's recent objects alive (a chunk of rows
 * being written when it runs), allocates that site's objects in the old generation from then on:
 * every later row then lived on as old-generation garbage until a full GC. Through the ingest
 * Lambda that was 50-60 MB of the 1M-key document's peak in some runs (old space 16 -> 72 MB
 * between full GCs; with V8's --no-allocation-site-pretenuring it stayed at 16 MB, 218 MB peak:
 * docs/performance.md, "Hostile inputs"). Objects made by `new` carry no such site.
 */
class MetricRow implements MetricSnapshotRow {
  constructor(
    public timeUs: number,
    public name: string,
    public unit: string,
    public kind: MetricKind,
    public value: number | null,
    public buckets: number[] | null,
    public counts: number[] | null,
  ) {}
}

function metricRow(name: string, value: unknown, timeUs: number, where: string): MetricSnapshotRow {
  // The length first: a regex over a huge name is work the limit exists to avoid.
  if (name.length > LIMITS.maxNameLength) throw new DecodeError('limit', `runtime/metrics: ${where}: a metric name of ${name.length} characters is over the limit of ${LIMITS.maxNameLength}`);
  const nm = METRIC_NAME.exec(name);
  if (!nm) throw bad(`${where}: ${preview(name)} is not a runtime/metrics name (/path:unit)`);
  const unit = nm[1];
  const at = `${where}: metric ${name}`;
  if (isObject(value)) {
    const { buckets, counts } = histogram(value, at);
    return new MetricRow(timeUs, name, unit, 'histogram', null, buckets, counts);
  }
  const v = scalar(value, at);
  return new MetricRow(timeUs, name, unit, scalarKind(unit, v), v, null, null);
}

function scalarKind(unit: string, v: number | null): MetricKind {
  if (FLOAT_UNITS.has(unit)) return 'float64';
  return v === null || (Number.isInteger(v) && v >= 0) ? 'uint64' : 'float64';
}

function scalar(value: unknown, at: string): number | null {
  if (value === null) return null;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    if (NEG_INF.has(value)) return -Infinity;
    if (POS_INF.has(value)) return Infinity;
    if (value === 'NaN') return NaN;
  }
  throw bad(`${at}: value must be a number, null or {"buckets","counts"}, got ${preview(value)}`);
}

function histogram(value: Record<string, unknown>, at: string): { buckets: number[]; counts: number[] } {
  const rawBuckets = value.buckets;
  const rawCounts = value.counts;
  if (!Array.isArray(rawBuckets) || !Array.isArray(rawCounts)) {
    throw bad(`${at}: a histogram needs "buckets" and "counts" arrays`);
  }
  if (!(rawBuckets.length === rawCounts.length + 1 || (rawBuckets.length === 0 && rawCounts.length === 0))) {
    throw bad(`${at}: bad histogram: ${rawBuckets.length} buckets for ${rawCounts.length} counts (need counts + 1)`);
  }
  const last = rawBuckets.length - 1;
  const buckets = rawBuckets.map((b, i) => {
    if (typeof b === 'number') return b;
    if (b === null && i === 0) return -Infinity;
    if (b === null && i === last) return Infinity;
    if (typeof b === 'string' && NEG_INF.has(b)) return -Infinity;
    if (typeof b === 'string' && POS_INF.has(b)) return Infinity;
    throw bad(`${at}: bucket ${i} is ${preview(b)}; expected a number, "-Inf"/"+Inf", or null as the first/last bound`);
  });
  for (let i = 1; i < buckets.length; i++) {
    if (!(buckets[i] > buckets[i - 1])) {
      throw bad(`${at}: buckets must increase, but bucket ${i} (${buckets[i]}) <= bucket ${i - 1} (${buckets[i - 1]})`);
    }
  }
  const counts = rawCounts.map((c, i) => {
    // Counts are uint64 in Go but BIGINT here, and JSON numbers beyond 2^53 are already rounded.
    if (typeof c === 'number' && Number.isSafeInteger(c) && c >= 0) return c;
    throw bad(`${at}: count ${i} is ${preview(c)}; expected a non-negative integer below 2^53`);
  });
  return { buckets, counts };
}

const SNIFF_CHARS = 64 * 1024;
// `"metrics"` holding an object whose first key is a runtime/metrics name (`/path:unit`).
const METRICS_HEAD = /"metrics"\s*:\s*\{\s*"\/[^":]+:[^":]+"\s*:/;

/** Content detection from the head: its shape, not its validity (the parser reports that). */
export function looksLikeRuntimeMetrics(text: string): boolean {
  const head = text.slice(0, SNIFF_CHARS).replace(/^\uFEFF/, '').trimStart();
  return (head.startsWith('{') || head.startsWith('[')) && METRICS_HEAD.test(head);
}

/**
 * False only when the text cannot start with `{` or `[` after trimming: the first byte that is not
 * ASCII whitespace is ASCII and neither. Checked on the bytes so a binary input (every pprof)
 * is not decoded as UTF-8 for nothing; a non-ASCII byte (a BOM, Unicode whitespace) leaves it to
 * the text.
 */
function mayStartJson(bytes: Uint8Array): boolean {
  for (const b of bytes) {
    if (b === 0x20 || (b >= 0x09 && b <= 0x0d)) continue;
    return b === 0x7b || b === 0x5b || b >= 0x80;
  }
  return true;
}

export const runtimeMetricsFormat: InputFormat<Extract<Decoded, { input: 'runtime-metrics' }>> = {
  name: 'runtime-metrics',
  input: 'runtime-metrics',
  uploadKind: 'metrics',
  sniff: (head) => mayStartJson(head.bytes) && looksLikeRuntimeMetrics(head.text),
  decode(raw) {
    return { input: 'runtime-metrics', snapshots: streamRuntimeMetrics(raw) };
  },
  decodeSource(src) {
    return { input: 'runtime-metrics', snapshots: streamRuntimeMetrics(src) };
  },
};

// Memory bounded by design (#13): the input is read twice and its rows are never all in memory.
// The first pass (at decode time, so every refusal comes before anything is written) validates
// and counts; the second, run by whoever writes the rows, hands them over METRICS_CHUNK_ROWS at a
// time (an input of at most one chunk of rows keeps the first pass's rows and is not read again). Inputs up to LARGE_BYTES are parsed with JSON.parse as a whole (fast, and JSON lines
// errors name their line). Larger ones are never one string or one parsed object (a 1M-key
// document was 1.3 GB): a byte scanner finds each document, and inside a document over
// LARGE_BYTES each member of "metrics", which are parsed with JSON.parse a group of members at a
// time. Hand-written because the streaming JSON parsers on npm (@streamparser/json measured)
// parse ~3 MB/s in JS and kept the parsed values on the parent object; the scanner only finds
// value boundaries (strings and bracket depth) and leaves parsing and validation to JSON.parse.

/**
 * Rows per chunk of the second pass: 4,096 as for gctrace (GCTRACE_CHUNK_ROWS): a chunk that lives
 * across the writer's awaits is promoted to V8's old generation, which then grows with dead chunks
 * (1M metrics: V8 heap up to ~120 MB at 16,384 rows a chunk, ~85 MB at 4,096).
 */
export const METRICS_CHUNK_ROWS = 4096;
const LARGE_BYTES = 8 * 1024 * 1024;
/** Members of a huge "metrics" object parsed per JSON.parse call. */
const MEMBERS_PER_PARSE = 4096;
/**
 * Most bytes of members parsed per JSON.parse call (one member may take it over). Below V8's
 * JSON.parse pretenuring threshold (100 KiB of text: the parse's objects and strings are then
 * allocated in the old generation, where they lived on as garbage until the next full GC).
 */
const GROUP_BYTES = 64 * 1024;

/**
 * runtime/metrics JSON (bytes, or a source read in slices: a large file, a spooled object) ->
 * validated now, its rows a chunk at a time later (see above). `largeBytes`: where scanning
 * starts (a parameter for tests).
 */
export function streamRuntimeMetrics(input: Uint8Array | ByteSource, chunkRows = METRICS_CHUNK_ROWS, largeBytes = LARGE_BYTES): RowStream<MetricSnapshotRow> {
  let count = 0;
  let firstUs = Infinity;
  let lastUs = -Infinity;
  // The first pass's rows are kept while they fit one chunk: an input that small (the agent's
  // snapshots of one period, ~700 rows) is then parsed once, not twice; memory holds one chunk
  // either way. A larger input drops them and is read again, a chunk at a time.
  let kept: MetricSnapshotRow[] | undefined = [];
  for (const emit of rowGroups(input, largeBytes)) {
    emit((r) => {
      count++;
      if (r.timeUs < firstUs) firstUs = r.timeUs;
      if (r.timeUs > lastUs) lastUs = r.timeUs;
      if (kept && kept.push(r) > chunkRows) kept = undefined;
    });
  }
  if (count === 0) throw new DecodeError('empty', 'runtime/metrics: no metrics in the input');
  const one = kept;
  return {
    count,
    firstUs,
    lastUs,
    *chunks() {
      if (one) {
        yield one.slice();
        return;
      }
      let chunk: MetricSnapshotRow[] = [];
      for (const emit of rowGroups(input, largeBytes)) {
        emit((r) => chunk.push(r));
        if (chunk.length >= chunkRows) {
          yield chunk;
          chunk = [];
        }
      }
      if (chunk.length > 0) yield chunk;
    },
  };
}

/**
 * The input's bytes by absolute position, for the scanner: read from its slices as the scanner
 * moves forward, and dropped behind the position last released, so what is held is the unit being
 * parsed (a document up to largeBytes, a group of members), never the input (#13: the 1M-key
 * document was 30 MB held through both passes). Bytes that run past `maxHold` behind the scanner
 * are dropped too (the scan of a huge document); going back to them reads the source again from
 * its start (a document's "metrics" after its other members were read). An input given as bytes
 * is one slice: held whole, as it already is.
 */
class Bytes {
  /** The slices held, in order: parts[k] holds the input's bytes [starts[k], starts[k] + parts[k].length). */
  private parts: Buffer[] = [];
  private starts: number[] = [];
  /** The slice at(i) used last (most accesses are in it). */
  private cur: Buffer = Buffer.alloc(0);
  private curStart = 0;
  /** End of the bytes read so far. */
  private end = 0;
  private keep = 0;
  private it: Iterator<Uint8Array, unknown, Uint8Array | undefined>;
  /** Slices dropped, to hand back to the source on the next reads (ByteSource's Slices). */
  private dropped: Buffer[] = [];
  /** While text() loads a unit it must have whole, nothing is dropped. */
  private holding = false;
  /** bytes()'s buffer. */
  private scratch: Buffer = Buffer.alloc(0);
  readonly length: number;

  constructor(
    private readonly input: Uint8Array | ByteSource,
    private readonly maxHold: number,
  ) {
    this.length = input instanceof Uint8Array ? input.length : input.size;
    this.it = this.slices();
  }

  private slices(): Iterator<Uint8Array, unknown, Uint8Array | undefined> {
    const input = this.input;
    return (input instanceof Uint8Array ? [input] : input.slices())[Symbol.iterator]();
  }

  /** The byte at i, or -1 past the end. */
  at(i: number): number {
    const j = i - this.curStart;
    return j >= 0 && j < this.cur.length ? this.cur[j] : this.find(i);
  }

  /** Bytes before `pos` are no longer needed. */
  release(pos: number): void {
    this.keep = pos;
  }

  /** Makes b[start..end) resident (both ends read, no slice released in between) and returns the index of the slice holding `start`. */
  private sliceOf(start: number, end: number): number {
    this.holding = true;
    try {
      this.at(start);
      this.at(end - 1);
    } finally {
      this.holding = false;
    }
    let k = this.starts.length - 1;
    while (this.starts[k] > start) k--;
    return k;
  }

  /**
   * A copy of b[start..end) with `before` and `after` spare bytes around it, in a buffer reused
   * by the next call (valid until then).
   */
  bytes(start: number, end: number, before: number, after: number): Buffer {
    const len = before + Math.max(0, end - start) + after;
    if (this.scratch.length < len) this.scratch = Buffer.allocUnsafeSlow(Math.max(len, 2 * this.scratch.length));
    const out = this.scratch.subarray(0, len);
    if (end <= start) return out;
    let k = this.sliceOf(start, end);
    for (let pos = start; pos < end; k++) {
      const from = pos - this.starts[k];
      const n = Math.min(this.parts[k].length - from, end - pos);
      this.parts[k].copy(out, before + pos - start, from, from + n);
      pos += n;
    }
    return out;
  }

  /** b[start..end) as UTF-8 text (copied out of the slices only when it spans several). */
  text(start: number, end: number): string {
    if (end <= start) return '';
    let k = this.sliceOf(start, end);
    const first = this.parts[k];
    const from = start - this.starts[k];
    if (end - this.starts[k] <= first.length) return first.toString('utf8', from, end - this.starts[k]);
    const pieces: Buffer[] = [first.subarray(from)];
    for (let n = first.length - from; n < end - start; ) {
      const p = this.parts[++k];
      pieces.push(p.subarray(0, Math.min(p.length, end - start - n)));
      n += p.length;
    }
    return Buffer.concat(pieces).toString('utf8');
  }

  private find(i: number): number {
    if (i < 0 || i >= this.length) return -1;
    if (i < (this.starts[0] ?? this.end)) {
      // Behind what is held: read the source again from its start.
      this.it = this.slices();
      this.dropped.push(...this.parts);
      this.parts = [];
      this.starts = [];
      this.end = 0;
      this.keep = i;
    }
    while (i >= this.end) {
      // Slices wholly behind `keep` (or, unless holding, more than maxHold behind) are dropped,
      // and handed back for the source to read into again: text() copies what it returns, so
      // nothing outside this object holds a slice.
      const from = !this.holding && this.end - this.keep > this.maxHold ? this.end : this.keep;
      while (this.parts.length > 0 && this.starts[0] + this.parts[0].length <= from) {
        this.dropped.push(this.parts.shift()!);
        this.starts.shift();
      }
      const n = this.it.next(this.dropped.pop());
      if (n.done) throw new Error(`runtime/metrics: the input ended at ${this.end} bytes of ${this.length}`);
      this.parts.push(Buffer.from(n.value.buffer, n.value.byteOffset, n.value.byteLength));
      this.starts.push(this.end);
      this.end += n.value.byteLength;
    }
    let k = this.starts.length - 1;
    while (this.starts[k] > i) k--;
    this.cur = this.parts[k];
    this.curStart = this.starts[k];
    return this.cur[i - this.curStart];
  }
}

/**
 * The input's rows as groups, each a function that emits its rows: the whole input when small, a
 * document, or a group of metrics of a huge document. A group's rows are what a consumer holds at
 * once beyond its chunk; a group is parsed when its function is called, right after it is yielded.
 */
function* rowGroups(input: Uint8Array | ByteSource, largeBytes: number): Generator<(sink: Sink) => void> {
  const b = new Bytes(input, largeBytes);
  if (b.length <= largeBytes) {
    const text = b.text(0, b.length);
    yield (sink) => textRows(text, sink);
    return;
  }
  let i = skipWs(b, b.at(0) === 0xef && b.at(1) === 0xbb && b.at(2) === 0xbf ? 3 : 0);
  const array = b.at(i) === 0x5b; // [
  if (array) i = skipWs(b, i + 1);
  for (let n = 1; i < b.length; n++) {
    if (array && b.at(i) === 0x5d) {
      i = skipWs(b, i + 1);
      break;
    }
    b.release(i);
    const end = valueEnd(b, i);
    yield* documentGroups(b, i, end, `document ${n}`, largeBytes);
    i = skipWs(b, end);
    if (array) {
      if (b.at(i) === 0x2c) i = skipWs(b, i + 1);
      else if (b.at(i) !== 0x5d) throw notJson(b, i);
    }
  }
  if (i < b.length) throw notJson(b, i);
}

function* documentGroups(b: Bytes, start: number, end: number, where: string, largeBytes: number): Generator<(sink: Sink) => void> {
  if (end - start <= largeBytes) {
    const doc = parseJson(b, start, end, where);
    yield (sink) => snapshotRows(doc, where, sink);
    return;
  }
  // A huge document: its few members by range; "metrics" a group of members at a time.
  if (b.at(start) !== 0x7b) throw bad(`${where}: expected an object {"time": ..., "metrics": {...}}`);
  const doc: Record<string, unknown> = {};
  let metrics: [number, number] | undefined;
  for (const [key, vs, ve] of members(b, start, end, true)) {
    if (key === 'metrics') metrics = [vs, ve];
    else doc[key] = parseJson(b, vs, ve, where);
  }
  const timeUs = docTime(doc, where);
  if (!metrics) throw bad(`${where}: missing "metrics"`);
  if (b.at(metrics[0]) !== 0x7b) throw bad(`${where}: "metrics" must be an object of name -> value`);
  let first = -1;
  let last = -1;
  let colons: number[] = [];
  const group = (from: number, to: number, at: readonly number[]) => (sink: Sink) => {
    const parsed = parsePairs(b, from, to, at, `${where}: "metrics"`);
    for (let k = 0; k < parsed.length; k += 2) sink(metricRow(parsed[k] as string, parsed[k + 1], timeUs, where));
  };
  // A group ends at MEMBERS_PER_PARSE members or GROUP_BYTES (half of largeBytes if less), so it is
  // held whole.
  const groupBytes = Math.min(GROUP_BYTES, largeBytes / 2);
  for (const [, , ve, ms, colon] of members(b, metrics[0], metrics[1], false)) {
    if (first < 0) b.release((first = ms));
    last = ve;
    colons.push(colon);
    if (colons.length === MEMBERS_PER_PARSE || last - first > groupBytes) {
      yield group(first, last, colons);
      first = -1;
      colons = [];
    }
  }
  if (colons.length > 0) yield group(first, last, colons);
}

/**
 * The members b[start..end) of a "metrics" object (`colons`: where each member's colon is) as one
 * array [name, value, name, value, ...]: the bytes are parsed as a JSON array with each member's
 * colon turned into a comma. Not as an object: JSON.parse internalizes an object's keys, and
 * internalized strings are allocated in V8's old generation, so the 1M names of a huge document
 * were ~40 MB of old-generation garbage per pass, most of that input's peak above its target
 * (docs/performance.md, "Hostile inputs"); array elements are ordinary young strings. A name
 * given twice is two rows here (as one in two groups always was); a document up to LARGE_BYTES
 * is parsed whole, where the last value of a name wins.
 */
function parsePairs(b: Bytes, start: number, end: number, colons: readonly number[], where: string): unknown[] {
  const text = b.bytes(start, end, 1, 1);
  text[0] = 0x5b; // [
  text[text.length - 1] = 0x5d; // ]
  for (const c of colons) text[c - start + 1] = 0x2c; // ,
  try {
    return JSON.parse(text.toString('utf8')) as unknown[];
  } catch (e) {
    throw bad(`${where}: not JSON (${errorText(e)})`);
  }
}

/** JSON.parse of b[start..end). */
function parseJson(b: Bytes, start: number, end: number, where: string): unknown {
  try {
    return JSON.parse(b.text(start, end));
  } catch (e) {
    throw bad(`${where}: not JSON (${errorText(e)})`);
  }
}

function notJson(b: Bytes, i: number): DecodeError {
  return bad(`not JSON: unexpected ${i < b.length ? JSON.stringify(String.fromCharCode(b.at(i))) : 'end of input'} at byte ${i}`);
}

function skipWs(b: Bytes, i: number): number {
  for (let c = b.at(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = b.at(++i));
  return i;
}

/** Index just past the JSON value starting at i: a string, or an object/array by bracket depth (strings skipped), or a scalar up to the next delimiter. */
function valueEnd(b: Bytes, i: number): number {
  const c = b.at(i);
  if (c === 0x22) return stringEnd(b, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let j = i; j < b.length; j++) {
      const x = b.at(j);
      if (x === 0x22) j = stringEnd(b, j) - 1;
      else if (x === 0x7b || x === 0x5b) depth++;
      else if (x === 0x7d || x === 0x5d) {
        if (--depth === 0) return j + 1;
      }
    }
    throw notJson(b, b.length);
  }
  let j = i;
  for (let x = b.at(j); j < b.length && x !== 0x2c && x !== 0x7d && x !== 0x5d && x !== 0x20 && x !== 0x0a && x !== 0x0d && x !== 0x09; x = b.at(++j));
  if (j === i) throw notJson(b, i);
  return j;
}

function stringEnd(b: Bytes, i: number): number {
  for (let j = i + 1; j < b.length; j++) {
    const x = b.at(j);
    if (x === 0x5c) j++;
    else if (x === 0x22) return j + 1;
  }
  throw notJson(b, b.length);
}

/**
 * Members of the object in b[start..end), lazily: [key, value start, value end, member start,
 * colon] of each; the key is parsed only when `keys` (before its value is scanned past: a huge
 * value's scan may drop the bytes behind it), '' otherwise.
 */
function* members(b: Bytes, start: number, end: number, keys: boolean): Generator<[string, number, number, number, number]> {
  let i = skipWs(b, start + 1);
  if (b.at(i) === 0x7d && i === end - 1) return;
  for (;;) {
    if (b.at(i) !== 0x22) throw notJson(b, i);
    const ms = i;
    const ke = stringEnd(b, i);
    const key = keys ? (JSON.parse(b.text(ms, ke)) as string) : '';
    i = skipWs(b, ke);
    if (b.at(i) !== 0x3a) throw notJson(b, i);
    const colon = i;
    const vs = skipWs(b, i + 1);
    const ve = valueEnd(b, vs);
    yield [key, vs, ve, ms, colon];
    i = skipWs(b, ve);
    if (b.at(i) === 0x2c) i = skipWs(b, i + 1);
    else if (b.at(i) === 0x7d && i === end - 1) return;
    else throw notJson(b, i);
  }
}
