import fc from 'fast-check';

// Fuzzing bounded by time, with a floor (#13: "a fuzz target ... in CI for a bounded time"). A
// property first runs `floor` times whatever the clock says, so a slow or busy runner still tests
// something and the assertion keeps its meaning; then it keeps running on a second seed until
// `budgetMs` (counted from the start) is spent, so a fast runner tests more in the same time. The
// number of runs is printed, because it varies with the machine and a reader of CI output should
// see how much was fuzzed. A failure in either phase fails the test with fast-check's report
// (seed, path and counterexample, to replay it with FUZZ_SEED).

export interface FuzzBudget {
  readonly seed: number;
  /** Wall-clock budget of the whole property, floor included (0: only the floor). */
  readonly budgetMs: number;
  /** Runs done whatever the time. */
  readonly floor: number;
}

/** FUZZ_SEED, FUZZ_MS and FUZZ_FLOOR override a test's defaults (e.g. a long local run). */
export function fuzzBudget(defaults: FuzzBudget, env: { ms?: string; floor?: string } = {}): FuzzBudget {
  const num = (v: string | undefined, d: number) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : d);
  return {
    seed: num(process.env.FUZZ_SEED, defaults.seed),
    budgetMs: num(process.env[env.ms ?? 'FUZZ_MS'], defaults.budgetMs),
    floor: num(process.env[env.floor ?? 'FUZZ_FLOOR'], defaults.floor),
  };
}

/** Runs `property` under `budget`; throws fast-check's report on a failure; returns the runs done. */
export async function fuzz<Ts>(
  label: string,
  property: fc.IRawProperty<Ts>,
  budget: FuzzBudget,
  params: Omit<fc.Parameters<Ts>, 'seed' | 'numRuns' | 'interruptAfterTimeLimit' | 'markInterruptAsFailure'> = {},
): Promise<number> {
  const t0 = performance.now();
  const first = await fc.check(property, { ...params, seed: budget.seed, numRuns: budget.floor });
  if (first.failed) throw new Error(`${label}: ${fc.defaultReportMessage(first)}`);
  let runs = first.numRuns;
  const left = budget.budgetMs - (performance.now() - t0);
  if (left > 0) {
    const more = await fc.check(property, { ...params, seed: budget.seed + 1, numRuns: 1e9, interruptAfterTimeLimit: left, markInterruptAsFailure: false });
    if (more.failed) throw new Error(`${label} (after the floor, seed ${budget.seed + 1}): ${fc.defaultReportMessage(more)}`);
    runs += more.numRuns;
  }
  const ms = performance.now() - t0;
  process.stderr.write(`fuzz ${label}: ${runs} runs in ${(ms / 1000).toFixed(1)} s (floor ${budget.floor}, budget ${(budget.budgetMs / 1000).toFixed(1)} s, seed ${budget.seed})\n`);
  return runs;
}
