import type { QueryEngine } from '../query/engine';

/** Half-open [fromUs, toUs) in epoch microseconds. */
export interface Span {
  fromUs: number;
  toUs: number;
}

/** What a detector gets: one service, the window and the baseline it is compared with. */
export interface DetectContext {
  engine: QueryEngine;
  service: string;
  baseline: Span;
  window: Span;
  /** For the commands suggested in nextStep. */
  dataDir?: string;
  /** Read rollups where they answer exactly (default true; false: raw rows only, for tests and comparisons). */
  rollups?: boolean;
  /** Diffs already computed for this service (detectors share them). */
  cache?: Map<string, Promise<unknown>>;
}
