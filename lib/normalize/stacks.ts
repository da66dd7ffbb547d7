import { createHash } from 'node:crypto';
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
  readonly frames: string[];
  readonly lines: number[];
  readonly labels: readonly Label[];
  /** One value per sample type. */
  readonly values: Int64[];
}

/** `exactNumbers`: float sums are exact for every sample type (Σ|v| <= 2^53, see totalAbs). */
export function aggregateStacks(p: Profile, frames: FrameTable, exactNumbers = p.sampleTypes.every((_t, t) => totalAbs(p, t).exact)): StackAgg[] {
  const nTypes = p.sampleTypes.length;
  const { count, stackStart, stack, labelSet, labelSets } = p.samples;
  const data = p.samples.values.data;
  const byKey = new Map<string, { frames: string[]; lines: number[]; labels: readonly Label[]; sums: bigint[] | Float64Array }>();
  const frameIds: number[] = [];
  const lineNos: number[] = [];
  for (let i = 0; i < count; i++) {
    frameIds.length = 0;
    lineNos.length = 0;
    for (let j = stackStart[i]; j < stackStart[i + 1]; j++) {
      const loc = stack[j];
      const nodes = frames.nodesOf[loc];
      const lines = frames.linesOf[loc];
      for (let k = 0; k < nodes.length; k++) {
        frameIds.push(nodes[k]);
        lineNos.push(lines[k]);
      }
    }
    const key = frameIds.join(',') + '|' + lineNos.join(',') + '|' + labelSet[i];
    let agg = byKey.get(key);
    if (!agg) {
      agg = {
        frames: frameIds.map((f) => frames.names[f]),
        lines: lineNos.slice(),
        labels: labelSets[labelSet[i]],
        sums: exactNumbers ? new Float64Array(nTypes) : new Array<bigint>(nTypes).fill(0n),
      };
      byKey.set(key, agg);
    }
    for (let t = 0; t < nTypes; t++) {
      const v = data[i * nTypes + t];
      if (agg.sums instanceof Float64Array) agg.sums[t] += v as number;
      else agg.sums[t] += BigInt(v);
    }
  }
  const out: StackAgg[] = [];
  for (const agg of byKey.values()) {
    const values = Array.from(agg.sums as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? normalizeBig(v) : v));
    out.push({ stackId: stackId(agg.frames, agg.lines), frames: agg.frames, lines: agg.lines, labels: agg.labels, values });
  }
  return out;
}

export function stackId(frames: readonly string[], lines: readonly number[]): bigint {
  const h = createHash('sha256');
  for (let i = 0; i < frames.length; i++) h.update(frames[i] + '\u0000' + lines[i] + '\n');
  return h.digest().readBigInt64LE(0);
}
