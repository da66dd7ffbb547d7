import type { ProfileKind } from '../model/profile';
import type { QueryEngine } from '../query/engine';
import { exportMerged, isExportError } from '../query/export';
import type { Span } from './context';
import type { DigestResult } from './digest';

// The profiles that go with a digest: for each (service, profile kind) an anomaly names
// (Anomaly.profile, checked against lib/detect/registry.ts), the merged window profile as
// `go tool pprof` reads it. Used by the local digest (bin/commands/digest.ts) and the scheduled
// one (lib/aws/digest-job.ts) alike.

export interface ExportedProfile {
  service: string;
  kind: ProfileKind;
  filename: string;
  bytes: Uint8Array;
}

/** One engine per service over the window only; a kind with no profiles is skipped. */
export async function exportAnomalyProfiles(d: DigestResult, window: Span, engineFor: (service: string, range: Span) => Promise<QueryEngine>): Promise<ExportedProfile[]> {
  const wanted = new Map<string, Set<ProfileKind>>();
  for (const a of d.anomalies) {
    if (!wanted.has(a.service)) wanted.set(a.service, new Set());
    wanted.get(a.service)!.add(a.profile);
    // A cause's side effects bring their own profiles (the allocation profile of a heap leak).
    for (const r of a.related ?? []) wanted.get(a.service)!.add(r.profile);
  }
  const out: ExportedProfile[] = [];
  for (const [service, kinds] of wanted) {
    const engine = await engineFor(service, window);
    try {
      for (const kind of kinds) {
        try {
          const bytes = await exportMerged(engine, { kind, service, fromUs: window.fromUs, toUs: window.toUs });
          out.push({ service, kind, filename: `${safeName(service)}-${kind}-window.pb.gz`, bytes });
        } catch (e) {
          if (!isExportError(e, 'no-profiles')) throw e;
        }
      }
    } finally {
      engine.close();
    }
  }
  return out;
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}
