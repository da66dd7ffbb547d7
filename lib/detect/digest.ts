import { isoFromUs } from '../model/time';
import type { QueryEngine } from '../query/engine';
import { cohortPredicate } from '../query/cohort';
import { withLookback } from '../query/window';
import type { DetectContext, Span } from './context';
import { SEVERITY_RANK, type Anomaly, type Area } from './finding';
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
}

export interface DigestResult {
  window: { from: string; to: string };
  baseline: { from: string; to: string };
  services: string[];
  quiet: boolean;
  message: string;
  anomalies: Anomaly[];
}

/** Specific areas first at equal severity: CPU and GC are often symptoms of the others. */
const AREA_ORDER: Record<Area, number> = { memory: 0, goroutines: 1, contention: 2, cpu: 3, gc: 4 };

export function digestSpans(q: DigestQuery): { window: Span; baseline: Span } {
  const window = { fromUs: q.nowUs - q.windowUs, toUs: q.nowUs };
  return { window, baseline: { fromUs: window.fromUs - q.baselineUs, toUs: window.fromUs } };
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

async function servicesWithData(engine: QueryEngine, from: number, to: number): Promise<string[]> {
  const range = { fromUs: from, toUs: to };
  const p = cohortPredicate(range, 'profiles');
  const g = cohortPredicate(range, 'gc_cycles');
  const rows = await engine.rows(
    `SELECT DISTINCT service FROM (SELECT service FROM profiles WHERE ${p.sql} UNION ALL SELECT service FROM gc_cycles WHERE ${g.sql}) ORDER BY service`,
    { ...p.params, ...g.params },
  );
  return rows.map((r) => r.service as string);
}

export async function digest(engine: QueryEngine, q: DigestQuery): Promise<DigestResult> {
  const { window, baseline } = digestSpans(q);
  const services = q.service !== undefined ? [q.service] : await servicesWithData(engine, baseline.fromUs, window.toUs);
  const anomalies: Anomaly[] = [];
  for (const service of services) {
    const own = q.engineFor ? await q.engineFor(service, withLookback({ fromUs: baseline.fromUs, toUs: window.toUs })) : engine;
    try {
      const ctx: DetectContext = { engine: own, service, baseline, window, dataDir: q.dataDir, cache: new Map() };
      for (const d of DETECTORS) anomalies.push(...(await runDetector(d, ctx)));
    } finally {
      if (own !== engine) own.close();
    }
  }
  const sorted = sortAnomalies(anomalies);
  return {
    window: { from: isoFromUs(window.fromUs), to: isoFromUs(window.toUs) },
    baseline: { from: isoFromUs(baseline.fromUs), to: isoFromUs(baseline.toUs) },
    services,
    quiet: sorted.length === 0,
    message:
      sorted.length === 0
        ? `All quiet: no change beyond the baseline's own variability in ${services.length} service(s).`
        : `${sorted.length} anomal${sorted.length === 1 ? 'y' : 'ies'} in ${new Set(sorted.map((a) => a.service)).size} service(s).`,
    anomalies: sorted,
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
      profile: a.profile,
    })),
  };
}
