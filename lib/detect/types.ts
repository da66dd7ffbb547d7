import type { QueryEngine } from '../query/engine';

export type Area = 'cpu' | 'memory' | 'goroutines' | 'gc' | 'contention';
export type Severity = 'high' | 'medium' | 'low';

/** Half-open [fromUs, toUs) in epoch microseconds. */
export interface Span {
  fromUs: number;
  toUs: number;
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
}

export interface Anomaly {
  service: string;
  area: Area;
  severity: Severity;
  /** Functions responsible, most important first (leaf-most frames of the service's own code). */
  culprits: string[];
  summary: string;
  evidence: Record<string, unknown>;
  versions: { base?: string; target?: string };
  explanation: string;
  nextStep: string;
  /** What the measure in `functions` is: 'share' (of the cohort total) or a unit per profile / second. */
  functionsMeasure?: string;
  functions?: AnomalyFunction[];
  series?: AnomalySeries[];
}

export interface DetectContext {
  engine: QueryEngine;
  service: string;
  baseline: Span;
  window: Span;
  /** For the commands suggested in nextStep. */
  dataDir?: string;
  /** Diffs already computed for this service (detectors share them). */
  cache?: Map<string, Promise<unknown>>;
}

export const SEVERITY_RANK: Record<Severity, number> = { high: 3, medium: 2, low: 1 };
