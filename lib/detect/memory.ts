import { formatPercent } from '../model/units';
import { diffCommand, fmt, functionTable, gcCommand, grown, grownAllocationSites, serviceDiff, severityOf, versionNote, versionsOf } from './common';
import type { DetectContext } from './context';
import type { Anomaly } from './finding';

// Memory: (1) heap in use (heap/inuse_space, a snapshot) grew, and which allocation sites hold the
// growth: absolute bytes per profile, per-profile values as replicates (Welch, p < 0.01), the site
// must grow by >= 30% of its own size and by >= 5% of the window's heap; (2) the allocation mix
// (allocs/alloc_space) moved: a site's share of all bytes allocated grew by >= 2 points (p < 0.01)
// and its bytes per profile grew too (common.ts grownAllocationSites).
// The allocs profile counts since process start, so shares, not absolute bytes, compare across
// processes that ran for different times.

/** Heap severity by total growth of the in-use heap: >= 2x high, >= 1.3x medium, else low. */
export const HEAP_HIGH_RATIO = 2;
export const HEAP_MEDIUM_RATIO = 1.3;
/** Allocation-mix severity by growth of the culprit's share: >= 20 points high, >= 8 medium. */
export const ALLOC_HIGH_DELTA = 0.2;
export const ALLOC_MEDIUM_DELTA = 0.08;

export async function detectMemory(ctx: DetectContext): Promise<Anomaly[]> {
  const out: Anomaly[] = [];
  const heap = await serviceDiff(ctx, 'heap', 'inuse_space', 'norm');
  if (heap) {
    const up = grown(heap);
    if (up.length > 0) {
      const versions = versionsOf(heap);
      const ratio = heap.base.total_norm > 0 ? heap.target.total_norm / heap.base.total_norm : Infinity;
      const culprits = up.slice(0, 3).map((f) => f.name);
      out.push({
        service: ctx.service,
        id: 'heap-inuse-grew',
        area: 'memory',
        profile: 'heap',
        severity: severityOf(ratio, HEAP_HIGH_RATIO, HEAP_MEDIUM_RATIO),
        culprits,
        summary: `heap in use per instance ${fmt(heap.base.total_norm, 'bytes')} -> ${fmt(heap.target.total_norm, 'bytes')}; ${up[0].name} holds ${fmt(up[0].target.cum_norm, 'bytes')} (was ${fmt(up[0].base.cum_norm, 'bytes')})${versionNote(versions)}`,
        evidence: {
          base_inuse_bytes_per_profile: Math.round(heap.base.total_norm),
          target_inuse_bytes_per_profile: Math.round(heap.target.total_norm),
          functions: up.slice(0, 3).map((f) => ({ name: f.name, base_bytes: Math.round(f.base.cum_norm), target_bytes: Math.round(f.target.cum_norm), p_value: f.p_value })),
          base_profiles: heap.base.profiles,
          target_profiles: heap.target.profiles,
        },
        versions,
        explanation:
          `The heap profile of each instance counts the bytes still reachable at the last GC. ${culprits.join(', ')} ` +
          `allocated memory that is now kept alive in larger amounts than in the baseline, consistently across profiles: a leak, an unbounded cache or a larger working set.`,
        nextStep: `See who holds it: ${diffCommand(ctx, 'heap', ['--measure', 'norm'])}; check whether it keeps growing with ${gcCommand(ctx)} (heap-growing).`,
        functionsMeasure: 'bytes per profile',
        functions: functionTable(heap),
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
        severity: severityOf(lead.delta_cum_share, ALLOC_HIGH_DELTA, ALLOC_MEDIUM_DELTA),
        culprits,
        summary: `${lead.name} allocates ${formatPercent(lead.target.cum_share)} of all bytes (was ${formatPercent(lead.base.cum_share)})${versionNote(versions)}`,
        evidence: {
          functions: up.slice(0, 3).map((f) => ({ name: f.name, base_share: f.base.cum_share, target_share: f.target.cum_share, p_value: f.p_value })),
          base_profiles: allocs.base.profiles,
          target_profiles: allocs.target.profiles,
        },
        versions,
        explanation: `The allocation mix changed: ${culprits.join(', ')} allocate a larger part of the service's bytes than in the baseline. More allocation means more GC work and more assist latency.`,
        nextStep: `Compare allocation sites: ${diffCommand(ctx, 'allocs')}; GC effect: ${gcCommand(ctx)}.`,
        functionsMeasure: 'share',
        functions: functionTable(allocs),
      });
    }
  }
  return out;
}
