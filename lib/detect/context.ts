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
  /** Diffs already computed for this service (detectors share them). */
  cache?: Map<string, Promise<unknown>>;
}
