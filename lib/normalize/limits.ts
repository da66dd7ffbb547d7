import { DecodeError, overLimit } from '../decode/errors';
import { LIMITS, timeRangeProblem } from '../model/limits';
import type { Profile } from '../model/profile';
import type { FrameTable } from './frames';

// The per-input limits of lib/model/limits.ts applied to a decoded profile, before anything is
// aggregated or written: the cost of every later step grows with samples, label sets and stack
// depth, so an input over a limit is refused here, with the limit in the reason.

const over = overLimit;

/** Throws DecodeError('limit') for a profile over a per-input limit. */
export function checkProfileLimits(p: Profile, frames: FrameTable): void {
  const { count, stackStart, stack, labelSets } = p.samples;
  if (count > LIMITS.maxSamples) throw over('samples in the profile', count, LIMITS.maxSamples);
  // labelSets[0] is the empty set.
  if (labelSets.length - 1 > LIMITS.maxLabelSets) throw over('distinct sample label sets', labelSets.length - 1, LIMITS.maxLabelSets);
  for (let i = 0; i < count; i++) {
    let n = 0;
    for (let j = stackStart[i]; j < stackStart[i + 1]; j++) n += frames.nodesOf[stack[j]].length;
    if (n > LIMITS.maxFramesPerStack) throw over(`frames in the stack of sample ${i + 1}`, n, LIMITS.maxFramesPerStack);
  }
  const long = (what: string, s: string) => {
    if (s.length > LIMITS.maxNameLength) throw over(`characters in a ${what}`, s.length, LIMITS.maxNameLength);
  };
  for (const name of frames.names) long('function name', name);
  for (const t of p.sampleTypes) {
    long('sample type', t.type);
    long('sample unit', t.unit);
  }
  for (const set of labelSets) {
    for (const l of set) {
      long('label key', l.key);
      if ('str' in l) long('label value', l.str);
    }
  }
}

/** Refuses a capture time outside the accepted range and a negative duration. */
export function checkProfileTimes(p: Profile, timeUs: number, from: 'time_nanos' | 'start'): void {
  const outside = timeRangeProblem(timeUs);
  if (outside) {
    const raw = from === 'time_nanos' ? `time_nanos ${String(p.timeNanos)}` : 'the capture start';
    throw new DecodeError('out-of-range', `${raw}: ${outside}`);
  }
  if (BigInt(p.durationNanos) < 0n) throw new DecodeError('out-of-range', `duration_nanos ${String(p.durationNanos)} is negative`);
}

/** Refuses rows whose times (epoch microseconds) fall outside the accepted range. */
export function checkRowTimes(what: string, timesUs: Iterable<number>): void {
  const nowMs = Date.now();
  for (const t of timesUs) {
    const outside = timeRangeProblem(t, nowMs);
    if (outside) throw new DecodeError('out-of-range', `${what} ${outside}`);
  }
}
