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
  /** Per instance, the end of the last snapshot read (see inOrder). */
  private readonly reads = new Map<string, Promise<void>>();

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

  /**
   * Runs `read` (a plain heap or allocs request and its observeTotal) once the instance's earlier
   * reads are over. heap and allocs are two views of the same counters, requested together in a
   * round: concurrent, the target could read the counters for one, finish a GC (which publishes
   * more allocations), read them for the other, and answer the second first; the totals then
   * arrived in the wrong order and a lower one looked like a restart (a second identity for one
   * process, seen under load). One at a time, the request after a response reads the counters
   * after the one before: observation order is the target's read order.
   */
  async inOrder<T>(instance: string, read: () => Promise<T>): Promise<T> {
    const before = this.reads.get(instance) ?? Promise.resolve();
    const run = before.then(read);
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    this.reads.set(instance, done);
    try {
      return await run;
    } finally {
      if (this.reads.get(instance) === done) this.reads.delete(instance);
    }
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
