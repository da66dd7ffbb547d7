import type { ProfileKind } from '../model/profile';

// The one shape of what the detectors report: a Finding is a rule that fired on measured numbers
// (the numbers in `evidence`). The digest's anomalies (window vs baseline, lib/detect/registry.ts)
// and the GC pacer diagnostics of `fleetprof gc` (lib/detect/gc-diagnostics.ts) are both Findings;
// each has its own JSON projection (digestJson, gcDiagnosticJson) so the documented shapes in
// docs/cli.md stay exactly as they are.

export type Area = 'cpu' | 'memory' | 'goroutines' | 'gc' | 'contention';
export type Severity = 'high' | 'medium' | 'low';

export const SEVERITY_RANK: Record<Severity, number> = { high: 3, medium: 2, low: 1 };

export interface Finding {
  /** The rule that fired: an anomaly's area ('cpu', ...) or a diagnostic's id ('assist-share-high'). */
  id: string;
  area: Area;
  service: string;
  /** What was measured, in plain words, with the numbers. */
  summary: string;
  /** The numbers behind it, machine-readable. */
  evidence: Record<string, unknown>;
}

/** One row of the "top functions" table shown with an anomaly. */
export interface AnomalyFunction {
  name: string;
  base: number;
  target: number;
  delta: number;
  p_value: number | null;
  significant: boolean;
}

/** A chart of one metric: baseline replicates (buckets or profiles) next to the window's. */
export interface AnomalySeries {
  metric: string;
  unit: string;
  base: number[];
  target: number[];
  /** What one dot is: a baseline/window time bucket (GC) or an instance (profiles). */
  replicate?: 'bucket' | 'instance';
}

/** A change of the window against the baseline's own variability (the digest). */
export interface Anomaly extends Finding {
  severity: Severity;
  /** Functions responsible, most important first (leaf-most frames of the service's own code). */
  culprits: string[];
  versions: { base?: string; target?: string };
  explanation: string;
  nextStep: string;
  /**
   * The profile kind whose merged window profile goes with the anomaly (email attachment,
   * archive). Required, so a detector cannot produce an anomaly that attaches nothing; it must be
   * one of its registry entry's `kinds` (lib/detect/registry.ts checks).
   */
  profile: ProfileKind;
  /** What the measure in `functions` is: 'share' (of the cohort total) or a unit per profile / second. */
  functionsMeasure?: string;
  functions?: AnomalyFunction[];
  series?: AnomalySeries[];
  /** Where to look next: the differential flame graph and the diff of the anomaly's cohort. */
  links?: AnomalyLink[];
  /**
   * Other anomalies of the same service with the same lead culprit (one cause, several effects:
   * a heap leak also shows as allocation-mix change and GC live-heap growth), folded into this one
   * by the digest (lib/detect/digest.ts mergeByCause).
   */
  related?: RelatedEffect[];
}

/** A command and the HTTP API path (GET, relative to the API's base URL) that show the same. */
export interface AnomalyLink {
  label: string;
  command: string;
  apiPath: string;
}

/** An anomaly folded into another with the same cause: what it measured, in brief. */
export interface RelatedEffect {
  id: string;
  area: Area;
  severity: Severity;
  profile: ProfileKind;
  summary: string;
}

/** A GC pacer or tuning diagnostic of one `fleetprof gc` bucket. */
export interface GcDiagnostic extends Finding {
  area: 'gc';
  version: string;
}
