// GODEBUG=gctrace=1 logs (Go 1.5 - 1.26) -> one GcCycleRow per `gc N @...` line.
//
// Real logs are stderr captured by whatever ran the process, so a gc line can sit anywhere in a
// line (after a timestamp, a syslog header, a CRI `... stderr F ` header, inside a Docker JSON
// `"log"` string) between application output, panics, scavenger and pacer lines. We therefore
// never anchor on the line start: we look for `gc <digits> @` and match the runtime's exact
// print format from there (the gctrace paragraph of runtime/extern.go and the print statements of
// runtime/mgc.go, per Go version). Not even a word boundary is required:
// the runtime writes a gc line with many write(2) calls and user output is not serialized with
// them, so a newline-less app write can sit directly before `gc` (`...50%gc 12 @...`).
//
// Rules worth knowing:
// - A line is "gc-looking" if it contains `gc N @` (or ends right after `gc N`); one that does not
//   parse completely is counted as malformed and quoted (first 5), never fatal. Everything else
//   (app output, scvg/scav/pacer/checkfinalizers lines, Go <= 1.4 `gc1(1):` lines) is skipped.
// - After the matched gc text only whitespace, an escaped newline (`\n` inside JSON) or a closing
//   quote may follow; anything else means the line was cut or interleaved with other output.
// - Cut-off final line: the runtime ends every gc line with "\n", so a last line without newline
//   may have been cut by log rotation, a kill or an upload of a growing file. It only counts if the
//   text proves it is whole: it ends with ` (forced)` or carries a terminator (escaped newline,
//   closing quote, CR). A plain `... 8 P` there might be a cut `... 8 P (forced)`, so it is counted
//   as malformed rather than guessed.
// - Segments and time: see finishSegment().

import type { GcCycleRow, GctraceFormat, GctraceParseResult, GctraceSummary, RowStream } from '../../model/gc';
import { TextDecoder } from 'node:util';
import { DecodeError } from '../errors';
import type { ByteSource, Decoded, InputFormat } from '../format';

export interface GctraceOptions {
  /** Epoch microseconds at which the (first) process started; `@<s>s` offsets count from it. */
  startUs: number;
  /**
   * Streaming consumers: receives each segment's rows (times assigned) as soon as the segment is
   * complete, and the parser keeps none of them, so memory is bounded by the longest process
   * lifetime in the log, not by the log. end() then returns `cycles: []`.
   */
  onSegment?: (rows: GcCycleRow[]) => void;
}

export interface GctraceStreamParser {
  /** Feed the next piece of the log; may split lines and UTF-8 sequences anywhere. */
  push(chunk: string | Uint8Array): void;
  /** Finish; throws DecodeError when the input holds no gc lines at all. */
  end(): GctraceParseResult;
}

const MIB = 1048576;
const MAX_EXAMPLES = 5;
const EXAMPLE_CHARS = 300;
// A gc line is ~250 bytes even inside a JSON wrapper. Longer unterminated text is application
// output (or binary junk); keep only its tail so memory stays bounded yet a gc line printed after
// a newline-less app write is still found. (Only for such lines can the result depend on where the
// input was split into chunks.)
const MAX_PARTIAL = 64 * 1024;
const KEEP_PARTIAL = 16 * 1024;

// Applied (sticky) at each `gc ` found by indexOf: cheaper than one unanchored regex per line.
// Go 1.26 may print ` (checking for goroutine leaks)` between `%` and `:`.
const GC_LINE =
  /gc (\d+) @(\d+)(?:\.(\d{1,9}))?s (\d+)%(?: \([^()]*\))?: ([\d.+]+) ms clock, ([\d.+/]+) ms cpu, (\d+)->(\d+)->(\d+) MB, (\d+) MB goal, (?:(\d+) MB stacks, (\d+) MB globals, )?(\d+) P( \(forced\))?/y;
const GC_HEAD = /gc \d+(?: @|[ \t]*$)/y;
const GO14_LINE = /(?:^|\W)gc\d+\(\d+\): /;
const TIMESTAMP = /(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?([Zz]|[+-]\d{2}:?\d{2})/;
const TIMESTAMP_EXACT = new RegExp(`^\\s*${TIMESTAMP.source}\\s*$`);

/**
 * RFC 3339 timestamp (nanosecond fractions allowed, `T` or space, zone required) -> epoch
 * microseconds, or null. A zone-less time is rejected: it is local time of an unknown zone.
 */
export function parseRfc3339Us(s: string): number | null {
  const m = TIMESTAMP_EXACT.exec(s);
  return m ? timestampUs(m) : null;
}

function timestampUs(m: RegExpExecArray): number | null {
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return null;
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not.
  const ms = new Date(Date.UTC(2000, 0, 1, h, mi, Math.min(sec, 59))).setUTCFullYear(y, mo - 1, d);
  if (new Date(ms).getUTCDate() !== d) return null; // Feb 30 and friends
  const frac = m[7] ? Number((m[7] + '00000').slice(0, 6)) : 0;
  let offsetMin = 0;
  const z = m[8];
  if (z !== 'Z' && z !== 'z') {
    const digits = z.replace(':', '');
    if (Number(digits.slice(1, 3)) > 23 || Number(digits.slice(3, 5)) > 59) return null; // +99:99
    offsetMin = (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5))) * (z[0] === '-' ? -1 : 1);
  }
  return (ms - offsetMin * 60000) * 1000 + frac;
}

/** Parse a whole gctrace log held in memory. */
export function parseGctrace(text: string, opts: GctraceOptions): GctraceParseResult {
  const p = createGctraceParser(opts);
  p.push(text);
  return p.end();
}

export function createGctraceParser(opts: GctraceOptions): GctraceStreamParser {
  if (!opts || typeof opts.startUs !== 'number' || !Number.isFinite(opts.startUs)) {
    throw new TypeError('gctrace: opts.startUs must be a finite number (epoch microseconds)');
  }
  return new GctraceParser(opts.startUs, opts.onSegment);
}

/** Seconds offset `@11.635s` (integer and fraction digits as matched) -> exact microseconds. */
function secondsToUs(int: string, frac: string | undefined): number {
  let f = 0;
  const n = frac === undefined ? 0 : Math.min(frac.length, 6);
  for (let i = 0; i < n; i++) f = f * 10 + (frac!.charCodeAt(i) - 48);
  return Number(int) * 1e6 + f * 10 ** (6 - n);
}

/**
 * Phase list of runtime fmtNSAsMS values ("1.0+2.0+0+407/200/0+24") -> exact integer ns in `out`,
 * separators ('+' or '/') in `seps`. Returns the value count, or -1 if any value is not a plain
 * decimal. Hand-rolled because it runs for every gc line and split/map/Number cost 5x more.
 */
function parsePhases(s: string, out: Float64Array, seps: Uint8Array): number {
  let n = 0;
  let int = 0;
  let frac = 0;
  let fracDigits = -1; // -1: no '.' seen in this value
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 43; // virtual '+' terminates the last value
    if (c >= 48 && c <= 57) {
      digits++;
      if (fracDigits < 0) int = int * 10 + (c - 48);
      else if (fracDigits < 6) {
        frac = frac * 10 + (c - 48);
        fracDigits++;
      }
    } else if (c === 46) {
      if (fracDigits >= 0 || digits === 0) return -1;
      fracDigits = 0;
      digits = 0;
    } else if (c === 43 || c === 47) {
      if (digits === 0 || n === out.length) return -1;
      out[n] = int * 1e6 + (fracDigits > 0 ? frac * 10 ** (6 - fracDigits) : 0);
      if (i < s.length) seps[n] = c;
      n++;
      int = frac = digits = 0;
      fracDigits = -1;
    } else return -1;
  }
  return n;
}

const clockNs = new Float64Array(8);
const cpuNs = new Float64Array(10);
const seps = new Uint8Array(10);
const PLUS = 43;
const SLASH = 47;

function countNewlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf('\n', from); i >= 0 && i < to; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** What follows the matched gc text: 'end' (only blanks), 'term' (proves the line ended), 'bad'. */
function tailKind(line: string, from: number): 'end' | 'term' | 'bad' {
  let j = from;
  while (j < line.length && (line.charCodeAt(j) === 32 || line.charCodeAt(j) === 9)) j++;
  if (j === line.length) return 'end';
  const c = line.charCodeAt(j);
  if (c === 34) return 'term'; // closing quote of a JSON / logfmt string
  if (c === 92) {
    const n = line.charCodeAt(j + 1);
    return n === 110 || n === 114 ? 'term' : 'bad'; // escaped \n or \r
  }
  return 'bad';
}

class GctraceParser implements GctraceStreamParser {
  /** Rows of finished segments (none when streaming to onSegment). */
  private readonly cycles: GcCycleRow[] = [];
  /** Rows of the segment being read, and the process start its absolute timestamps imply. */
  private segment: GcCycleRow[] = [];
  private segAbsStartUs = NaN;
  private segments = 0;
  private cycleCount = 0;
  /** Time of the last cycle of the previous segment (estimated start of the next one). */
  private prevLastUs: number;
  private prevGc = -1;
  private lines = 0;
  private malformed = 0;
  private readonly examples: string[] = [];
  private sawGo14 = false;
  private partial = '';
  private decoder: TextDecoder | null = null;
  private started = false;
  private ended = false;
  /** scan mode: the current segment's offsets (no rows kept), and what the segments came to. */
  private segCount = 0;
  private segLastOffset = 0;
  private segMinOffset = Infinity;
  private segMaxOffset = -Infinity;
  private readonly plan: SegmentTime[] = [];
  private firstUs = Infinity;
  private lastUs = -Infinity;
  private estimatedSegments = 0;

  constructor(
    private readonly startUs: number,
    private readonly onSegment?: (rows: GcCycleRow[]) => void,
    /** keep: rows timed at segment end (the in-memory API); scan: no rows, segment times only; emit: rows timed by `known`, handed to `sink` at once. */
    private readonly mode: 'keep' | 'scan' | 'emit' = 'keep',
    private readonly known: readonly SegmentTime[] = [],
    private readonly sink?: (row: GcCycleRow) => void,
  ) {
    this.prevLastUs = startUs;
  }

  /** scan mode: the summary of the log (end() first). */
  summary(): GctraceSummary {
    return {
      linesRead: this.lines,
      malformed: this.malformed,
      malformedExamples: this.examples,
      segments: this.segments,
      skipped: this.lines - this.cycleCount - this.malformed,
      cycles: this.cycleCount,
      estimatedSegments: this.estimatedSegments,
      firstUs: this.firstUs,
      lastUs: this.lastUs,
    };
  }

  /** scan mode: each segment's start and whether it is estimated (end() first). */
  segmentTimes(): readonly SegmentTime[] {
    return this.plan;
  }

  push(chunk: string | Uint8Array): void {
    if (this.ended) throw new Error('gctrace: push() after end()');
    if (typeof chunk === 'string') {
      if (this.decoder) this.feed(this.decoder.decode()); // flush bytes pushed before
      this.decoder = null;
      if (!this.started && chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      this.started = true;
      this.feed(chunk);
    } else {
      if (!this.decoder) this.decoder = new TextDecoder('utf-8', { ignoreBOM: this.started });
      this.started = true;
      this.feed(this.decoder.decode(chunk, { stream: true }));
    }
  }

  end(): GctraceParseResult {
    if (this.ended) throw new Error('gctrace: end() called twice');
    if (this.decoder) this.feed(this.decoder.decode());
    this.ended = true;
    if (this.partial.length > 0) {
      this.lines++;
      this.analyze(this.partial, true);
      this.partial = '';
    }
    if (this.cycleCount === 0) throw this.noContentError();
    this.finishSegment();
    return {
      cycles: this.cycles,
      linesRead: this.lines,
      malformed: this.malformed,
      malformedExamples: this.examples,
      segments: this.segments,
      skipped: this.lines - this.cycleCount - this.malformed,
    };
  }

  private feed(text: string): void {
    if (text.length === 0) return;
    let pos = 0;
    if (this.partial.length > 0) {
      // Join the carried-over start of a line with its end without copying the whole chunk.
      const nl = text.indexOf('\n');
      if (nl < 0) return this.carry(text);
      const line = this.partial + text.slice(0, nl);
      this.partial = '';
      this.lines++;
      if (this.cycleCount === 0 && !this.sawGo14) this.sawGo14 = GO14_LINE.test(line);
      if (line.indexOf('gc ') >= 0) this.analyze(line, false);
      pos = nl + 1;
    }
    const lastNl = text.lastIndexOf('\n');
    if (lastNl >= pos) {
      if (this.cycleCount === 0 && !this.sawGo14) this.sawGo14 = GO14_LINE.test(text.slice(pos, lastNl));
      this.scanLines(text, pos, lastNl);
      pos = lastNl + 1;
    }
    if (pos < text.length) this.carry(text.slice(pos));
  }

  private carry(s: string): void {
    this.partial += s;
    if (this.partial.length > MAX_PARTIAL) this.partial = this.partial.slice(-KEEP_PARTIAL);
  }

  /** Lines in text[from..lastNl], each ending in '\n'; only lines holding `gc ` are looked at. */
  private scanLines(text: string, from: number, lastNl: number): void {
    let pos = from;
    let g = text.indexOf('gc ', pos);
    while (g >= 0 && g < lastNl) {
      const start = Math.max(pos, text.lastIndexOf('\n', g) + 1);
      this.lines += countNewlines(text, pos, start);
      const nl = text.indexOf('\n', g);
      this.lines++;
      this.analyze(text.slice(start, nl), false);
      pos = nl + 1;
      g = pos > lastNl ? -1 : text.indexOf('gc ', pos);
    }
    this.lines += countNewlines(text, pos, lastNl + 1);
  }

  private analyze(raw: string, final: boolean): void {
    const hadCR = raw.charCodeAt(raw.length - 1) === 13;
    const line = hadCR ? raw.slice(0, -1) : raw;
    let gcLooking = false;
    for (let i = line.indexOf('gc '); i >= 0; i = line.indexOf('gc ', i + 3)) {
      GC_LINE.lastIndex = i;
      const m = GC_LINE.exec(line);
      if (m) {
        const tail = tailKind(line, GC_LINE.lastIndex);
        const whole = tail === 'term' || (tail === 'end' && (!final || hadCR || m[14] !== undefined));
        if (whole && this.addCycle(m, line, i, GC_LINE.lastIndex)) return;
      }
      GC_HEAD.lastIndex = i;
      if (GC_HEAD.test(line)) gcLooking = true;
    }
    if (gcLooking) {
      this.malformed++;
      if (this.examples.length < MAX_EXAMPLES) {
        this.examples.push(line.length > EXAMPLE_CHARS ? line.slice(0, EXAMPLE_CHARS) + '…' : line);
      }
    }
  }

  /** Validate the phase fields and record the row; false if they do not fit any known format. */
  private addCycle(m: RegExpExecArray, line: string, start: number, end: number): boolean {
    const nClock = parsePhases(m[5], clockNs, seps);
    const hasStacks = m[11] !== undefined;
    let goFormat: GctraceFormat;
    if (nClock === 5 && !hasStacks) goFormat = '1.5';
    else if (nClock === 3) goFormat = hasStacks ? '1.18' : '1.6';
    else return false;
    for (let k = 0; k < nClock - 1; k++) if (seps[k] !== PLUS) return false;
    // cpu: one value per clock phase, except the concurrent mark one split as assist/background/idle.
    const n = parsePhases(m[6], cpuNs, seps);
    if (n !== nClock + 2) return false;
    for (let k = 0; k < n - 1; k++) if (seps[k] !== (k === n - 4 || k === n - 3 ? SLASH : PLUS)) return false;

    const last = nClock - 1;
    let markNs = 0;
    for (let k = 1; k < last; k++) markNs += clockNs[k];
    const wallNs = markNs + clockNs[0] + clockNs[last];
    // Go 1.5's scan and install-WB phases (cpu[1], cpu[2]) belong to the concurrent phase.
    const extraBgCpu = goFormat === '1.5' ? cpuNs[1] + cpuNs[2] : 0;
    const gc = Number(m[1]);
    const offsetUs = secondsToUs(m[2], m[3]);

    if (gc <= this.prevGc || this.segments === 0) {
      this.finishSegment();
      this.segments++;
    }
    this.prevGc = gc;
    const segment = this.segments - 1;
    const absUs = this.lineTimestampUs(line, start, end);
    if (absUs !== null) {
      // The runtime prints the line at the end of the cycle; `@` is its start since process start.
      const segStart = absUs - offsetUs - Math.floor(wallNs / 1000);
      if (Number.isNaN(this.segAbsStartUs) || segStart < this.segAbsStartUs) this.segAbsStartUs = segStart;
    }

    this.cycleCount++;
    if (this.mode === 'scan') {
      this.segCount++;
      this.segLastOffset = offsetUs;
      if (offsetUs < this.segMinOffset) this.segMinOffset = offsetUs;
      if (offsetUs > this.segMaxOffset) this.segMaxOffset = offsetUs;
      return true;
    }
    const known = this.mode === 'emit' ? this.known[segment] : undefined;
    const row: GcCycleRow = {
      timeUs: known ? offsetUs + known.startUs : offsetUs, // keep: made absolute in finishSegment()
      timeEstimated: known ? known.estimated : false,
      segment,
      gc,
      forced: m[14] !== undefined,
      cpuPct: Number(m[4]),
      pauseNs: clockNs[0] + clockNs[last],
      sweepTermNs: clockNs[0],
      markNs,
      markTermNs: clockNs[last],
      sweepTermCpuNs: cpuNs[0],
      markTermCpuNs: cpuNs[n - 1],
      assistCpuNs: cpuNs[n - 4],
      backgroundCpuNs: cpuNs[n - 3] + extraBgCpu,
      idleCpuNs: cpuNs[n - 2],
      heapStartBytes: Number(m[7]) * MIB,
      heapEndBytes: Number(m[8]) * MIB,
      heapLiveBytes: Number(m[9]) * MIB,
      heapGoalBytes: Number(m[10]) * MIB,
      stacksBytes: hasStacks ? Number(m[11]) * MIB : null,
      globalsBytes: hasStacks ? Number(m[12]) * MIB : null,
      procs: Number(m[13]),
      goFormat,
    };
    if (this.sink) this.sink(row);
    else this.segment.push(row);
    return true;
  }

  /** First zoned RFC 3339 time in the text around the gc line (prefix first, then e.g. Docker's "time"). */
  private lineTimestampUs(line: string, start: number, end: number): number | null {
    const before = TIMESTAMP.exec(line.slice(0, start));
    if (before) return timestampUs(before);
    const after = end < line.length ? TIMESTAMP.exec(line.slice(end)) : null;
    return after ? timestampUs(after) : null;
  }

  /**
   * Absolute times, assigned when a segment ends. Each `gc 1, 2, ...` run is one process lifetime
   * (segment); a gc number that does not increase starts a new one. A segment's start (the process start) is, in order of preference:
   * 1. derived from absolute timestamps on its lines (RFC 3339 / CRI / Docker JSON `time`): line time
   *    minus `@offset` minus the cycle's wall time, taking the earliest over the segment since log
   *    shipping only ever adds delay;
   * 2. for the first segment, the caller's startUs;
   * 3. for a later segment, the previous segment's last cycle time, so time stays monotonic; such
   *    rows are marked timeEstimated (the real restart happened some unknown time later).
   */
  private finishSegment(): void {
    if (this.mode === 'emit') return; // times came from the scan
    if (this.mode === 'scan') {
      if (this.segCount === 0) return;
      const { startUs, estimated } = this.segmentStart();
      this.plan.push({ startUs, estimated });
      if (estimated) this.estimatedSegments++;
      this.prevLastUs = startUs + this.segLastOffset;
      this.firstUs = Math.min(this.firstUs, startUs + this.segMinOffset);
      this.lastUs = Math.max(this.lastUs, startUs + this.segMaxOffset);
      this.segCount = 0;
      this.segMinOffset = Infinity;
      this.segMaxOffset = -Infinity;
      this.segAbsStartUs = NaN;
      return;
    }
    const rows = this.segment;
    if (rows.length === 0) return;
    const { startUs, estimated } = this.segmentStart();
    for (const r of rows) {
      r.timeUs += startUs;
      r.timeEstimated = estimated;
    }
    this.prevLastUs = rows[rows.length - 1].timeUs;
    this.segment = [];
    this.segAbsStartUs = NaN;
    if (this.onSegment) this.onSegment(rows);
    else for (const r of rows) this.cycles.push(r);
  }

  /** The current segment's start (see finishSegment). */
  private segmentStart(): SegmentTime {
    const s = this.segments - 1;
    const abs = this.segAbsStartUs;
    const estimated = Number.isNaN(abs) && s > 0;
    return { startUs: !Number.isNaN(abs) ? abs : s === 0 ? this.startUs : this.prevLastUs, estimated };
  }


  private noContentError(): DecodeError {
    if (this.lines === 0) return new DecodeError('empty', 'gctrace: empty input');
    if (this.malformed > 0) {
      return new DecodeError(
        'malformed',
        `gctrace: no complete gc lines in ${this.lines} lines; ${this.malformed} malformed gc line(s), e.g. ${JSON.stringify(this.examples[0])}`,
      );
    }
    if (this.sawGo14) {
      return new DecodeError('unsupported', 'gctrace: only Go <= 1.4 "gc1(1): ..." lines found; gctrace of Go 1.5+ is supported');
    }
    return new DecodeError(
      'malformed',
      `gctrace: no recognizable gctrace content: none of the ${this.lines} lines is a "gc N @...s N%: ..." line`,
    );
  }
}

// Content detection from the head (the first 64 KiB): the head of a gc line of any Go version 1.5+,
// anywhere in a line (log prefixes are common). Its shape, not its validity: the parser reports that.
const SNIFF_CHARS = 64 * 1024;
const GC_LINE_HEAD_SNIFF = /gc \d+ @\d+(?:\.\d+)?s \d+%(?: \([^()]*\))?: [\d.]+\+[\d.+]+ ms clock, /;

export function looksLikeGctrace(text: string): boolean {
  return GC_LINE_HEAD_SNIFF.test(text.slice(0, SNIFF_CHARS));
}

/**
 * Whether a gc line occurs anywhere in the (decompressed) input, not just in the first 64 KiB: for
 * logs whose application output fills the head.
 */
export function containsGctrace(raw: Uint8Array): boolean {
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  const window = 64 * 1024;
  const overlap = 1024; // longer than any gc line head, so a line cut by a window edge is seen whole in the next
  for (let i = 0; i < text.length; i += window - overlap) {
    if (looksLikeGctrace(text.slice(i, i + window))) return true;
  }
  return false;
}

export const gctraceFormat: InputFormat<Extract<Decoded, { input: 'gctrace' }>> = {
  name: 'gctrace',
  input: 'gctrace',
  uploadKind: 'gctrace',
  // A gc line holds the ASCII bytes "gc ", which UTF-8 decoding maps one to one: without them in
  // the head the text (64 KiB decoded for nothing, for every binary input) cannot match.
  sniff: (head) => Buffer.from(head.bytes.buffer, head.bytes.byteOffset, head.bytes.byteLength).includes('gc ') && looksLikeGctrace(head.text),
  sniffAll: containsGctrace,
  decode(raw, ctx) {
    if (ctx.startUs === undefined) throw new DecodeError('unsupported', 'gctrace log needs a capture start: pass --start');
    return { input: 'gctrace', ...streamGctrace(raw, ctx.startUs) };
  },
  decodeSource(src, ctx) {
    if (ctx.startUs === undefined) throw new DecodeError('unsupported', 'gctrace log needs a capture start: pass --start');
    return { input: 'gctrace', ...streamGctrace(src, ctx.startUs) };
  },
};

// Memory bounded by design (#13): a log is read twice and its rows are never all in memory. The
// first pass (at decode time: every refusal happens before anything is written) keeps no rows,
// only each segment's start, which needs the whole segment (its earliest absolute timestamp), and
// the summary; the second pass, run by whoever writes the rows, times each row as it is read and
// hands them over GCTRACE_CHUNK_ROWS at a time. The input is pushed in slices, never decoded into
// one string (a 285 MB log was a 285-570 MB string before the rows were even built).

/** Input bytes pushed per step: the text decoded at once. */
const SLICE_BYTES = MIB;
/**
 * Rows per chunk of the second pass. 4,096 rather than 16,384: a chunk lives (as cycles, table
 * rows and NDJSON) long enough to be promoted out of V8's young generation, and the old generation
 * then grows with dead chunks; the 1M-line log peaked at ~365 MB RSS with 4,096-row chunks and
 * 390-530 MB with 16,384 (bench:hostile, three runs each under load). The Parquet runs stay
 * 16,384 rows (ParquetWriter.rowFile): chunks are appended, not sorted, one at a time.
 */
export const GCTRACE_CHUNK_ROWS = 4096;

interface SegmentTime {
  readonly startUs: number;
  readonly estimated: boolean;
}

/** The input as slices of at most SLICE_BYTES, from the first byte at each call. */
function slicesOf(input: Uint8Array | ByteSource): () => Iterable<Uint8Array> {
  if (!(input instanceof Uint8Array)) return () => input.slices();
  return function* () {
    for (let i = 0; i < input.length; i += SLICE_BYTES) yield input.subarray(i, i + SLICE_BYTES);
  };
}

/**
 * A gctrace log (bytes, or a source read in slices: a file) -> its summary now, its rows a chunk
 * at a time later (see above).
 */
export function streamGctrace(input: Uint8Array | ByteSource, startUs: number, chunkRows = GCTRACE_CHUNK_ROWS): { parsed: GctraceSummary; cycles: RowStream<GcCycleRow> } {
  const slices = slicesOf(input);
  const scan = new GctraceParser(startUs, undefined, 'scan');
  for (const s of slices()) scan.push(s);
  scan.end();
  const parsed = scan.summary();
  const known = scan.segmentTimes();
  return {
    parsed,
    cycles: {
      count: parsed.cycles,
      firstUs: parsed.firstUs,
      lastUs: parsed.lastUs,
      *chunks() {
        let chunk: GcCycleRow[] = [];
        const p = new GctraceParser(startUs, undefined, 'emit', known, (r) => chunk.push(r));
        for (const s of slices()) {
          p.push(s);
          if (chunk.length >= chunkRows) {
            yield chunk;
            chunk = [];
          }
        }
        p.end();
        if (chunk.length > 0) yield chunk;
      },
    },
  };
}
