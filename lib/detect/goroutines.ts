import { cohortLinks, diffCommand, evidenceNote, functionTable, grown, instanceSeries, serviceDiff, severityOf, versionNote, versionsOf } from './common';
import { mean } from '../stats/welch';
import type { DetectContext } from './context';
import type { Anomaly } from './finding';

// Goroutines: the goroutine count per instance grew, and the frames holding the new goroutines:
// each goroutine is charged to the leaf-most frame of the service's own code on its stack (the
// function it is parked in, below runtime.gopark / chanrecv / select). Replicates are instances
// (their time-average count); the rule is lib/detect/evidence.ts's on counts: +30% and >= 5% of
// the window's goroutines, and every window instance at 3x every baseline instance, or the exact
// permutation test at p < 0.01.

/** Severity by the growth factor of the total count: >= 3x high, >= 1.5x medium, else low. */
export const GOROUTINE_HIGH_RATIO = 3;
export const GOROUTINE_MEDIUM_RATIO = 1.5;

export async function detectGoroutines(ctx: DetectContext): Promise<Anomaly[]> {
  const r = await serviceDiff(ctx, 'goroutine', 'goroutine', 'rate');
  if (!r) return [];
  const up = grown(r);
  if (up.length === 0) return [];
  const versions = versionsOf(r);
  const bt = mean(r.evidence.totals.base);
  const tt = mean(r.evidence.totals.target);
  const ratio = bt > 0 ? tt / bt : Infinity;
  const culprits = up.slice(0, 3).map((f) => f.name);
  const n = (x: number) => x.toFixed(x < 100 ? 1 : 0);
  const lead = up[0].ev;
  return [
    {
      service: ctx.service,
      id: 'goroutines-grew',
      area: 'goroutines',
      profile: 'goroutine',
      severity: severityOf(ratio, GOROUTINE_HIGH_RATIO, GOROUTINE_MEDIUM_RATIO),
      culprits,
      summary: `goroutines per instance ${n(bt)} -> ${n(tt)}; ${up[0].name} holds ${n(lead.targetMean)} (was ${n(lead.baseMean)})${versionNote(versions)}`,
      evidence: {
        base_goroutines_per_instance: bt,
        target_goroutines_per_instance: tt,
        functions: up.slice(0, 3).map((f) => ({ name: f.name, base: f.ev.baseMean, target: f.ev.targetMean, rule: f.ev.rule, p_value: f.ev.p, base_instances: f.ev.base, target_instances: f.ev.target })),
        base_instances: r.evidence.instances.base,
        target_instances: r.evidence.instances.target,
      },
      versions,
      explanation: `${evidenceNote(r, lead)} More goroutines are alive in ${culprits.join(', ')} than in the baseline. Goroutines that wait on a channel, lock or I/O nobody completes never exit: each keeps its stack and everything it references.`,
      nextStep: `Find where they wait: ${diffCommand(ctx, 'goroutine', ['--measure', 'norm'])}; check that every goroutine started there has a way to exit (context cancellation, closed channel, timeout).`,
      functionsMeasure: 'goroutines per instance',
      functions: functionTable(r),
      series: [instanceSeries(`goroutines in ${up[0].name} per instance`, 'goroutines', lead)],
      links: cohortLinks(ctx, 'goroutine', 'norm'),
    },
  ];
}
