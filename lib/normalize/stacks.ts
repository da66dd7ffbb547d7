import type { Int64, Label, Profile } from '../model/profile';
import type { FrameFunction, FrameTable } from './frames';
import { normalizeBig, totalAbs } from './functions';

// Distinct stacks of a profile, with their summed values. A stack is the sequence of frames
// (function = name, file, start line; + line; + whether the frame is inlined into the next one),
// leaf first, with inlined frames expanded; samples whose stacks differ only in addresses collapse
// into one row. Together with the labels that is everything needed to rebuild flame graphs and a
// merged pprof whose `-top` and `-top -lines` equal the original's.

export interface StackAgg {
  /** Deterministic across profiles: the same frames always get the same id. */
  readonly stackId: bigint;
  /** Function ids (indices into FrameTable.functions), leaf first. */
  readonly frameIds: number[];
  readonly lines: number[];
  /** inline[i]: frame i is inlined into frame i + 1 (both are Lines of one Location). */
  readonly inline: boolean[];
  readonly labels: readonly Label[];
  /** One value per sample type. */
  readonly values: Int64[];
}

interface Entry {
  frameIds: number[];
  lines: number[];
  inline: boolean[];
  labelSet: number;
  sums: bigint[] | Float64Array;
  next: Entry | undefined; // same hash
}

/** `exactNumbers`: float sums are exact for every sample type (Σ|v| <= 2^53, see totalAbs). */
export function aggregateStacks(p: Profile, frames: FrameTable, exactNumbers = p.sampleTypes.every((_t, t) => totalAbs(p, t).exact)): StackAgg[] {
  const nTypes = p.sampleTypes.length;
  const { count, stackStart, stack, labelSet, labelSets } = p.samples;
  const data = p.samples.values.data;
  // Keyed by a numeric hash of (frames, lines, inline flags, label set), confirmed on a match: building a
  // string key per sample was the largest cost of this step when measured.
  const byHash = new Map<number, Entry>();
  const entries: Entry[] = [];
  const sameStack = (e: Entry, i: number): boolean => {
    if (e.labelSet !== labelSet[i]) return false;
    let n = 0;
    for (let j = stackStart[i]; j < stackStart[i + 1]; j++) {
      const nodes = frames.functionsOf[stack[j]];
      const lines = frames.linesOf[stack[j]];
      for (let k = 0; k < nodes.length; k++, n++) {
        if (e.frameIds[n] !== nodes[k] || e.lines[n] !== lines[k] || e.inline[n] !== k < nodes.length - 1) return false;
      }
    }
    return n === e.frameIds.length;
  };
  for (let i = 0; i < count; i++) {
    let h = Math.imul(0x811c9dc5 ^ labelSet[i], 16777619);
    for (let j = stackStart[i]; j < stackStart[i + 1]; j++) {
      const nodes = frames.functionsOf[stack[j]];
      const lines = frames.linesOf[stack[j]];
      for (let k = 0; k < nodes.length; k++) h = Math.imul(Math.imul(h ^ nodes[k], 16777619) ^ lines[k], 16777619);
      h = Math.imul(h ^ 0x5f, 16777619); // location boundary: where the inlined run ends
    }
    let e = byHash.get(h);
    while (e && !sameStack(e, i)) e = e.next;
    if (!e) {
      const frameIds: number[] = [];
      const lineNos: number[] = [];
      const inline: boolean[] = [];
      for (let j = stackStart[i]; j < stackStart[i + 1]; j++) {
        const nodes = frames.functionsOf[stack[j]];
        const lines = frames.linesOf[stack[j]];
        for (let k = 0; k < nodes.length; k++) {
          frameIds.push(nodes[k]);
          lineNos.push(lines[k]);
          inline.push(k < nodes.length - 1);
        }
      }
      e = { frameIds, lines: lineNos, inline, labelSet: labelSet[i], sums: exactNumbers ? new Float64Array(nTypes) : new Array<bigint>(nTypes).fill(0n), next: byHash.get(h) };
      byHash.set(h, e);
      entries.push(e);
    }
    const sums = e.sums;
    if (sums instanceof Float64Array) for (let t = 0; t < nTypes; t++) sums[t] += data[i * nTypes + t] as number;
    else for (let t = 0; t < nTypes; t++) sums[t] += BigInt(data[i * nTypes + t]);
  }
  const fnHash = frames.functions.map(hashFunction);
  return entries.map((e) => {
    const values = Array.from(e.sums as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? normalizeBig(v) : v));
    return { stackId: stackIdOf(e.frameIds, e.lines, e.inline, fnHash), frameIds: e.frameIds, lines: e.lines, inline: e.inline, labels: labelSets[e.labelSet], values };
  });
}

/** Two independent 32-bit FNV-1a style lanes of a function (name, file, start line; UTF-16 code units). */
function hashFunction(f: FrameFunction): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ f.name.length;
  const text = f.file === '' && f.startLine === 0 ? f.name : `${f.name}\u0000${f.file}\u0000${f.startLine}`;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 16777619);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return [a >>> 0, b >>> 0];
}

/**
 * 64-bit id of a stack from its functions, lines and inline flags, built from per-function hashes
 * so it is the same in every profile (function ids are per profile; functions are not). Replaced
 * a SHA-256 of the joined names per stack, which was most of the stacks step's time on heap
 * profiles.
 */
export function stackIdOf(frameIds: readonly number[], lines: readonly number[], inline: readonly boolean[], fnHash: readonly [number, number][]): bigint {
  let a = 0x9747b28c;
  let b = 0x85ebca6b;
  for (let i = 0; i < frameIds.length; i++) {
    const [na, nb] = fnHash[frameIds[i]];
    const ln = inline[i] ? ~lines[i] : lines[i];
    a = Math.imul(a ^ na, 0x01000193);
    a = Math.imul(a ^ ln, 0x01000193);
    b = Math.imul(b ^ nb, 0x5bd1e995);
    b = Math.imul(b ^ (b >>> 15), 0xc2b2ae35) ^ ln;
  }
  return BigInt.asIntN(64, (BigInt(a >>> 0) << 32n) | BigInt(b >>> 0));
}
