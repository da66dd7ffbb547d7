import { isoFromUs } from '../model/time';
import type { ProfileKind } from '../model/profile';
import { diffOfReplicates, loadProfiles, type DiffFunction, type DiffQuery, type DiffResult } from '../query/diff';
import { loadInstanceValues } from '../query/instance-values';
import { cohortPredicate } from '../query/cohort';
import { complement } from '../query/plan';
import { judgeDiff, type FunctionEvidence, type Measure, type SideEvidence } from './evidence';
import { formatValue } from '../model/units';
import { isUserFunction } from '../query/user-frames';
import { CONTENTION_EVENTS_SAMPLE_TYPE, MIN_RELATIVE_GROWTH } from './evidence';
import type { DetectContext, Span } from './context';
import type { AnomalyFunction, AnomalyLink, AnomalySeries, Severity } from './finding';
import { fleetprofCommand } from './command';

// What the profile detectors share: a diff of the window against the baseline for one service,
// kind and sample type with each sample charged to its leaf-most frame of the service's own code
// (lib/query/user-frames.ts), and the rule that turns its significant rows into culprits.

/** Each side needs this many instances: the small-n rules of lib/detect/evidence.ts hold from one on. */
export const MIN_INSTANCES = 1;

/** A diff of one service with the digest's own decision (lib/detect/evidence.ts) in `evidence`. */
export interface ServiceDiff extends DiffResult {
  evidence: SideEvidence;
}

export function serviceDiff(ctx: DetectContext, kind: ProfileKind, sampleType: string, measure: Measure): Promise<ServiceDiff | null> {
  const key = `${kind}/${sampleType}/${measure}`;
  const hit = ctx.cache?.get(key) as Promise<ServiceDiff | null> | undefined;
  if (hit) return hit;
  const p = computeServiceDiff(ctx, kind, sampleType, measure);
  ctx.cache?.set(key, p);
  return p;
}

async function computeServiceDiff(ctx: DetectContext, kind: ProfileKind, sampleType: string, measure: Measure): Promise<ServiceDiff | null> {
  const q: DiffQuery = {
    kind,
    sampleType,
    service: ctx.service,
    base: span(ctx.baseline),
    target: span(ctx.window),
    measure: measure === 'share' ? 'share' : 'norm',
    attribute: true,
    replicates: true,
  };
  // Each side from rollups where they answer exactly (whole rolled-up hours and days: the 7-day
  // baseline of a large fleet), else from raw rows; the detectors only add up each instance's
  // values, which both give alike (lib/query/instance-values.ts).
  const side = async (s: Span) => {
    const cohort = { kind, service: ctx.service, fromUs: s.fromUs, toUs: s.toUs, rollups: ctx.rollups };
    return (await loadInstanceValues(ctx.engine, cohort, sampleType)) ?? (await loadProfiles(ctx.engine, cohort, sampleType, true));
  };
  const r = diffOfReplicates(q, sampleType, await side(ctx.baseline), await side(ctx.window));
  const evidence = judgeDiff(r, kind, measure, await valuePerSample(ctx, kind, sampleType));
  if (evidence.instances.base < MIN_INSTANCES || evidence.instances.target < MIN_INSTANCES) return null;
  // The table shows the digest's decision, not the diff's Welch test (which needs replicates, and
  // whose replicates differ between raw rows and rollups): the evidence's p for the service's own
  // functions, none for the others; the digest's culprits first, then by size of the change.
  const rose = new Set(evidence.rose.map((e) => e.name));
  const norm = r.measure === 'norm';
  const mag = (f: DiffFunction) => Math.abs(norm ? f.delta_cum_norm : f.delta_cum_share);
  const functions = r.functions
    .map((f) => ({ ...f, significant: rose.has(f.name), p_value: isUserFunction(f.name) ? evidence.of(f.name).p : null }))
    .sort((a, b) => Number(b.significant) - Number(a.significant) || mag(b) - mag(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { replicates: _drop, ...rest } = r;
  void _drop;
  return { ...rest, functions, evidence };
}

const span = (s: Span) => ({ fromUs: s.fromUs, toUs: s.toUs });

/**
 * How much of the compared value one recorded sample stands for, for the sampling test of
 * lib/detect/evidence.ts (undefined: no test):
 *   - heap/allocs bytes: the profiles' `period` (Go's MemProfileRate, 512 KiB unless the program
 *     changed it); the largest when processes differ (the fewest samples: the conservative side);
 *   - mutex contentions: Go records 1 in MutexProfileFraction contention events and adds the
 *     fraction to the count of each one it records (runtime/mprof.go saveBlockEventStack), but
 *     writes period 1 into the profile; so every count is a multiple of the fraction, and the
 *     greatest common divisor of the counts is it (or a multiple of it when few events were
 *     recorded: fewer samples assumed, the conservative side);
 *   - block contentions: one per event that blocked at least the block profile rate, and more than
 *     one for a shorter event (scaled up by rate / duration): 1 is a lower bound of the sampling
 *     error, which the test then at least asks for.
 */
async function valuePerSample(ctx: DetectContext, kind: ProfileKind, sampleType: string): Promise<number | undefined> {
  // From raw rows of the window's newest hour with profiles of the kind (both for heap bytes and
  // mutex counts): the window is what is judged, and the setting is the processes' (the same
  // program's flag through a window in practice). A 7-day baseline of a large fleet is read from
  // rollups, which keep neither the profiles' periods nor single events' counts, and over S3 a
  // raw read of the whole window downloads every file of it (the functions of 1,000 instances x
  // 24 h: 866 MB); one hour's files are what this reads. The same rows whether the sides come
  // from rollups or not. Fewer rows can only make the mutex divisor a multiple of the fraction
  // (fewer samples assumed: the conservative side, as the LIMIT below already allowed).
  const wantsPeriod = (kind === 'heap' || kind === 'allocs') && sampleType.endsWith('_space');
  if (!wantsPeriod && !(kind === 'mutex' && sampleType === CONTENTION_EVENTS_SAMPLE_TYPE)) {
    return sampleType === CONTENTION_EVENTS_SAMPLE_TYPE && kind === 'block' ? 1 : undefined;
  }
  const hour = await newestHour(ctx, kind);
  if (hour === undefined) return wantsPeriod ? undefined : 1;
  const range = { service: ctx.service, kind, fromUs: hour[0], toUs: hour[1] };
  if (wantsPeriod) {
    const pred = cohortPredicate(range, 'profiles');
    const rows = await ctx.engine.rows(`SELECT max(period) AS p FROM ${await ctx.engine.rawSource('profiles', [hour])} WHERE ${pred.sql} AND period_unit = 'bytes'`, pred.params);
    const p = Number(rows[0]?.p ?? 0);
    return p > 0 ? p : undefined;
  }
  const pred = cohortPredicate(range, 'functions');
  const rows = await ctx.engine.rows(
    `SELECT DISTINCT abs(flat) AS v FROM ${await ctx.engine.rawSource('functions', [hour])} WHERE ${pred.sql} AND sample_type = '${CONTENTION_EVENTS_SAMPLE_TYPE}' AND flat <> 0 LIMIT 10000`,
    pred.params,
  );
  let g = 0n;
  for (const r of rows) g = gcd(g, BigInt(r.v as bigint | number));
  return g > 0n ? Number(g) : 1;
}

const HOUR_US = 3_600_000_000;

/**
 * The window's newest UTC hour (clipped to the window) with profiles of the service and kind:
 * rolled-up hours from profiles_1h, the others from raw profiles of those hours only.
 */
async function newestHour(ctx: DetectContext, kind: ProfileKind): Promise<[number, number] | undefined> {
  const { fromUs, toUs } = ctx.window;
  const covered = ctx.engine.coveredHours('profiles_1h');
  const rolled = covered ? [...covered].filter((h) => h >= fromUs && h + HOUR_US <= toUs).sort((a, b) => a - b) : [];
  const rawSpans = complement(fromUs, toUs, rolled.map((h): [number, number] => [h, h + HOUR_US]));
  const parts: string[] = [];
  const params: Record<string, string | number | bigint | boolean> = {};
  if (rawSpans.length > 0) {
    const pred = cohortPredicate({ service: ctx.service, kind, fromUs, toUs }, 'profiles', { prefix: 'nr_' });
    Object.assign(params, pred.params);
    const inRaw = rawSpans.map(([a, b]) => `(time >= make_timestamp(${a}::BIGINT) AND time < make_timestamp(${b}::BIGINT))`).join(' OR ');
    parts.push(`SELECT epoch_us(date_trunc('hour', max(time))) AS h FROM ${await ctx.engine.rawSource('profiles', rawSpans)} WHERE ${pred.sql} AND (${inRaw})`);
  }
  if (rolled.length > 0) {
    const spans = rolled.map((h): [number, number] => [h, h + HOUR_US]);
    const src = (await ctx.engine.spanSource('profiles_1h', spans)) ?? 'profiles_1h';
    Object.assign(params, { nh_service: ctx.service, nh_kind: kind });
    parts.push(`SELECT epoch_us(max(hour)) AS h FROM ${src} WHERE service = $nh_service AND kind = $nh_kind AND hour IN (${rolled.map((h) => `make_timestamp(${h}::BIGINT)`).join(', ')})`);
  }
  const rows = await ctx.engine.rows(`SELECT max(h) AS h FROM (${parts.map((p) => `(${p})`).join(' UNION ALL ')})`, params);
  if (rows[0]?.h === null || rows[0]?.h === undefined) return undefined;
  const h = Number(rows[0].h);
  return [Math.max(h, fromUs), Math.min(h + HOUR_US, toUs)];
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** The functions of the service's own code that rose by the rule, largest rise first. */
export function grown(r: ServiceDiff): (DiffFunction & { ev: FunctionEvidence })[] {
  const byName = new Map(r.functions.map((f) => [f.name, f]));
  return r.evidence.rose.flatMap((e) => {
    const f = byName.get(e.name);
    return f ? [{ ...f, ev: e }] : [];
  });
}

/** One sentence on what the rule saw: how many instances, and which rule fired. */
export function evidenceNote(r: ServiceDiff, e: FunctionEvidence): string {
  const n = `${r.evidence.instances.target} window instance(s) against ${r.evidence.instances.base} baseline instance(s)`;
  if (e.rule === 'separation') return `In every one of ${n}, ${e.name} is beyond anything the baseline instances showed, by more than run-to-run noise moves it.`;
  return `Across ${n}, ${e.name} rose beyond the spread between instances (exact permutation test, p = ${e.p.toPrecision(2)}).`;
}

/** The per-instance values of a culprit as a chart: baseline instances next to window instances. */
export function instanceSeries(metric: string, unit: string, e: FunctionEvidence): AnomalySeries {
  return { metric, unit, base: e.base, target: e.target, replicate: 'instance' };
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

/** The differential flame graph and the diff of the window against the baseline, for one kind. */
export function cohortLinks(ctx: DetectContext, kind: ProfileKind, measure?: 'norm'): AnomalyLink[] {
  const from = iso(ctx.window.fromUs);
  const to = iso(ctx.window.toUs);
  const bfrom = iso(ctx.baseline.fromUs);
  const bto = iso(ctx.baseline.toUs);
  const q = (o: Record<string, string | undefined>) =>
    Object.entries(o)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join('&');
  const common = { type: kind, service: ctx.service, 'base-from': bfrom, 'base-to': bto, from, to };
  const file = `${ctx.service}-${kind}-flame.html`;
  return [
    {
      label: `differential flame graph (${kind})`,
      command: fleetprofCommand('flamegraph', '--data', ctx.dataDir ?? 'DIR', '--type', kind, '--service', ctx.service, '--base-from', bfrom, '--base-to', bto, '--from', from, '--to', to, '--out', file),
      apiPath: `/flamegraph?${q(common)}`,
    },
    {
      label: `diff (${kind})`,
      command: diffCommand(ctx, kind, measure ? ['--measure', measure] : []),
      apiPath: `/diff?${q({ ...common, measure })}`,
    },
  ];
}

/** `fleetprof gc` over the baseline and the window, with the data source. */
export function gcCommand(ctx: DetectContext): string {
  return fleetprofCommand('gc', '--data', ctx.dataDir ?? 'DIR', '--service', ctx.service, '--from', iso(ctx.baseline.fromUs), '--to', iso(ctx.window.toUs));
}

/**
 * Allocation sites that grew: their share of allocated bytes rose significantly AND their bytes per
 * profile did too. Shares alone move when other sites shrink (a slower service allocates less in its
 * request path, so the profiler's own allocations gain share); bytes alone depend on how long each
 * process ran (allocs counts since process start).
 */
export async function grownAllocationSites(ctx: DetectContext): Promise<{ share: ServiceDiff; sites: ReturnType<typeof grown> } | null> {
  const share = await serviceDiff(ctx, 'allocs', 'alloc_space', 'share');
  if (!share) return null;
  const up = grown(share);
  if (up.length === 0) return { share, sites: [] };
  // Bytes per second per instance must rise too (by the effect floor, not the full rule: the share
  // rule already carries the evidence; this only rules out a share gained because others shrank).
  const rate = await serviceDiff(ctx, 'allocs', 'alloc_space', 'rate');
  return { share, sites: up.filter((f) => rate !== null && rate.evidence.of(f.name).targetMean >= (1 + MIN_RELATIVE_GROWTH) * rate.evidence.of(f.name).baseMean) };
}
