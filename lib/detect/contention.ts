import type { ProfileKind } from '../model/profile';
import { diffCommand, fmt, functionTable, grown, serviceDiff, severityOf, versionNote, versionsOf } from './common';
import type { DetectContext } from './context';
import type { Anomaly } from './finding';

// Contention: delay in the block profile (time goroutines waited on channels, locks, select) and
// in the mutex profile (time other goroutines waited for a lock this stack held) grew, and the call
// sites: each sample charged to its leaf-most frame of the service's own code (the caller of
// sync.(*Mutex).Lock, or of Unlock for the mutex profile). Delay per profile is the replicate
// (Welch, p < 0.01), >= 30% growth of the site's own delay and >= 5% of the window's delay.

/** Severity by growth factor of total delay: >= 5x high, >= 2x medium, else low. */
export const CONTENTION_HIGH_RATIO = 5;
export const CONTENTION_MEDIUM_RATIO = 2;

export async function detectContention(ctx: DetectContext): Promise<Anomaly[]> {
  const out: Anomaly[] = [];
  for (const kind of ['mutex', 'block'] as ProfileKind[]) {
    const r = await serviceDiff(ctx, kind, 'delay', 'norm');
    if (!r) continue;
    const up = grown(r);
    if (up.length === 0) continue;
    // One anomaly per call site set: the block profile usually repeats the mutex finding.
    const culprits = up.slice(0, 3).map((f) => f.name);
    if (out.some((a) => a.culprits[0] === culprits[0])) continue;
    const versions = versionsOf(r);
    const ratio = r.base.total_norm > 0 ? r.target.total_norm / r.base.total_norm : Infinity;
    const what = kind === 'mutex' ? 'lock hold time others waited for' : 'blocking delay';
    out.push({
      service: ctx.service,
      id: `${kind}-delay-grew`,
      area: 'contention',
      profile: kind,
      severity: severityOf(ratio, CONTENTION_HIGH_RATIO, CONTENTION_MEDIUM_RATIO),
      culprits,
      summary: `${what} per instance ${fmt(r.base.total_norm, 'nanoseconds')} -> ${fmt(r.target.total_norm, 'nanoseconds')}; ${up[0].name} ${fmt(up[0].base.cum_norm, 'nanoseconds')} -> ${fmt(up[0].target.cum_norm, 'nanoseconds')}${versionNote(versions)}`,
      evidence: {
        profile: kind,
        base_delay_ns_per_profile: Math.round(r.base.total_norm),
        target_delay_ns_per_profile: Math.round(r.target.total_norm),
        functions: up.slice(0, 3).map((f) => ({ name: f.name, base_ns: Math.round(f.base.cum_norm), target_ns: Math.round(f.target.cum_norm), p_value: f.p_value })),
        base_profiles: r.base.profiles,
        target_profiles: r.target.profiles,
      },
      versions,
      explanation:
        kind === 'mutex'
          ? `Goroutines wait longer for locks released in ${culprits.join(', ')}: the critical sections there got longer or hotter.`
          : `Goroutines spend more time blocked in ${culprits.join(', ')} (locks, channels, select) than in the baseline.`,
      nextStep: `Compare call sites: ${diffCommand(ctx, kind, ['--measure', 'norm'])}; shorten the critical section (no work under the lock), shard the lock or use atomics.`,
      functionsMeasure: 'ns per profile',
      functions: functionTable(r),
    });
  }
  return out;
}
