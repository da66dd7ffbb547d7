// At most `concurrency` requests run at once; up to `queue` more wait; beyond that the caller is
// told to come back later (serve answers 503 with Retry-After). Each running request holds a
// DuckDB instance and its memory, so this is what bounds serve's memory under load.

export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly queue: number,
  ) {}

  /** Runs `f` when a slot is free; undefined (nothing run) when the queue is full. */
  async run<T>(f: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) return undefined;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return { value: await f() };
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
