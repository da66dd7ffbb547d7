import { formatPercent } from '../model/units';
import { diffCommand, functionTable, grown, serviceDiff, severityOf, topCommand, versionNote, versionsOf } from './common';
import type { DetectContext } from './context';
import type { Anomaly } from './finding';

// CPU: a function of the service whose share of the CPU grew, or that appeared, in the window.
// Each CPU sample is charged to its leaf-most frame of the service's own code, so time in
// runtime.mallocgc or runtime.asyncPreempt counts for the function that caused it. The test is the
// diff's: per-profile shares as replicates (Welch, p < 0.01) and at least 2 percentage points.

/** Severity by the growth of the culprit's share: >= 15 points high, >= 5 medium, else low. */
export const CPU_HIGH_DELTA = 0.15;
export const CPU_MEDIUM_DELTA = 0.05;

export async function detectCpu(ctx: DetectContext): Promise<Anomaly[]> {
  const r = await serviceDiff(ctx, 'cpu', 'cpu', 'share');
  if (!r) return [];
  const up = grown(r);
  if (up.length === 0) return [];
  const versions = versionsOf(r);
  const lead = up[0];
  const appeared = lead.base.cum_share === 0;
  const culprits = up.slice(0, 3).map((f) => f.name);
  const coresBase = r.base.total_norm / 1e9;
  const coresTarget = r.target.total_norm / 1e9;
  return [
    {
      service: ctx.service,
      id: 'cpu-share-grew',
      area: 'cpu',
      profile: 'cpu',
      severity: severityOf(lead.delta_cum_share, CPU_HIGH_DELTA, CPU_MEDIUM_DELTA),
      culprits,
      summary: appeared
        ? `${lead.name} appeared with ${formatPercent(lead.target.cum_share)} of CPU${versionNote(versions)}`
        : `${lead.name} went from ${formatPercent(lead.base.cum_share)} to ${formatPercent(lead.target.cum_share)} of CPU${versionNote(versions)}`,
      evidence: {
        functions: up.slice(0, 3).map((f) => ({ name: f.name, base_share: f.base.cum_share, target_share: f.target.cum_share, p_value: f.p_value })),
        base_profiles: r.base.profiles,
        target_profiles: r.target.profiles,
        base_cores: coresBase,
        target_cores: coresTarget,
      },
      versions,
      explanation:
        `Across ${r.target.profiles} window profiles against ${r.base.profiles} baseline profiles, ${culprits.join(', ')} ` +
        `${culprits.length > 1 ? 'take' : 'takes'} a larger share of the service's CPU (own time plus runtime work it triggers), ` +
        `beyond the spread between profiles of the same period. The service used ${coresBase.toFixed(2)} cores per profiled second before and ${coresTarget.toFixed(2)} now.`,
      nextStep: `Compare the two periods function by function: ${diffCommand(ctx, 'cpu')}; then look at ${lead.name} in ${topCommand(ctx, 'cpu', ['--by', 'cum'])}.`,
      functionsMeasure: 'share',
      functions: functionTable(r),
    },
  ];
}
