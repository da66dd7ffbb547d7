import type { ProfileKind } from '../model/profile';
import { mean } from '../stats/welch';
import { cohortLinks, diffCommand, evidenceNote, fmt, functionTable, grown, instanceSeries, serviceDiff, severityOf, versionNote, versionsOf } from './common';
import type { DetectContext } from './context';
import type { Anomaly } from './finding';
import { CONTENTION_EVENTS_SAMPLE_TYPE } from './evidence';

// Contention: delay in the block profile (time goroutines waited on channels, locks, select) and
// in the mutex profile (time other goroutines waited for a lock this stack held) grew, and the call
// sites: each sample charged to its leaf-most frame of the service's own code (the caller of
// sync.(*Mutex).Lock, or of Unlock for the mutex profile). Replicates are instances (delay per
// second of the side's span: the profiles count increases); the rule is lib/detect/evidence.ts's:
// +30% and >= 5% of the window's delay, and every window instance at 10x every baseline instance,
// or the exact permutation test at p < 0.01; and the site's contention count (events per second)
// must have risen by the same rule at the 3x envelope of rates: more waits, not one long wait.

/** Severity by growth factor of total delay: >= 5x high, >= 2x medium, else low. */
export const CONTENTION_HIGH_RATIO = 5;
export const CONTENTION_MEDIUM_RATIO = 2;

export async function detectContention(ctx: DetectContext): Promise<Anomaly[]> {
  const out: Anomaly[] = [];
  for (const kind of ['mutex', 'block'] as ProfileKind[]) {
    const r = await serviceDiff(ctx, kind, 'delay', 'rate');
    if (!r) continue;
    let up = grown(r);
    if (up.length === 0) continue;
    // More delay must come with more waits (lib/detect/evidence.ts CONTENTION_EVENTS_SAMPLE_TYPE).
    const events = await serviceDiff(ctx, kind, CONTENTION_EVENTS_SAMPLE_TYPE, 'rate');
    if (!events) continue;
    up = up.filter((f) => events.evidence.of(f.name).rule !== null);
    if (up.length === 0) continue;
    // One anomaly per call site set: the block profile usually repeats the mutex finding.
    const culprits = up.slice(0, 3).map((f) => f.name);
    if (out.some((a) => a.culprits[0] === culprits[0])) continue;
    const versions = versionsOf(r);
    const bt = mean(r.evidence.totals.base);
    const tt = mean(r.evidence.totals.target);
    const ratio = bt > 0 ? tt / bt : Infinity;
    const lead = up[0].ev;
    const what = kind === 'mutex' ? 'lock hold time others waited for' : 'blocking delay';
    const perS = (v: number) => `${fmt(v, 'nanoseconds')}/s`;
    out.push({
      service: ctx.service,
      id: `${kind}-delay-grew`,
      area: 'contention',
      profile: kind,
      severity: severityOf(ratio, CONTENTION_HIGH_RATIO, CONTENTION_MEDIUM_RATIO),
      culprits,
      summary: `${what} per instance ${perS(bt)} -> ${perS(tt)}; ${up[0].name} ${perS(lead.baseMean)} -> ${perS(lead.targetMean)}${versionNote(versions)}`,
      evidence: {
        profile: kind,
        base_delay_ns_per_s: bt,
        target_delay_ns_per_s: tt,
        functions: up.slice(0, 3).map((f) => {
          const e = events.evidence.of(f.name);
          return {
            name: f.name,
            base_ns_per_s: f.ev.baseMean,
            target_ns_per_s: f.ev.targetMean,
            rule: f.ev.rule,
            p_value: f.ev.p,
            base_instances: f.ev.base,
            target_instances: f.ev.target,
            base_contentions_per_s: e.baseMean,
            target_contentions_per_s: e.targetMean,
            contentions_rule: e.rule,
          };
        }),
        base_instances: r.evidence.instances.base,
        target_instances: r.evidence.instances.target,
      },
      versions,
      explanation:
        evidenceNote(r, lead) +
        ' ' +
        (kind === 'mutex'
          ? `Goroutines wait longer for locks released in ${culprits.join(', ')}: the critical sections there got longer or hotter.`
          : `Goroutines spend more time blocked in ${culprits.join(', ')} (locks, channels, select) than in the baseline.`),
      nextStep: `Compare call sites: ${diffCommand(ctx, kind, ['--measure', 'norm'])}; shorten the critical section (no work under the lock), shard the lock or use atomics.`,
      functionsMeasure: 'ns per process',
      functions: functionTable(r),
      series: [instanceSeries(`${kind} delay in ${up[0].name} per instance (per second)`, 'nanoseconds', lead)],
      links: cohortLinks(ctx, kind, 'norm'),
    });
  }
  return out;
}
