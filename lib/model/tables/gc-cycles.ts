import { rowCodec } from './codec';
import { identity, labels, partitionKeys } from './common';
import { T, type RowOf, type TableDef } from './types';

export const gcCycles = {
  name: 'gc_cycles',
  doc:
    'One row per GC cycle of a `GODEBUG=gctrace=1` log (Go 1.5+). Durations are exact nanoseconds (the log prints at most ' +
    'three decimals of a millisecond); sizes are bytes, converted from the log\'s MB, which are MiB rounded down (so ' +
    'every size is a multiple of 1048576). One log spanning several UTC days is written as one file per `dt`.',
  partitionKeys,
  columns: [
    ...identity,
    labels,
    { name: 'time', type: T.timestamp, doc: 'Start of the cycle, UTC: the segment\'s process start + the line\'s `@<s>s` offset.' },
    { name: 'segment', type: T.integer, doc: '0-based process lifetime within the log: a new segment begins whenever the gc number does not increase (a restart).' },
    {
      name: 'time_estimated',
      type: T.boolean,
      doc: 'True when the segment\'s start had to be guessed (a restart in a log without absolute timestamps: the previous segment\'s last cycle time is used).',
    },
    { name: 'gc', type: T.bigint, doc: 'Cycle number `gc N` (1-based, per process).' },
    { name: 'forced', type: T.boolean, doc: '`(forced)`: runtime.GC() or debug.FreeOSMemory(); in Go 1.5-1.8 also every GC under GODEBUG=gcstoptheworld.' },
    { name: 'cpu_pct', type: T.integer, doc: 'The printed `N%`: percent of CPU spent in GC since the process started (the runtime\'s own cumulative figure).' },
    { name: 'pause_ns', type: T.bigint, doc: 'Stop-the-world wall time: first + last clock phase (sweep termination + mark termination).' },
    { name: 'sweep_term_ns', type: T.bigint, doc: 'Wall time of the STW sweep termination phase (first clock value).' },
    { name: 'mark_ns', type: T.bigint, doc: 'Wall time of the concurrent mark phase (Go 1.5: scan + install write barrier + mark).' },
    { name: 'mark_term_ns', type: T.bigint, doc: 'Wall time of the STW mark termination phase (last clock value).' },
    { name: 'sweep_term_cpu_ns', type: T.bigint, doc: 'CPU time of sweep termination (first cpu value: procs x wall time).' },
    { name: 'assist_cpu_ns', type: T.bigint, doc: 'CPU time of mark assists: goroutines drafted into marking because they allocated.' },
    { name: 'background_cpu_ns', type: T.bigint, doc: 'CPU time of the dedicated + fractional background mark workers (Go 1.5: plus its scan and install-WB phases).' },
    { name: 'idle_cpu_ns', type: T.bigint, doc: 'CPU time of idle mark workers (marking on otherwise idle Ps).' },
    { name: 'mark_term_cpu_ns', type: T.bigint, doc: 'CPU time of mark termination (last cpu value: procs x wall time).' },
    { name: 'heap_start_bytes', type: T.bigint, doc: 'Heap in use when the cycle started (first of `A->B->C MB`).' },
    { name: 'heap_end_bytes', type: T.bigint, doc: 'Heap in use when marking ended (second of `A->B->C MB`).' },
    { name: 'heap_live_bytes', type: T.bigint, doc: 'Live (marked) heap after the cycle (third of `A->B->C MB`; runtime/metrics /gc/scan/heap:bytes).' },
    {
      name: 'heap_goal_bytes',
      type: T.bigint,
      doc: 'Heap goal (`N MB goal`): the heap size at which the next cycle is due. Exact even beyond 2^53 (GC off prints goals like 8532210231531 MB).',
    },
    { name: 'stacks_bytes', type: T.bigint, nullable: true, doc: 'Scannable goroutine stacks (`N MB stacks`); NULL before Go 1.18, which does not print it.' },
    { name: 'globals_bytes', type: T.bigint, nullable: true, doc: 'Scannable globals (`N MB globals`); NULL before Go 1.18, which does not print it.' },
    { name: 'procs', type: T.integer, doc: 'GOMAXPROCS during the cycle (`N P`).' },
    { name: 'go_format', type: T.varchar, doc: "Line layout: '1.5' (5 clock phases), '1.6' (Go 1.6-1.17) or '1.18' (Go 1.18+, with stacks and globals)." },
  ],
  // Instance-major: a log's rows (one profile_id, one instance) are adjacent, so those two columns
  // run-length encode instead of costing a dictionary index per row (time-major: 493 vs 97 kB for
  // this table on the 100-instance bench hour, docs/performance.md "Storage per CPU sample"). The
  // price: a compacted file's row groups are not time ranges (raw gc reads of part of a day read
  // the day's row groups; whole hours come from gc_1h), and --instance reads prune.
  sortBy: ['instance', 'time', 'gc'],
} as const satisfies TableDef;

export type GcCyclesRow = RowOf<typeof gcCycles>;
export const gcCyclesCodec = rowCodec(gcCycles);
