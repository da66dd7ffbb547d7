import { DecodeError } from '../errors';
import type { Decoded, InputFormat } from '../format';
import { LabelSetTable } from '../label-sets';
import type { Func, Int64, Label, Line, Location, Profile, ProfileKind, ValueType } from '../../model/profile';

// Go's legacy `debug=1` text forms, read with the same rules as google/pprof's legacy parsers
// (profile/legacy_profile.go: parseHeap, parseGoCount, parseContention), so the numbers agree
// with `go tool pprof`. Unlike pprof we also read the `#\t0x...\tfunc+0x..\tfile:line` comment
// lines Go prints under each record, so frames get function names without the binary.

const HEAP_HEADER = /^heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ *(heap[_a-z0-9]*)\/?(\d*)/;
const HEAP_SAMPLE = /^(-?\d+): *(-?\d+) *\[ *(\d+): *(\d+) *\] @([ x0-9a-f]*)$/;
const COUNT_HEADER = /^(\S+) profile: total \d+$/;
const COUNT_SAMPLE = /^(\d+) @((?: 0x[0-9a-f]+)+)$/;
// pprof requires blanks between the two numbers (` *` also made a long digit run quadratic).
const CONTENTION_SAMPLE = /^(\d+) +(\d+) @([ x0-9a-f]*)$/;
// The name stops at the first `+0x<offset><blank>`: a lazy `.*?` here was quadratic on long lines.
const FRAME_COMMENT = /^#\s+(0x[0-9a-f]+)\s+(\S(?:(?!\+0x[0-9a-f]+\s).)*)\+0x[0-9a-f]+\s+(.*):(\d+)$/;
const LABELS_COMMENT = /^# labels: (\{.*\})$/;

export type TextForm = 'heap' | 'count' | 'contention' | 'goroutine-debug2';

/** Recognizes a text profile by its first line, or returns null. */
export function sniffTextProfile(bytes: Uint8Array): TextForm | null {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 256)).toString('latin1').trimStart();
  if (head.startsWith('heap profile:')) return 'heap';
  if (head.startsWith('--- mutex:') || head.startsWith('--- contention:')) return 'contention';
  if (/^goroutine \d+ \[/.test(head)) return 'goroutine-debug2';
  if (/^\S+ profile: total \d+/.test(head)) return 'count';
  return null;
}

interface Builder {
  sampleTypes: ValueType[];
  periodType: ValueType;
  period: number;
  durationNanos: number;
  stacks: number[][];
  values: number[][];
  labels: Label[][];
  locations: Location[];
  locByAddr: Map<bigint, number>;
  functions: Func[];
  fnByKey: Map<string, number>;
  kind?: ProfileKind;
}

function newBuilder(sampleTypes: ValueType[], periodType: ValueType, period: number): Builder {
  return {
    sampleTypes,
    periodType,
    period,
    durationNanos: 0,
    stacks: [],
    values: [],
    labels: [],
    locations: [],
    locByAddr: new Map(),
    functions: [],
    fnByKey: new Map(),
  };
}

export function decodeTextProfile(text: string, form: TextForm): Profile {
  const lines = text.split(/\r?\n/);
  switch (form) {
    case 'heap':
      return finish(parseHeap(lines));
    case 'count':
      return finish(parseCount(lines));
    case 'contention':
      return finish(parseContention(lines));
    case 'goroutine-debug2':
      throw new DecodeError('unsupported', 'goroutine debug=2 dumps are not a profile format (go tool pprof rejects them too); upload debug=0 or debug=1');
  }
}

function malformed(lineNo: number, why: string, line: string): never {
  throw new DecodeError('malformed', `line ${lineNo + 1}: ${why}: ${JSON.stringify(line.slice(0, 120))}`);
}

/**
 * Reads a record's address list and the frame comments after it; returns the location indices
 * (leaf first) and the index of the next unread line.
 */
function readStack(b: Builder, addrText: string, lines: string[], start: number, labelsOut: Label[]): [number[], number] {
  // Like pprof's parseHexAddresses: the hex numbers found in the text (a stray token such as
  // "0x" or "x" must not reach BigInt(), which would throw a SyntaxError).
  const addrs = (addrText.match(/0x[0-9a-f]+/g) ?? []).map((s) => BigInt(s) - 1n);
  // Comments: frames in CallersFrames order (innermost inlined first), PC already minus one.
  const framesByPc = new Map<bigint, { name: string; file: string; line: number }[]>();
  let i = start;
  for (; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line.startsWith('#')) break;
    const lm = LABELS_COMMENT.exec(line);
    if (lm) {
      labelsOut.push(...parseGoLabels(lm[1]));
      continue;
    }
    const fm = FRAME_COMMENT.exec(line);
    if (!fm) continue;
    const pc = BigInt(fm[1]);
    let list = framesByPc.get(pc);
    if (!list) framesByPc.set(pc, (list = []));
    list.push({ name: fm[2], file: fm[3], line: Number(fm[4]) });
  }
  // Go hides leading runtime frames from the comments (printStackRecord) exactly as its proto
  // writer hides them from heap stacks (hideRuntime): drop those leaf-side frames it left
  // unnamed, so the text form attributes flat where the protobuf form does.
  // runtime.goexit, the root of every goroutine, is never named either: drop it too.
  let first = 0;
  let end = addrs.length;
  if (framesByPc.size > 0) {
    while (first < end - 1 && !framesByPc.has(addrs[first])) first++;
    while (end > first + 1 && !framesByPc.has(addrs[end - 1])) end--;
  }
  const stack = addrs.slice(first, end).map((addr) => {
    let idx = b.locByAddr.get(addr);
    if (idx === undefined) {
      const frames = framesByPc.get(addr) ?? [];
      const locLines: Line[] = frames.map((f) => ({ fn: functionIndex(b, f.name, f.file), line: f.line, column: 0 }));
      idx = b.locations.length;
      b.locations.push({ id: idx + 1, mapping: -1, address: toInt64(addr), lines: locLines, isFolded: false });
      b.locByAddr.set(addr, idx);
    }
    return idx;
  });
  return [stack, i];
}

function functionIndex(b: Builder, name: string, file: string): number {
  const key = name + '\u0000' + file;
  let idx = b.fnByKey.get(key);
  if (idx === undefined) {
    idx = b.functions.length;
    b.functions.push({ id: idx + 1, name, systemName: name, filename: file, startLine: 0 });
    b.fnByKey.set(key, idx);
  }
  return idx;
}

function parseGoLabels(json: string): Label[] {
  try {
    const obj = JSON.parse(json) as Record<string, unknown>;
    return Object.entries(obj)
      .filter((e): e is [string, string] => typeof e[1] === 'string')
      .map(([key, str]) => ({ key, str }));
  } catch {
    return []; // Go %q quoting is JSON for everything Go prints in practice; never fail on labels.
  }
}

function toInt64(v: bigint): Int64 {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function firstContentLine(lines: string[]): number {
  let i = 0;
  while (i < lines.length && (lines[i].trim() === '' || lines[i].trim().startsWith('#'))) i++;
  return i;
}

function parseHeap(lines: string[]): Builder {
  const h = firstContentLine(lines);
  const header = HEAP_HEADER.exec(lines[h]?.trim() ?? '');
  if (!header) throw new DecodeError('unsupported', 'unrecognized heap profile header');
  if (header[5] !== 'heap') throw new DecodeError('unsupported', `heap profile flavour "${header[5]}" is not a Go runtime profile`);
  // Go prints 2*MemProfileRate after "heap/"; pprof halves it back (parseHeapHeader).
  const period = header[6] ? Math.trunc(Number(header[6]) / 2) : 0;
  const hasAlloc = (header[3] !== header[1] && header[3] !== '0') || (header[4] !== header[2] && header[4] !== '0');
  const types: ValueType[] = hasAlloc
    ? [
        { type: 'alloc_objects', unit: 'count' },
        { type: 'alloc_space', unit: 'bytes' },
        { type: 'inuse_objects', unit: 'count' },
        { type: 'inuse_space', unit: 'bytes' },
      ]
    : [
        { type: 'objects', unit: 'count' },
        { type: 'space', unit: 'bytes' },
      ];
  const b = newBuilder(types, { type: 'space', unit: 'bytes' }, period);
  let i = h + 1;
  while (i < lines.length) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) {
      i++;
      continue;
    }
    if (line.startsWith('--- Memory map:') || line.startsWith('MAPPED_LIBRARIES:')) break;
    const m = HEAP_SAMPLE.exec(line);
    if (!m) malformed(i, 'not a heap record', line);
    const values: number[] = [];
    let blocksize = 0;
    const add = (countS: string, sizeS: string, what: string) => {
      let count = Number(countS);
      let size = Number(sizeS);
      if (count === 0 && size !== 0) malformed(i, `${what} count was 0 but ${what} bytes was ${size}`, line);
      if (count !== 0) {
        blocksize = Math.trunc(size / count);
        [count, size] = scaleHeapSample(count, size, period);
      }
      values.push(count, size);
    };
    if (hasAlloc) add(m[3], m[4], 'allocation');
    add(m[1], m[2], 'inuse');
    const labels: Label[] = [];
    const [stack, next] = readStack(b, m[5], lines, i + 1, labels);
    labels.push({ key: 'bytes', num: blocksize, numUnit: '' });
    b.stacks.push(stack);
    b.values.push(values);
    b.labels.push(labels);
    i = next;
  }
  b.kind = 'heap';
  return b;
}

/** google/pprof's scaleHeapSample: undo Poisson sampling at the given rate. */
export function scaleHeapSample(count: number, size: number, rate: number): [number, number] {
  if (count === 0 || size === 0) return [0, 0];
  if (rate <= 1) return [count, size];
  const avgSize = size / count;
  const scale = 1 / (1 - Math.exp(-avgSize / rate));
  return [Math.trunc(count * scale), Math.trunc(size * scale)];
}

function parseCount(lines: string[]): Builder {
  const h = firstContentLine(lines);
  const header = COUNT_HEADER.exec(lines[h]?.trim() ?? '');
  if (!header) throw new DecodeError('unsupported', 'unrecognized count profile header');
  const name = header[1];
  if (name !== 'goroutine' && name !== 'threadcreate') {
    throw new DecodeError('unsupported', `"${name}" is a custom profile, not one the Go runtime writes`);
  }
  const b = newBuilder([{ type: name, unit: 'count' }], { type: name, unit: 'count' }, 1);
  b.kind = name;
  let i = h + 1;
  while (i < lines.length) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) {
      i++;
      continue;
    }
    if (line.startsWith('---')) break;
    const m = COUNT_SAMPLE.exec(line);
    if (!m) malformed(i, 'not a count record', line);
    const labels: Label[] = [];
    const [stack, next] = readStack(b, m[2], lines, i + 1, labels);
    b.stacks.push(stack);
    b.values.push([Number(m[1])]);
    b.labels.push(labels);
    i = next;
  }
  return b;
}

function parseContention(lines: string[]): Builder {
  const h = firstContentLine(lines);
  const first = lines[h].trim();
  const b = newBuilder(
    [
      { type: 'contentions', unit: 'count' },
      { type: 'delay', unit: 'nanoseconds' },
    ],
    { type: 'contentions', unit: 'count' },
    1,
  );
  b.kind = first.startsWith('--- mutex:') ? 'mutex' : 'block';
  let cpuHz = 0;
  let i = h + 1;
  // "attribute = value" lines before the records.
  for (; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('---')) break;
    const eq = line.indexOf('=');
    if (eq < 0) break;
    const key = line.slice(0, eq).trim();
    const val = Number(line.slice(eq + 1).trim());
    if (!Number.isFinite(val)) malformed(i, 'bad attribute value', line);
    if (key === 'cycles/second') cpuHz = val;
    else if (key === 'sampling period') b.period = val;
    else if (key === 'ms since reset') b.durationNanos = val * 1e6;
    else if (key !== 'discarded samples') malformed(i, `unknown attribute "${key}"`, line);
  }
  while (i < lines.length) {
    const line = lines[i].trim();
    if (line.startsWith('---')) break;
    if (line === '' || line.startsWith('#')) {
      i++;
      continue;
    }
    const m = CONTENTION_SAMPLE.exec(line);
    if (!m) malformed(i, 'not a contention record', line);
    let cycles = Number(m[1]);
    let count = Number(m[2]);
    // pprof's parseContentionSample: delays -> nanoseconds, counts scaled by the period.
    if (b.period > 0) {
      if (cpuHz > 0) cycles = Math.trunc((cycles * b.period) / (cpuHz / 1e9));
      count = count * b.period;
    }
    const labels: Label[] = [];
    const [stack, next] = readStack(b, m[3], lines, i + 1, labels);
    b.stacks.push(stack);
    b.values.push([count, cycles]);
    b.labels.push(labels);
    i = next;
  }
  return b;
}

function finish(b: Builder): Profile {
  const n = b.stacks.length;
  const nTypes = b.sampleTypes.length;
  const stackStart = new Uint32Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    stackStart[i] = total;
    total += b.stacks[i].length;
  }
  stackStart[n] = total;
  const stack = new Uint32Array(total);
  const values = new Float64Array(n * nTypes);
  const labelSet = new Uint32Array(n);
  const labelSets = new LabelSetTable();
  for (let i = 0; i < n; i++) {
    stack.set(b.stacks[i], stackStart[i]);
    values.set(b.values[i], i * nTypes);
    const labels = b.labels[i];
    if (labels.length > 0) labelSet[i] = labelSets.intern(JSON.stringify(labels), () => labels);
  }
  return {
    format: 'pprof-text',
    sampleTypes: b.sampleTypes,
    defaultSampleType: b.sampleTypes[nTypes - 1].type,
    samples: { count: n, stackStart, stack, values: { exact: 'number', data: values }, labelSet, labelSets: labelSets.sets },
    mappings: [],
    locations: b.locations,
    functions: b.functions,
    dropFrames: '',
    keepFrames: '',
    timeNanos: 0,
    durationNanos: b.durationNanos,
    periodType: b.periodType,
    period: b.period,
    comments: [],
    docUrl: '',
    declaredKind: b.kind,
  };
}

export const pprofTextFormat: InputFormat<Extract<Decoded, { input: 'profile' }>> = {
  name: 'pprof-text',
  input: 'profile',
  sniff: (head) => sniffTextProfile(head.bytes) !== null,
  decode(raw) {
    const form = sniffTextProfile(raw);
    if (!form) throw new DecodeError('unsupported', 'not a Go debug=1 text profile (no pprof text header recognized)');
    return { input: 'profile', profile: decodeTextProfile(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'), form) };
  },
};
