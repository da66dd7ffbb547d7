import { randomBytes } from 'node:crypto';

// The process identity a scrape declares (docs/upload-contract.md, x-amz-meta-process).
// net/http/pprof does not say which process answered, so the scraper names what it can tell
// apart: one id per target per scrape run, and a new one whenever the target shows it was
// restarted: its cumulative allocation totals (the plain heap/allocs snapshot) went down, or it
// refused connections in between. Counter deltas do not need the identity to be right (each
// `?seconds=N` delta is one process's increase); it is what ties a series together in SQL and
// what a diff takes as its replicate unit.

export class ProcessIds {
  private readonly seen = new Map<string, { gen: number; total?: bigint; lost: boolean }>();

  constructor(private readonly runId: string = randomBytes(6).toString('hex')) {}

  private state(instance: string) {
    let s = this.seen.get(instance);
    if (!s) this.seen.set(instance, (s = { gen: 0, lost: false }));
    return s;
  }

  /** The identity uploads of this target carry now. */
  current(instance: string): string {
    return `scrape:${this.runId}.${this.state(instance).gen}`;
  }

  /** A plain snapshot's cumulative counter total: lower than the last one means a new process. */
  observeTotal(instance: string, total: bigint): void {
    const s = this.state(instance);
    if ((s.total !== undefined && total < s.total) || s.lost) {
      s.gen++;
      s.lost = false;
    }
    s.total = total;
  }

  /** The target refused a connection: whatever answers next is taken to be a new process. */
  observeGone(instance: string): void {
    const s = this.state(instance);
    if (s.total !== undefined) s.lost = true;
  }
}
