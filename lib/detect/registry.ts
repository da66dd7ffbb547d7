import type { ProfileKind } from '../model/profile';
import type { DetectContext } from './context';
import { detectContention } from './contention';
import { detectCpu } from './cpu';
import type { Anomaly, Area } from './finding';
import { detectGc } from './gc';
import { detectGoroutines } from './goroutines';
import { detectMemory } from './memory';

// Every anomaly detector of the digest, in one list. To add one: a file lib/detect/<area>.ts with
// `run(ctx) -> Anomaly[]` (each anomaly names the profile kind that goes with it), and an entry
// here with the profile kinds it reads; runDetector refuses an anomaly that attaches a kind its
// entry does not list, so the digest's email attachments follow the registry.

export interface Detector {
  area: Area;
  /** The profile kinds the detector reads; each anomaly's `profile` is one of them. */
  kinds: readonly ProfileKind[];
  run: (ctx: DetectContext) => Promise<Anomaly[]>;
}

export const DETECTORS: readonly Detector[] = [
  { area: 'cpu', kinds: ['cpu'], run: detectCpu },
  { area: 'memory', kinds: ['heap', 'allocs'], run: detectMemory },
  { area: 'goroutines', kinds: ['goroutine'], run: detectGoroutines },
  // gc_cycles drive it; the allocation profile names the culprits (heap when allocs show none).
  { area: 'gc', kinds: ['allocs', 'heap'], run: detectGc },
  { area: 'contention', kinds: ['mutex', 'block'], run: detectContention },
];

/** One detector over one service; an anomaly outside the detector's area or kinds is a bug, and says so. */
export async function runDetector(d: Detector, ctx: DetectContext): Promise<Anomaly[]> {
  const found = await d.run(ctx);
  for (const a of found) {
    if (a.area !== d.area || !d.kinds.includes(a.profile)) {
      throw new Error(`detector ${d.area} reported a ${a.area} anomaly attaching a ${a.profile} profile (registry kinds: ${d.kinds.join(', ')})`);
    }
  }
  return found;
}
