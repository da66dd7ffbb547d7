// Synthetic GODEBUG=gctrace=1 logs (Go 1.18+ line format) with chosen pacer numbers, for the
// diagnostics and trend tests. Durations are given in milliseconds and printed with up to three
// decimals, sizes in MiB, exactly as the runtime prints them.

export interface CycleSpec {
  /** Seconds since process start (printed with three decimals). */
  at: number;
  sweepTermMs: number;
  markMs: number;
  markTermMs: number;
  assistMs: number;
  backgroundMs: number;
  idleMs: number;
  heapStartMiB: number;
  heapEndMiB: number;
  liveMiB: number;
  /** A number, or a decimal string for goals beyond 2^53 (GC off). */
  goalMiB: number | string;
  stacksMiB: number;
  globalsMiB: number;
  procs: number;
  forced: boolean;
}

const ms = (v: number) => String(Math.round(v * 1000) / 1000);

export function gcLine(n: number, c: CycleSpec): string {
  return (
    `gc ${n} @${c.at.toFixed(3)}s 1%: ${ms(c.sweepTermMs)}+${ms(c.markMs)}+${ms(c.markTermMs)} ms clock, ` +
    `${ms(c.sweepTermMs * c.procs)}+${ms(c.assistMs)}/${ms(c.backgroundMs)}/${ms(c.idleMs)}+${ms(c.markTermMs * c.procs)} ms cpu, ` +
    `${c.heapStartMiB}->${c.heapEndMiB}->${c.liveMiB} MB, ${c.goalMiB} MB goal, ${c.stacksMiB} MB stacks, ${c.globalsMiB} MB globals, ` +
    `${c.procs} P${c.forced ? ' (forced)' : ''}`
  );
}

export interface LogSpec {
  /** Number of cycles. */
  cycles: number;
  /** Seconds between cycle starts. */
  periodS: number;
  /** Seconds from process start to the first cycle. */
  firstAtS?: number;
  /** Everything else per cycle index (defaults: a calm GOGC=100 service). */
  cycle?: (i: number) => Partial<CycleSpec>;
}

/** A calm service: 200 MiB live, goal 2x live + stacks/globals, little assist, tiny pauses. */
export const CALM: Omit<CycleSpec, 'at'> = {
  sweepTermMs: 0.05,
  markMs: 20,
  markTermMs: 0.08,
  assistMs: 1,
  backgroundMs: 40,
  idleMs: 5,
  heapStartMiB: 390,
  heapEndMiB: 400,
  liveMiB: 200,
  goalMiB: 402,
  stacksMiB: 1,
  globalsMiB: 1,
  procs: 8,
  forced: false,
};

export function gctraceLog(spec: LogSpec, interleaveAppOutput = true): string {
  const lines: string[] = ['2026/03/01 10:00:00 service starting'];
  for (let i = 0; i < spec.cycles; i++) {
    const c: CycleSpec = { ...CALM, at: (spec.firstAtS ?? 1) + i * spec.periodS, ...(spec.cycle?.(i) ?? {}) };
    lines.push(gcLine(i + 1, c));
    if (interleaveAppOutput && i % 7 === 3) lines.push(`2026/03/01 10:00:00 served ${i * 13} requests`);
  }
  return lines.join('\n') + '\n';
}
