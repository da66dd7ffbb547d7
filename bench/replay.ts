import type { Profile } from '../lib/model/profile';
import { mulberry32 } from '../lib/stats/random';

export { mulberry32 };

// A fleet day from a few real profiles: every replay is perturbed the way two captures of the
// same code differ (some stacks missing, counts off by a few), so storage numbers are not
// flattered by byte-identical copies that a compressor would deduplicate for free.

/**
 * Drops each sample with probability 10% and moves each count by -1..+1; for CPU the second
 * value (nanoseconds) follows the count (count x period), as the runtime writes it.
 */
export function perturb(p: Profile, rnd: () => number, timeNanos: number): Profile {
  if (p.samples.values.exact !== 'number') throw new Error('replay expects number values');
  const nT = p.sampleTypes.length;
  const { count, stackStart, stack, labelSet } = p.samples;
  const src = p.samples.values.data;
  const keep: number[] = [];
  for (let i = 0; i < count; i++) if (rnd() >= 0.1) keep.push(i);
  const starts = new Uint32Array(keep.length + 1);
  const stk: number[] = [];
  const values = new Float64Array(keep.length * nT);
  const labels = new Uint32Array(keep.length);
  const period = Number(p.period) || 1;
  keep.forEach((i, k) => {
    starts[k] = stk.length;
    for (let j = stackStart[i]; j < stackStart[i + 1]; j++) stk.push(stack[j]);
    const c = Math.max(1, src[i * nT] + Math.floor(rnd() * 3) - 1);
    values[k * nT] = c;
    for (let t = 1; t < nT; t++) values[k * nT + t] = p.sampleTypes[t].type === 'cpu' ? c * period : src[i * nT + t];
    labels[k] = labelSet[i];
  });
  starts[keep.length] = stk.length;
  return {
    ...p,
    timeNanos,
    samples: { ...p.samples, count: keep.length, stackStart: starts, stack: Uint32Array.from(stk), values: { exact: 'number', data: values }, labelSet: labels },
  };
}
