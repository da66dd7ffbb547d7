import type { Int64, Label, Profile } from '../model/profile';
import type { FrameTable } from './frames';
import { normalizeBig, totalAbs } from './functions';

// Distinct stacks of a profile, with their summed values. A stack is the sequence of frames
// (function name + line), leaf first, with inlined frames expanded; samples whose stacks differ
// only in addresses collapse into one row. Together with the labels that is everything needed
// to rebuild flame graphs and a merged pprof whose `-top` equals the original's.

export interface StackAgg {
  /** Deterministic across profiles: the same frames always get the same id. */
  readonly stackId: bigint;
  /** Frame ids (indices into FrameTable.names), leaf first. */
  readonly frameIds: number[];
  readonly lines: number[];
  readonly labels: readonly Label[];
  /** One value per sample type. */
  readonly values: Int64[];
}

interface Entry {
  frameIds: number[];
  lines: number[];
  labelSet: number;
  sums: bigint[] | Float64Array;
  next: Entry | undefined; // same hash
}

/** `exactNumbers`: float sums are exact for every sample type (Σ|v| <= 2^53, see totalAbs). */
export function aggregateStacks(p: Profile, frames: FrameTable, exactNumbers = p.sampleTypes.every((_t, t) => totalAbs(p, t).exact)): StackAgg[] {
  const nTypes = p.sampleTypes.length;
  const { count, stackStart, stack, labelSet, labelSets } = p.samples;
  const data = p.samples.values.data;
  // Keyed by a numeric hash of (frames, lines, label set), confirmed on a match: building a
  // string key per sample was the largest cost of this step when measured.
  const byHash = new Map<number, Entry>();
  const entries: Entry[] = [];
  const sameStack = (e: Entry, i: number): boolean => {
    if (e.labelSet !== labelSet[i]) return false;
    let n = 0;
    for (let j = stackStart[i]; j < stackStart[i + 1]; j++) {
      const nodes = frames.nodesOf[stack[j]];
      const lines = frames.linesOf[stack[j]];
      for (let k = 0; k < nodes.length; k++, n++) if (e.frameIds[n] !== nodes[k] || e.lines[n] !== lines[k]) return false;
    }
    return n === e.frameIds.length;
  };
  for (let i = 0; i < count; i++) {
    let h = Math.imul(0x811c9dc5 ^ labelSet[i], 16777619);
    for (let j = stackStart[i]; j < stackStart[i + 1]; j++) {
      const nodes = frames.nodesOf[stack[j]];
      const lines = frames.linesOf[stack[j]];
      for (let k = 0; k < nodes.length; k++) h = Math.imul(Math.imul(h ^ nodes[k], 16777619) ^ lines[k], 16777619);
    }
    let e = byHash.get(h);
    while (e && !sameStack(e, i)) e = e.next;
    if (!e) {
      const frameIds: number[] = [];
      const lineNos: number[] = [];
      for (let j = stackStart[i]; j < stackStart[i + 1]; j++) {
        const nodes = frames.nodesOf[stack[j]];
        const lines = frames.linesOf[stack[j]];
        for (let k = 0; k < nodes.length; k++) {
          frameIds.push(nodes[k]);
          lineNos.push(lines[k]);
        }
      }
      e = { frameIds, lines: lineNos, labelSet: labelSet[i], sums: exactNumbers ? new Float64Array(nTypes) : new Array<bigint>(nTypes).fill(0n), next: byHash.get(h) };
      byHash.set(h, e);
      entries.push(e);
    }
    const sums = e.sums;
    if (sums instanceof Float64Array) for (let t = 0; t < nTypes; t++) sums[t] += data[i * nTypes + t] as number;
    else for (let t = 0; t < nTypes; t++) sums[t] += BigInt(data[i * nTypes + t]);
  }
  const nameHash = frames.names.map(hashName);
  return entries.map((e) => {
    const values = Array.from(e.sums as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? normalizeBig(v) : v));
    return { stackId: stackIdOf(e.frameIds, e.lines, nameHash), frameIds: e.frameIds, lines: e.lines, labels: labelSets[e.labelSet], values };
  });
}

/** Two independent 32-bit FNV-1a style lanes of a frame name (UTF-16 code units). */
function hashName(name: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ name.length;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    a = Math.imul(a ^ c, 16777619);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return [a >>> 0, b >>> 0];
}

/**
 * 64-bit id of a stack from its frame names and lines, built from per-name hashes so it is the
 * same in every profile (frame ids are per profile; names are not). Replaced a SHA-256 of the
 * joined names per stack, which was most of the stacks step's time on heap profiles.
 */
export function stackIdOf(frameIds: readonly number[], lines: readonly number[], nameHash: readonly [number, number][]): bigint {
  let a = 0x9747b28c;
  let b = 0x85ebca6b;
  for (let i = 0; i < frameIds.length; i++) {
    const [na, nb] = nameHash[frameIds[i]];
    a = Math.imul(a ^ na, 0x01000193);
    a = Math.imul(a ^ lines[i], 0x01000193);
    b = Math.imul(b ^ nb, 0x5bd1e995);
    b = Math.imul(b ^ (b >>> 15), 0xc2b2ae35) ^ lines[i];
  }
  return BigInt.asIntN(64, (BigInt(a >>> 0) << 32n) | BigInt(b >>> 0));
}
