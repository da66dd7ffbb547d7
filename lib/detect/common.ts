import { isoFromUs } from '../model/time';
import type { ProfileKind } from '../model/profile';
import { diff, type DiffFunction, type DiffResult } from '../query/diff';
import { formatValue } from '../model/units';
import { isUserFunction } from '../query/user-frames';
import type { DetectContext, Span } from './context';
import type { AnomalyFunction, Severity } from './finding';
import { fleetprofCommand } from './command';

// What the profile detectors share: a diff of the window against the baseline for one service,
// kind and sample type with each sample charged to its leaf-most frame of the service's own code
// (lib/query/user-frames.ts), and the rule that turns its significant rows into culprits.

/** Each side needs this many profiles: the test uses them as replicates (Welch needs >= 2). */
export const MIN_PROFILES = 2;

/**
 * For absolute (norm) comparisons a culprit's growth must also be at least this part of the
 * window's total: a function that doubles from 0.1% to 0.2% of the heap is real but not news.
 */
export const MIN_GROWTH_OF_TOTAL = 0.05;

/** Relative effect floor for absolute comparisons: a 30% rise of the function's own value. */
export const MIN_RELATIVE_GROWTH = 0.3;

export function serviceDiff(ctx: DetectContext, kind: ProfileKind, sampleType: string, measure: 'share' | 'norm'): Promise<DiffResult | null> {
  const key = `${kind}/${sampleType}/${measure}`;
  const hit = ctx.cache?.get(key) as Promise<DiffResult | null> | undefined;
  if (hit) return hit;
  const p = computeServiceDiff(ctx, kind, sampleType, measure);
  ctx.cache?.set(key, p);
  return p;
}

async function computeServiceDiff(ctx: DetectContext, kind: ProfileKind, sampleType: string, measure: 'share' | 'norm'): Promise<DiffResult | null> {
  const r = await diff(ctx.engine, {
    kind,
    sampleType,
    service: ctx.service,
    base: span(ctx.baseline),
    target: span(ctx.window),
    measure,
    attribute: true,
    minEffect: measure === 'norm' ? MIN_RELATIVE_GROWTH : undefined,
  });
  if (r.base.profiles < MIN_PROFILES || r.target.profiles < MIN_PROFILES) return null;
  return r;
}

const span = (s: Span) => ({ fromUs: s.fromUs, toUs: s.toUs });

/** Significant rises of the service's own functions, largest first. */
export function grown(r: DiffResult): DiffFunction[] {
  return r.functions
    .filter((f) => f.significant && isUserFunction(f.name))
    .filter((f) => (r.measure === 'norm' ? f.delta_cum_norm > 0 && f.delta_cum_norm >= MIN_GROWTH_OF_TOTAL * r.target.total_norm : f.delta_cum_share > 0))
    .sort((a, b) => (r.measure === 'norm' ? b.delta_cum_norm - a.delta_cum_norm : b.delta_cum_share - a.delta_cum_share));
}

/** The table shown with an anomaly: the culprits, then the largest other movers. */
export function functionTable(r: DiffResult, limit = 10): AnomalyFunction[] {
  const norm = r.measure === 'norm';
  const rows = [...r.functions].sort((a, b) => Number(b.significant) - Number(a.significant) || Math.abs(norm ? b.delta_cum_norm : b.delta_cum_share) - Math.abs(norm ? a.delta_cum_norm : a.delta_cum_share));
  return rows.slice(0, limit).map((f) => ({
    name: f.name,
    base: norm ? f.base.cum_norm : f.base.cum_share,
    target: norm ? f.target.cum_norm : f.target.cum_share,
    delta: norm ? f.delta_cum_norm : f.delta_cum_share,
    p_value: f.p_value,
    significant: f.significant,
  }));
}

export function versionsOf(r: { base: { versions: string[] }; target: { versions: string[] } }): { base?: string; target?: string } {
  const j = (v: string[]) => (v.length === 0 ? undefined : v.map((x) => x || '(none)').join(','));
  return { base: j(r.base.versions), target: j(r.target.versions) };
}

/** " after the version change v1 -> v2" when the window runs another version than the baseline. */
export function versionNote(v: { base?: string; target?: string }): string {
  return v.base !== undefined && v.target !== undefined && v.base !== v.target ? ` after the version change ${v.base} -> ${v.target}` : '';
}

export function severityOf(score: number, high: number, medium: number): Severity {
  return score >= high ? 'high' : score >= medium ? 'medium' : 'low';
}

export const fmt = (v: number, unit: string) => formatValue(BigInt(Math.round(v)), unit);

export function iso(us: number): string {
  return isoFromUs(us);
}

export function topCommand(ctx: DetectContext, kind: string, extra: string[] = []): string {
  return fleetprofCommand('top', '--data', ctx.dataDir ?? 'DIR', '--type', kind, ...extra, '--service', ctx.service, '--from', iso(ctx.window.fromUs), '--to', iso(ctx.window.toUs));
}

export function diffCommand(ctx: DetectContext, kind: string, extra: string[] = []): string {
  return fleetprofCommand(
    'diff', '--data', ctx.dataDir ?? 'DIR', '--type', kind, ...extra, '--service', ctx.service,
    '--base-from', iso(ctx.baseline.fromUs), '--base-to', iso(ctx.baseline.toUs), '--from', iso(ctx.window.fromUs), '--to', iso(ctx.window.toUs),
  );
}

export function gcCommand(ctx: DetectContext, withData = false): string {
  return fleetprofCommand('gc', withData && '--data', withData && (ctx.dataDir ?? 'DIR'), '--service', ctx.service);
}

/**
 * Allocation sites that grew: their share of allocated bytes rose significantly AND their bytes per
 * profile did too. Shares alone move when other sites shrink (a slower service allocates less in its
 * request path, so the profiler's own allocations gain share); bytes alone depend on how long each
 * process ran (allocs counts since process start).
 */
export async function grownAllocationSites(ctx: DetectContext): Promise<{ share: DiffResult; sites: DiffFunction[] } | null> {
  const share = await serviceDiff(ctx, 'allocs', 'alloc_space', 'share');
  if (!share) return null;
  const up = grown(share);
  if (up.length === 0) return { share, sites: [] };
  const norm = await serviceDiff(ctx, 'allocs', 'alloc_space', 'norm');
  const abs = new Set((norm ? grown(norm) : []).map((f) => f.name));
  return { share, sites: up.filter((f) => abs.has(f.name)) };
}
