import { diffCommand, functionTable, grown, serviceDiff, severityOf, versionNote, versionsOf } from './common';
import type { DetectContext } from './context';
import type { Anomaly } from './finding';

// Goroutines: the goroutine count per instance grew, and the frames holding the new goroutines:
// each goroutine is charged to the leaf-most frame of the service's own code on its stack (the
// function it is parked in, below runtime.gopark / chanrecv / select). Counts per profile are the
// replicates (Welch, p < 0.01); a frame must grow by >= 30% of its own count and by >= 5% of the
// window's goroutines.

/** Severity by the growth factor of the total count: >= 3x high, >= 1.5x medium, else low. */
export const GOROUTINE_HIGH_RATIO = 3;
export const GOROUTINE_MEDIUM_RATIO = 1.5;

export async function detectGoroutines(ctx: DetectContext): Promise<Anomaly[]> {
  const r = await serviceDiff(ctx, 'goroutine', 'goroutine', 'norm');
  if (!r) return [];
  const up = grown(r);
  if (up.length === 0) return [];
  const versions = versionsOf(r);
  const ratio = r.base.total_norm > 0 ? r.target.total_norm / r.base.total_norm : Infinity;
  const culprits = up.slice(0, 3).map((f) => f.name);
  const n = (x: number) => x.toFixed(x < 100 ? 1 : 0);
  return [
    {
      service: ctx.service,
      id: 'goroutines-grew',
      area: 'goroutines',
      profile: 'goroutine',
      severity: severityOf(ratio, GOROUTINE_HIGH_RATIO, GOROUTINE_MEDIUM_RATIO),
      culprits,
      summary: `goroutines per instance ${n(r.base.total_norm)} -> ${n(r.target.total_norm)}; ${up[0].name} holds ${n(up[0].target.cum_norm)} (was ${n(up[0].base.cum_norm)})${versionNote(versions)}`,
      evidence: {
        base_goroutines_per_profile: r.base.total_norm,
        target_goroutines_per_profile: r.target.total_norm,
        functions: up.slice(0, 3).map((f) => ({ name: f.name, base: f.base.cum_norm, target: f.target.cum_norm, p_value: f.p_value })),
        base_profiles: r.base.profiles,
        target_profiles: r.target.profiles,
      },
      versions,
      explanation: `More goroutines are alive in ${culprits.join(', ')} than in the baseline. Goroutines that wait on a channel, lock or I/O nobody completes never exit: each keeps its stack and everything it references.`,
      nextStep: `Find where they wait: ${diffCommand(ctx, 'goroutine', ['--measure', 'norm'])}; check that every goroutine started there has a way to exit (context cancellation, closed channel, timeout).`,
      functionsMeasure: 'goroutines per profile',
      functions: functionTable(r),
    },
  ];
}
