import { formatPercent } from '../model/units';
import { mean } from '../stats/welch';
import { cohortLinks, diffCommand, evidenceNote, fmt, functionTable, gcCommand, grown, grownAllocationSites, instanceSeries, serviceDiff, severityOf, versionNote, versionsOf } from './common';
import type { DetectContext } from './context';
import type { Anomaly } from './finding';

// Memory: (1) heap in use (heap/inuse_space, a gauge: each instance's time average) grew, and which
// allocation sites hold the growth: the rule of lib/detect/evidence.ts on bytes per instance (+30%,
// >= 5% of the window's heap, every window instance at 3x every baseline instance or the exact
// permutation test); (2) the allocation mix (allocs/alloc_space) moved: a site's share of all
// bytes allocated rose by the share rule (>= 2 points; 10 points in every instance, or the
// permutation test) and its bytes per second per instance rose too (common.ts grownAllocationSites).

/** Heap severity by total growth of the in-use heap: >= 2x high, >= 1.3x medium, else low. */
export const HEAP_HIGH_RATIO = 2;
export const HEAP_MEDIUM_RATIO = 1.3;
/** Allocation-mix severity by growth of the culprit's share: >= 20 points high, >= 8 medium. */
export const ALLOC_HIGH_DELTA = 0.2;
export const ALLOC_MEDIUM_DELTA = 0.08;

export async function detectMemory(ctx: DetectContext): Promise<Anomaly[]> {
  const out: Anomaly[] = [];
  const heap = await serviceDiff(ctx, 'heap', 'inuse_space', 'rate');
  if (heap) {
    const up = grown(heap);
    if (up.length > 0) {
      const versions = versionsOf(heap);
      const bt = mean(heap.evidence.totals.base);
      const tt = mean(heap.evidence.totals.target);
      const ratio = bt > 0 ? tt / bt : Infinity;
      const culprits = up.slice(0, 3).map((f) => f.name);
      const lead = up[0].ev;
      out.push({
        service: ctx.service,
        id: 'heap-inuse-grew',
        area: 'memory',
        profile: 'heap',
        severity: severityOf(ratio, HEAP_HIGH_RATIO, HEAP_MEDIUM_RATIO),
        culprits,
        summary: `heap in use per instance ${fmt(bt, 'bytes')} -> ${fmt(tt, 'bytes')}; ${up[0].name} holds ${fmt(lead.targetMean, 'bytes')} (was ${fmt(lead.baseMean, 'bytes')})${versionNote(versions)}`,
        evidence: {
          base_inuse_bytes_per_instance: Math.round(bt),
          target_inuse_bytes_per_instance: Math.round(tt),
          functions: up.slice(0, 3).map((f) => ({ name: f.name, base_bytes: Math.round(f.ev.baseMean), target_bytes: Math.round(f.ev.targetMean), rule: f.ev.rule, p_value: f.ev.p, base_instances: f.ev.base, target_instances: f.ev.target })),
          base_instances: heap.evidence.instances.base,
          target_instances: heap.evidence.instances.target,
        },
        versions,
        explanation:
          `${evidenceNote(heap, lead)} The heap profile counts the bytes still reachable at the last GC: ${culprits.join(', ')} ` +
          `allocated memory that is now kept alive in larger amounts than in the baseline: a leak, an unbounded cache or a larger working set.`,
        nextStep: `See who holds it: ${diffCommand(ctx, 'heap', ['--measure', 'norm'])}; check whether it keeps growing with ${gcCommand(ctx)} (heap-growing).`,
        functionsMeasure: 'bytes per instance',
        functions: functionTable(heap),
        series: [instanceSeries(`heap in use held by ${up[0].name} per instance`, 'bytes', lead)],
        links: cohortLinks(ctx, 'heap', 'norm'),
      });
    }
  }
  const ga = await grownAllocationSites(ctx);
  if (ga) {
    const allocs = ga.share;
    const up = ga.sites;
    if (up.length > 0) {
      const versions = versionsOf(allocs);
      const lead = up[0];
      const culprits = up.slice(0, 3).map((f) => f.name);
      out.push({
        service: ctx.service,
        id: 'alloc-sites-grew',
        area: 'memory',
        profile: 'allocs',
        severity: severityOf(lead.ev.targetMean - lead.ev.baseMean, ALLOC_HIGH_DELTA, ALLOC_MEDIUM_DELTA),
        culprits,
        summary: `${lead.name} allocates ${formatPercent(lead.ev.targetMean)} of all bytes (was ${formatPercent(lead.ev.baseMean)})${versionNote(versions)}`,
        evidence: {
          functions: up.slice(0, 3).map((f) => ({ name: f.name, base_share: f.ev.baseMean, target_share: f.ev.targetMean, rule: f.ev.rule, p_value: f.ev.p, base_instances: f.ev.base, target_instances: f.ev.target })),
          base_instances: allocs.evidence.instances.base,
          target_instances: allocs.evidence.instances.target,
        },
        versions,
        explanation: `${evidenceNote(allocs, lead.ev)} The allocation mix changed: ${culprits.join(', ')} allocate a larger part of the service's bytes than in the baseline. More allocation means more GC work and more assist latency.`,
        nextStep: `Compare allocation sites: ${diffCommand(ctx, 'allocs')}; GC effect: ${gcCommand(ctx)}.`,
        functionsMeasure: 'share',
        functions: functionTable(allocs),
        series: [instanceSeries(`${lead.name}: share of allocated bytes per instance`, 'fraction', lead.ev)],
        links: cohortLinks(ctx, 'allocs'),
      });
    }
  }
  return out;
}
