import type { QueryEngine } from '../query/engine';
import { bucketMetrics, type GcBucketMetrics, type GcQuery } from '../query/gc';
import { gcBucketStatsAnySource } from '../query/gc-metrics';
import type { GcDiagnostic } from './finding';
import { diagnoseGc } from './gc-diagnostics';

// `fleetprof gc` (and GET /gc): the trend buckets of lib/query/gc.ts, each with the pacer and
// tuning diagnostics that fired on it. The JSON is docs/cli.md's contract: a diagnostic is
// {id, message, evidence} there (message = the Finding's summary).

export interface GcDiagnosticJson {
  id: string;
  message: string;
  evidence: Record<string, unknown>;
}

export interface GcBucket extends GcBucketMetrics {
  diagnostics: GcDiagnosticJson[];
}

export interface GcResult {
  buckets: GcBucket[];
}

export function gcDiagnosticJson(f: GcDiagnostic): GcDiagnosticJson {
  return { id: f.id, message: f.summary, evidence: f.evidence };
}

/** Per service, version and bucket (gctrace, or runtime/metrics for services without it), with pacer and tuning diagnostics. */
export async function gcTrends(engine: QueryEngine, q: GcQuery): Promise<GcResult> {
  const stats = await gcBucketStatsAnySource(engine, q);
  const diagnostics = diagnoseGc(stats, { dataDir: q.dataDir });
  return { buckets: stats.map((s, i) => ({ ...bucketMetrics(s), diagnostics: diagnostics[i].map(gcDiagnosticJson) })) };
}
