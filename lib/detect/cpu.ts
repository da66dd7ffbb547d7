import { formatPercent } from '../model/units';
import { cohortLinks, diffCommand, evidenceNote, functionTable, grown, instanceSeries, serviceDiff, severityOf, topCommand, versionNote, versionsOf } from './common';
import type { DetectContext } from './context';
import type { Anomaly } from './finding';

// CPU: a function of the service whose share of the CPU grew, or that appeared, in the window.
// Each CPU sample is charged to its leaf-most frame of the service's own code, so time in
// runtime.mallocgc or runtime.asyncPreempt counts for the function that caused it. Replicates are
// instances (their profiles added up); the rule is lib/detect/evidence.ts's on shares: >= 2 points
// on the instance means, and every window instance 10 points above every baseline instance, or
// the exact permutation test at p < 0.01.

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
  const appeared = lead.ev.base.every((x) => x === 0);
  const culprits = up.slice(0, 3).map((f) => f.name);
  const coresBase = r.base.total_norm / 1e9;
  const coresTarget = r.target.total_norm / 1e9;
  const delta = lead.ev.targetMean - lead.ev.baseMean;
  return [
    {
      service: ctx.service,
      id: 'cpu-share-grew',
      area: 'cpu',
      profile: 'cpu',
      severity: severityOf(delta, CPU_HIGH_DELTA, CPU_MEDIUM_DELTA),
      culprits,
      summary: appeared
        ? `${lead.name} appeared with ${formatPercent(lead.ev.targetMean)} of CPU${versionNote(versions)}`
        : `${lead.name} went from ${formatPercent(lead.ev.baseMean)} to ${formatPercent(lead.ev.targetMean)} of CPU${versionNote(versions)}`,
      evidence: {
        functions: up.slice(0, 3).map((f) => ({ name: f.name, base_share: f.ev.baseMean, target_share: f.ev.targetMean, rule: f.ev.rule, p_value: f.ev.p, base_instances: f.ev.base, target_instances: f.ev.target })),
        base_instances: r.evidence.instances.base,
        target_instances: r.evidence.instances.target,
        base_profiles: r.base.profiles,
        target_profiles: r.target.profiles,
        base_cores: coresBase,
        target_cores: coresTarget,
      },
      versions,
      explanation:
        `${evidenceNote(r, lead.ev)} ${culprits.join(', ')} ` +
        `${culprits.length > 1 ? 'take' : 'takes'} a larger share of the service's CPU (own time plus runtime work it triggers). ` +
        `The service used ${coresBase.toFixed(2)} cores per profiled second before and ${coresTarget.toFixed(2)} now.`,
      nextStep: `Compare the two periods function by function: ${diffCommand(ctx, 'cpu')}; then look at ${lead.name} in ${topCommand(ctx, 'cpu', ['--by', 'cum'])}.`,
      functionsMeasure: 'share',
      functions: functionTable(r),
      series: [instanceSeries(`${lead.name}: share of CPU per instance`, 'fraction', lead.ev)],
      links: cohortLinks(ctx, 'cpu'),
    },
  ];
}
