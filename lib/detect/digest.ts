import { isoFromUs } from '../model/time';
import type { QueryEngine } from '../query/engine';
import { healthFindings, servicePresence, type HealthFinding, type IngestSignals } from './health';
import { withLookback } from '../query/window';
import type { DetectContext, Span } from './context';
import { SEVERITY_RANK, type Anomaly, type Area, type RelatedEffect } from './finding';
import { DETECTORS, runDetector } from './registry';

// The digest: every detector over every service that has data, the window (the span just before
// `now`) against the baseline (the span just before the window), most important first.

export interface DigestQuery {
  nowUs: number;
  windowUs: number;
  baselineUs: number;
  service?: string;
  dataDir?: string;
  /**
   * An engine over one service's partitions of the digest's time range (faster than the shared
   * engine when there are many services); closed after the service's detectors ran.
   */
  engineFor?: (service: string, range: Span) => Promise<QueryEngine>;
  /** What the edge measured about ingestion (quarantine, dead-letter queue): lib/detect/health.ts. */
  ingest?: IngestSignals;
  /**
   * How a reader gets the data the suggested commands read with `--data dataDir`, when it is not a
   * local directory already (the Lambda: `aws s3 sync s3://bucket/tables/ fleetprof-data`).
   */
  dataFetch?: string;
  /** Read rollups where they answer exactly (default true); false: raw rows only (tests compare the two). */
  rollups?: boolean;
  /** Base URL of the HTTP API (`fleetprof serve`, a proxy in front of the query Lambda): cards link to their flame graph and diff there. */
  linkBase?: string;
}

export interface DigestResult {
  window: { from: string; to: string };
  baseline: { from: string; to: string };
  services: string[];
  /** Never true while a health finding stands: silence is not "all quiet". */
  quiet: boolean;
  message: string;
  /** Data and ingest problems (lib/detect/health.ts), listed before the anomalies. */
  health: HealthFinding[];
  anomalies: Anomaly[];
  /** How to get the data the suggested commands read (see DigestQuery.dataFetch). */
  dataFetch?: string;
  /** DigestQuery.linkBase. */
  linkBase?: string;
}

/** Specific areas first at equal severity: CPU and GC are often symptoms of the others. */
const AREA_ORDER: Record<Area, number> = { memory: 0, goroutines: 1, contention: 2, cpu: 3, gc: 4 };

export function digestSpans(q: DigestQuery): { window: Span; baseline: Span } {
  const window = { fromUs: q.nowUs - q.windowUs, toUs: q.nowUs };
  return { window, baseline: { fromUs: window.fromUs - q.baselineUs, toUs: window.fromUs } };
}

/**
 * One finding per cause: anomalies of one service whose lead culprit is the same function are one
 * card. The cause leads the card: a non-GC anomaly before a GC one (GC work is a consequence of
 * what the program allocates, keeps and has to scan), else the most important; the card takes the
 * highest severity of the group. The others are listed as its side effects (`related`), with their
 * numbers in brief. A heap leak in main.remember is then one card "heap in use grew" listing
 * "allocation mix changed" and "GC: live heap grew" below it, instead of three cards for one bug.
 *
 * Then GC symptoms (foldGcSymptoms): a GC anomaly of a service that also has a memory or goroutine
 * anomaly in the same window version is listed under it, though the GC detector may name no
 * culprit (its prediction rule needs none) or another allocation site.
 */
export function mergeByCause(anomalies: Anomaly[]): Anomaly[] {
  const groups = new Map<string, Anomaly[]>();
  const out: Anomaly[][] = [];
  for (const a of sortAnomalies(anomalies)) {
    const cause = a.culprits[0];
    if (cause === undefined) {
      out.push([a]);
      continue;
    }
    const key = `${a.service}\u0000${a.versions.target ?? ''}\u0000${cause}`;
    const g = groups.get(key);
    if (g) g.push(a);
    else {
      const fresh = [a];
      groups.set(key, fresh);
      out.push(fresh);
    }
  }
  return sortAnomalies(foldGcSymptoms(out.map(card)));
}

/** A group of anomalies with one cause as one card (see mergeByCause). */
function card(group: Anomaly[]): Anomaly {
  const lead = group.find((a) => a.area !== 'gc') ?? group[0];
  const severity = group.reduce((s, a) => (SEVERITY_RANK[a.severity] > SEVERITY_RANK[s] ? a.severity : s), lead.severity);
  const related = [...(lead.related ?? [])];
  for (const a of group) if (a !== lead) related.push(relatedOf(a), ...(a.related ?? []));
  return { ...lead, severity, ...(related.length > 0 ? { related } : {}) };
}

function relatedOf(a: Anomaly): RelatedEffect {
  return { id: a.id, area: a.area, severity: a.severity, profile: a.profile, summary: a.summary };
}

/**
 * The areas whose change drives GC work: bytes allocated (GC frequency, GC CPU, assists), bytes
 * kept (live heap, mark time) and goroutine stacks (roots to scan, more work per cycle).
 */
const GC_DRIVERS: ReadonlySet<Area> = new Set<Area>(['memory', 'goroutines']);

/**
 * A GC anomaly is a symptom when the same service, in the same window version, has an anomaly in
 * an area that drives GC work: it is listed under that card (the one whose lead culprit the GC
 * anomaly names, else the most important), not as a card of its own. A GC card stands alone only
 * when nothing that drives GC changed beyond its own noise envelope (GC pressure the memory
 * detector did not resolve to a site), and then it names the allocation sites that rose, if any.
 */
export function foldGcSymptoms(cards: Anomaly[]): Anomaly[] {
  const sorted = sortAnomalies(cards).map((c) => ({ ...c }));
  const folded = new Set<Anomaly>();
  for (const a of sorted) {
    if (a.area !== 'gc') continue;
    const drivers = sorted.filter((c) => GC_DRIVERS.has(c.area) && c.service === a.service && c.versions.target === a.versions.target);
    if (drivers.length === 0) continue;
    const host = drivers.find((c) => c.culprits[0] !== undefined && a.culprits.includes(c.culprits[0])) ?? drivers[0];
    host.related = [...(host.related ?? []), relatedOf(a), ...(a.related ?? [])];
    folded.add(a);
  }
  return sorted.filter((a) => !folded.has(a));
}

/** Impact score inside a severity: the lead evidence number when there is one. */
export function sortAnomalies(a: Anomaly[]): Anomaly[] {
  return [...a].sort(
    (x, y) =>
      SEVERITY_RANK[y.severity] - SEVERITY_RANK[x.severity] ||
      AREA_ORDER[x.area] - AREA_ORDER[y.area] ||
      (x.service < y.service ? -1 : x.service > y.service ? 1 : 0),
  );
}

export async function digest(engine: QueryEngine, q: DigestQuery): Promise<DigestResult> {
  const { window, baseline } = digestSpans(q);
  const presence = await servicePresence(engine, baseline, window, q.service);
  const health = healthFindings({ presence, window, baseline, ingest: q.ingest, service: q.service, dataArgs: ['--data', q.dataDir ?? 'DIR'] });
  // Detectors need window data: a silent service is a health finding, not a comparison.
  const services = q.service !== undefined ? [q.service] : presence.map((p) => p.service);
  const compared = services.filter((s) => presence.some((p) => p.service === s && p.windowRows > 0 && p.baselineRows > 0));
  const anomalies: Anomaly[] = [];
  for (const service of compared) {
    const own = q.engineFor ? await q.engineFor(service, withLookback({ fromUs: baseline.fromUs, toUs: window.toUs })) : engine;
    try {
      const ctx: DetectContext = { engine: own, service, baseline, window, dataDir: q.dataDir, rollups: q.rollups, cache: new Map() };
      for (const d of DETECTORS) anomalies.push(...(await runDetector(d, ctx)));
    } finally {
      if (own !== engine) own.close();
    }
  }
  const sorted = mergeByCause(anomalies);
  const parts: string[] = [];
  if (health.length > 0) parts.push(`${health.length} data or ingest problem${health.length === 1 ? '' : 's'} (${[...new Set(health.map((h) => h.id))].join(', ')}).`);
  if (sorted.length > 0) parts.push(`${sorted.length} anomal${sorted.length === 1 ? 'y' : 'ies'} in ${new Set(sorted.map((a) => a.service)).size} service(s).`);
  else if (health.length > 0) parts.push(`No anomaly in the ${compared.length} service(s) with data in both periods.`);
  return {
    window: { from: isoFromUs(window.fromUs), to: isoFromUs(window.toUs) },
    baseline: { from: isoFromUs(baseline.fromUs), to: isoFromUs(baseline.toUs) },
    services,
    quiet: sorted.length === 0 && health.length === 0,
    message: parts.length === 0 ? `All quiet: no change beyond the baseline's own variability in ${compared.length} service(s).` : parts.join(' '),
    health,
    anomalies: sorted,
    ...(q.dataFetch !== undefined ? { dataFetch: q.dataFetch } : {}),
    ...(q.linkBase !== undefined ? { linkBase: q.linkBase.replace(/\/+$/, '') } : {}),
  };
}

/** The JSON contract: the documented fields of each anomaly, then the rest (additive). */
export function digestJson(d: DigestResult): unknown {
  return {
    window: d.window,
    baseline: d.baseline,
    services: d.services,
    quiet: d.quiet,
    message: d.message,
    health: d.health,
    ...(d.dataFetch !== undefined ? { dataFetch: d.dataFetch } : {}),
    anomalies: d.anomalies.map((a) => ({
      service: a.service,
      area: a.area,
      severity: a.severity,
      culprits: a.culprits,
      summary: a.summary,
      evidence: a.evidence,
      versions: a.versions,
      explanation: a.explanation,
      nextStep: a.nextStep,
      functions: a.functions,
      related: a.related ?? [],
      links: a.links ?? [],
      profile: a.profile,
    })),
  };
}
