import { fork } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CompactResult, UnitReport, WorkOutcome, WorkRunner } from '../store/compact';
import type { WorkMessage } from '../store/compact-jobs';
import { LocalStore } from '../store/local';
import type { DuckDbSettings } from '../store/parquet';
import type { Store } from '../store/store';
import { compactLambdaOptions, runCompactWorker } from './compact-job';
import { processSpillDir } from './runtime';
import { COMPACT_FUNCTION } from './resources';

// Work messages of an in-process compaction (`fleetprof compact`, the fleet simulator) run as the
// stack runs them: each in a short-lived child process with its own DuckDB, running the
// compaction worker's code (runCompactWorker, as lambdas/compact-worker.ts does for one SQS
// message) with the worker Lambda's DuckDB settings. Used for the units of jobs of several units,
// hours' and days', and split groups (CompactOptions.apart): one process running a day's units one
// after another grew past 3 GB and died in DuckDB (SIGSEGV at 3,152 MB, docs/performance.md "Day
// close in key-range units"), one running a 100-instance hour's units peaked 3,355 MB, where each
// unit in a fresh process peaked <= 2.4 GB. A process per unit bounds the memory by a unit's,
// whatever the hour's or day's size; its start (~0.5 s, DuckDB's binding loaded) is small beside a
// unit. Each child spills into its own directory (runtime.ts processSpillDir; `--jobs N` runs them
// side by side).
// This file is also the children's entry point (the code under COMPACT_UNIT_CHILD_ENV below).

/** Which store a child opens: the same directory, or the same bucket's tables/ (AWS chain from the environment). */
export type StoreSpec = { readonly kind: 'local'; readonly root: string } | { readonly kind: 'bucket'; readonly bucket: string };

export interface UnitProcessOptions {
  readonly store: StoreSpec;
  /** Child processes at once (`fleetprof compact --jobs`). */
  readonly jobs: number;
  /** The run's clock, epoch microseconds (every child works at it, as the parent's run does). */
  readonly nowUs: number;
  readonly unitRows?: number;
  /** Attempts per message (a crashed child's unit is run again: every effect of a unit is safe to repeat). */
  readonly attempts?: number;
}

interface ChildInput {
  readonly store: StoreSpec;
  readonly body: string;
  readonly nowUs: number;
  readonly unitRows?: number;
}

type ChildAnswer = { readonly ok: true; readonly outcome: WorkOutcome } | { readonly ok: false; readonly reason: string };

export const COMPACT_UNIT_CHILD_ENV = 'FLEETPROF_COMPACT_UNIT_CHILD';

/** A WorkRunner whose messages each run in a fresh child process. */
export function unitProcesses(o: UnitProcessOptions): WorkRunner {
  return {
    jobs: Math.max(1, o.jobs),
    run: async (msg) => {
      const attempts = o.attempts ?? 2;
      for (let attempt = 1; ; attempt++) {
        try {
          return await runChild({ store: o.store, body: JSON.stringify(msg), nowUs: o.nowUs, unitRows: o.unitRows });
        } catch (e) {
          if (attempt >= attempts) throw new Error(`compaction work ${describe(msg)}: ${(e as Error).message} (${attempt} attempts; running compact again resumes it)`, { cause: e });
        }
      }
    },
  };
}

function describe(msg: WorkMessage): string {
  return msg.kind === 'unit' ? `unit ${msg.unit} of ${msg.job}` : JSON.stringify(msg);
}

function runChild(input: ChildInput): Promise<WorkOutcome> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, [COMPACT_UNIT_CHILD_ENV]: '1' };
    // A benchmark's peak-memory hook writes its step's file on exit: not the children's.
    delete env.FLEETPROF_HWM_FILE;
    delete env.FLEETPROF_CPU_FILE;
    const child = fork(childEntry(), [], { env, execArgv: [], serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    let answer: ChildAnswer | undefined;
    child.on('message', (m: ChildAnswer) => (answer = m));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (answer?.ok) resolve(answer.outcome);
      else if (answer) reject(new Error(answer.reason));
      else reject(new Error(`its process died (${signal ? `signal ${signal}` : `exit code ${code}`})`));
    });
    child.send(input);
  });
}

function childEntry(): string {
  // Compiled: this file. Under jest (TypeScript sources): the build in dist/.
  return __filename.endsWith('.ts') ? path.join(__dirname, '../../dist/lib/aws/compact-units.js') : __filename;
}

/**
 * The stack's compaction options (compactLambdaOptions at the compaction functions' default
 * memory; FLEETPROF_COMPACT_UNIT_ROWS still overrides the unit size): what the planner packs units
 * with and what a worker runs one with, so the CLI runs the plan the stack would.
 */
export function stackCompactOptions(): ReturnType<typeof compactLambdaOptions> {
  return compactLambdaOptions({ ...process.env, HOME: process.env.HOME || os.tmpdir(), AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(COMPACT_FUNCTION.memoryMb) });
}

/** A worker's DuckDB settings (stackCompactOptions), with the spill files in this process's own directory under the store's scratch directory (children run side by side: runtime.ts processSpillDir). */
export function unitDuckDbSettings(scratchDir: string): DuckDbSettings {
  return { ...stackCompactOptions().settings, tempDirectory: processSpillDir(path.join(scratchDir, 'duckdb-spill')) };
}

/** The bucket's store loads the AWS SDK only when a child opens a bucket: `fleetprof compact --data` never does (~0.2 s of start-up, docs/cli.md). */
async function openStore(spec: StoreSpec): Promise<Store> {
  if (spec.kind === 'local') return new LocalStore(spec.root);
  const [{ makeS3Client }, { tablesStore }] = await Promise.all([import('./clients'), import('./tables-store')]);
  return tablesStore(makeS3Client(), spec.bucket);
}

/** The child: one message through the worker's code, its outcome (and this process's peak and CPU) sent back, then exit. */
async function childMain(input: ChildInput): Promise<ChildAnswer> {
  const store = await openStore(input.store);
  const sent: WorkMessage[] = [];
  const units: UnitReport[] = [];
  let reason = 'failed';
  const r = await runCompactWorker(
    {
      store,
      send: async (ms) => {
        sent.push(...ms);
      },
      settings: unitDuckDbSettings(store.scratchDir),
      unitRows: input.unitRows,
      onUnit: (u) => units.push(u),
      log: (e) => {
        if (e.level === 'ERROR') reason = String(e.reason);
      },
    },
    [input.body],
    input.nowUs,
  );
  if (r.failed.length > 0) return { ok: false, reason };
  const peakMb = process.resourceUsage().maxRSS / 1024;
  const cpu = process.cpuUsage();
  const { ms: _ms, failed: _failed, ...result } = r;
  return { ok: true, outcome: { result: result satisfies CompactResult, sent, units: units.map((u) => ({ ...u, peakMb, cpuMs: (cpu.user + cpu.system) / 1000 })) } };
}

if (process.env[COMPACT_UNIT_CHILD_ENV] === '1' && process.send) {
  process.once('message', (input: ChildInput) => {
    childMain(input)
      .catch((e: unknown): ChildAnswer => ({ ok: false, reason: (e as Error).message }))
      .then((a) => process.send!(a, () => process.exit(0)));
  });
}
