import type { Int64, Profile } from '../model/profile';
import { buildFrameTable, type FrameTable } from './frames';

// flat and cum per function, computed the way `go tool pprof -top` does at function
// granularity (internal/graph newGraph): cum is added once per sample per node, however often
// recursion repeats it; flat goes to the innermost inlined frame of the leaf location; a
// sample with no locations counts only toward the total. The total is pprof's "of N total":
// the sum of |value| over every sample.

export interface FunctionStat {
  readonly name: string;
  readonly flat: Int64;
  readonly cum: Int64;
}

export interface SampleTypeStats {
  readonly sampleType: string;
  readonly unit: string;
  readonly total: Int64;
  /** Functions with a non-zero flat or cum, in no particular order. */
  readonly functions: FunctionStat[];
}

const SAFE = Number.MAX_SAFE_INTEGER;

export function functionStats(p: Profile, frames: FrameTable = buildFrameTable(p)): SampleTypeStats[] {
  const nTypes = p.sampleTypes.length;
  const { count, stackStart, stack } = p.samples;
  const nNodes = frames.names.length;

  // Per sample, the distinct nodes of its stack, computed once for all sample types.
  const seen = new Int32Array(nNodes).fill(-1);
  const sampleNodes: Int32Array[] = new Array(count);
  const leafNode = new Int32Array(count).fill(-1);
  const scratch: number[] = [];
  for (let i = 0; i < count; i++) {
    scratch.length = 0;
    for (let j = stackStart[i]; j < stackStart[i + 1]; j++) {
      const nodes = frames.nodesOf[stack[j]];
      for (let k = 0; k < nodes.length; k++) {
        const n = nodes[k];
        if (seen[n] !== i) {
          seen[n] = i;
          scratch.push(n);
        }
      }
    }
    sampleNodes[i] = Int32Array.from(scratch);
    if (stackStart[i] < stackStart[i + 1]) leafNode[i] = frames.nodesOf[stack[stackStart[i]]][0];
  }

  const out: SampleTypeStats[] = [];
  for (let t = 0; t < nTypes; t++) {
    const { total, exact } = totalAbs(p, t);
    const flat = exact ? new Float64Array(nNodes) : new Array<bigint>(nNodes).fill(0n);
    const cum = exact ? new Float64Array(nNodes) : new Array<bigint>(nNodes).fill(0n);
    const touched = new Uint8Array(nNodes);
    for (let i = 0; i < count; i++) {
      const v = p.samples.values.data[i * nTypes + t];
      if (v === 0 || v === 0n) continue;
      const nodes = sampleNodes[i];
      if (exact) {
        const w = v as number;
        for (let k = 0; k < nodes.length; k++) (cum as Float64Array)[nodes[k]] += w;
        if (leafNode[i] >= 0) (flat as Float64Array)[leafNode[i]] += w;
      } else {
        const w = BigInt(v);
        for (let k = 0; k < nodes.length; k++) (cum as bigint[])[nodes[k]] += w;
        if (leafNode[i] >= 0) (flat as bigint[])[leafNode[i]] += w;
      }
      for (let k = 0; k < nodes.length; k++) touched[nodes[k]] = 1;
    }
    const functions: FunctionStat[] = [];
    for (let n = 0; n < nNodes; n++) {
      if (!touched[n]) continue;
      const f = exact ? (flat as Float64Array)[n] : normalizeBig((flat as bigint[])[n]);
      const c = exact ? (cum as Float64Array)[n] : normalizeBig((cum as bigint[])[n]);
      if (f === 0 && c === 0) continue; // pprof drops nodes whose flat and cum are both zero
      functions.push({ name: frames.names[n], flat: f, cum: c });
    }
    out.push({ sampleType: p.sampleTypes[t].type, unit: p.sampleTypes[t].unit, total, functions });
  }
  return out;
}

/**
 * Σ|value| for one sample type. `exact` says every partial sum of this type stays within 2^53,
 * so plain float arithmetic is exact; otherwise callers must accumulate in bigint.
 */
export function totalAbs(p: Profile, t: number): { total: Int64; exact: boolean } {
  const nTypes = p.sampleTypes.length;
  const { count } = p.samples;
  const values = p.samples.values;
  if (values.exact === 'number') {
    let s = 0;
    for (let i = 0; i < count; i++) s += Math.abs(values.data[i * nTypes + t]);
    if (s <= SAFE) return { total: s, exact: true };
  }
  let s = 0n;
  for (let i = 0; i < count; i++) {
    const v = BigInt(values.data[i * nTypes + t]);
    s += v < 0n ? -v : v;
  }
  return { total: normalizeBig(s), exact: false };
}

export function normalizeBig(v: bigint): Int64 {
  return v >= -BigInt(SAFE) && v <= BigInt(SAFE) ? Number(v) : v;
}
