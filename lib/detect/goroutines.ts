import { cohortLinks, diffCommand, evidenceNote, functionTable, grown, instanceSeries, serviceDiff, severityOf, versionNote, versionsOf } from './common';
import { mean } from '../stats/welch';
import { riseEvidence } from '../stats/evidence';
import { gaugeInstanceMeans, GOROUTINES_METRIC } from '../query/gc-metrics';
import { ALPHA, FOLD_SEPARATION, LOG_OFFSET_OF_TOTAL, meansBeyond, MIN_RELATIVE_GROWTH } from './evidence';
import { gcCommand } from './common';
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

/** Why a grown count matters, the same for both sources. */
const LEAK = 'Goroutines that wait on a channel, lock or I/O nobody completes never exit: each keeps its stack and everything it references.';

/** The fields both sources' goroutines-grew anomalies share: one id, area and severity rule. */
function grew(ctx: DetectContext, ratio: number) {
  return {
    service: ctx.service,
    id: 'goroutines-grew',
    area: 'goroutines',
    profile: 'goroutine',
    severity: severityOf(ratio, GOROUTINE_HIGH_RATIO, GOROUTINE_MEDIUM_RATIO),
  } as const;
}

export async function detectGoroutines(ctx: DetectContext): Promise<Anomaly[]> {
  const r = await serviceDiff(ctx, 'goroutine', 'goroutine', 'rate');
  // No goroutine profile on a side (an agent configured without it, a service sending only
  // runtime/metrics): the count from runtime/metrics, without the frames.
  if (!r) return detectGoroutinesFromMetrics(ctx);
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
      ...grew(ctx, ratio),
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
      explanation: `${evidenceNote(r, lead)} More goroutines are alive in ${culprits.join(', ')} than in the baseline. ${LEAK}`,
      nextStep: `Find where they wait: ${diffCommand(ctx, 'goroutine', ['--measure', 'norm'])}; check that every goroutine started there has a way to exit (context cancellation, closed channel, timeout).`,
      functionsMeasure: 'goroutines per instance',
      functions: functionTable(r),
      series: [instanceSeries(`goroutines in ${up[0].name} per instance`, 'goroutines', lead)],
      links: cohortLinks(ctx, 'goroutine', 'norm'),
    },
  ];
}

/**
 * The goroutine count per instance from runtime/metrics (/sched/goroutines:goroutines, the time
 * average of each instance's snapshots), judged by the rule of the profile path on the total: the
 * effect floor (+30%) on the instance means, and separation beyond the 3x envelope of counts on
 * the log scale (any n) or the exact permutation test at p < 0.01. runtime/metrics has no stacks,
 * so the anomaly names no culprit and says how to get one (goroutine profiles).
 */
async function detectGoroutinesFromMetrics(ctx: DetectContext): Promise<Anomaly[]> {
  const side = (s: { fromUs: number; toUs: number }) => gaugeInstanceMeans(ctx.engine, { service: ctx.service, fromUs: s.fromUs, toUs: s.toUs }, GOROUTINES_METRIC);
  const [base, target] = [await side(ctx.baseline), await side(ctx.window)];
  if (base.instances.length === 0 || target.instances.length === 0) return [];
  const b = base.instances.map((i) => i.mean);
  const t = target.instances.map((i) => i.mean);
  const bm = mean(b);
  const tm = mean(t);
  if (tm - bm < MIN_RELATIVE_GROWTH * Math.max(bm, tm)) return [];
  const offset = Math.max(1e-12, LOG_OFFSET_OF_TOTAL * mean([...b, ...t]));
  const lb = b.map((x) => Math.log(x + offset));
  const lt = t.map((x) => Math.log(x + offset));
  const ev = riseEvidence(lb, lt, { separationMargin: Math.log(FOLD_SEPARATION), alpha: ALPHA });
  // One test (the total), so no division of ALPHA; the envelope on the means as for profiles.
  if (ev.rule === null || (ev.rule === 'permutation' && !meansBeyond(lb, lt, Math.log(FOLD_SEPARATION)))) return [];
  const versions = versionsOf({ base, target });
  const ratio = bm > 0 ? tm / bm : Infinity;
  const n = (x: number) => x.toFixed(x < 100 ? 1 : 0);
  const note =
    ev.rule === 'separation'
      ? `In every one of ${t.length} window instance(s), the goroutine count is beyond every one of ${b.length} baseline instance(s) by more than run-to-run noise moves it.`
      : `Across ${t.length} window instance(s) against ${b.length} baseline instance(s), the goroutine count rose beyond the spread between instances (exact permutation test, p = ${ev.p.toPrecision(2)}).`;
  return [
    {
      ...grew(ctx, ratio),
      culprits: [],
      summary: `goroutines per instance ${n(bm)} -> ${n(tm)} (runtime/metrics; no goroutine profile says where)${versionNote(versions)}`,
      evidence: {
        source: 'runtime_metrics',
        metric: GOROUTINES_METRIC,
        base_goroutines_per_instance: bm,
        target_goroutines_per_instance: tm,
        rule: ev.rule,
        p_value: ev.p,
        base_instances: base.instances.length,
        target_instances: target.instances.length,
        base_instance_means: b,
        target_instance_means: t,
      },
      versions,
      explanation: `${note} ${LEAK} The service sends no goroutine profiles, so where they wait is not known.`,
      nextStep: `See the trend: ${gcCommand(ctx)}; to learn where they wait, collect goroutine profiles (the agent does by default: its Config.Profiles must include "goroutine"), then ${diffCommand(ctx, 'goroutine', ['--measure', 'norm'])}.`,
      series: [{ metric: 'goroutines per instance (runtime/metrics time average)', unit: 'goroutines', base: b, target: t, replicate: 'instance' }],
      links: cohortLinks(ctx, 'goroutine', 'norm'),
    },
  ];
}
