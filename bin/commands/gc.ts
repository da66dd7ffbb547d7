import { parseDurationUs } from '../../lib/model/time';
import type { Command } from 'commander';
import { gcTrends, type GcBucket } from '../../lib/detect/gc-report';
import { partitionFilter } from '../../lib/query/cohort';
import { exactJson } from '../../lib/query/json';
import { formatPercent, formatValue } from '../../lib/model/units';
import { withEngine } from './engine';
import { noMatch } from './empty';
import { collectLabel, dataOption, isoTime } from './options';
import { action, CliError, EXIT } from './run';

export interface GcOptions {
  data: string;
  service?: string;
  version?: string;
  instance?: string;
  label?: Record<string, string>;
  from?: number;
  to?: number;
  bucket: string;
  json?: boolean;
}

const ns = (v: bigint) => formatValue(v, 'nanoseconds');
const mib = (v: bigint) => formatValue(v, 'bytes');

/** The readable form: one line per service, version and bucket, diagnostics indented below it. */
export function gcTable(buckets: GcBucket[]): string {
  if (buckets.length === 0) return 'no GC cycles match (ingest gctrace logs with fleetprof ingest --start ...)\n';
  const head = ['service', 'version', 'start', 'cycles', '/min', 'p50', 'p95', 'p99', 'max', 'gc cpu', 'assist', 'live avg', 'live max', 'goal avg', 'goal/live'];
  const rows = buckets.map((b) => [
    b.service,
    b.version || '-',
    b.start.replace('.000Z', 'Z'),
    String(b.cycles),
    b.cycles_per_min === null ? '-' : b.cycles_per_min.toFixed(1),
    ns(b.pause_p50_ns),
    ns(b.pause_p95_ns),
    ns(b.pause_p99_ns),
    ns(b.pause_max_ns),
    formatPercent(b.gc_cpu_fraction),
    formatPercent(b.assist_share),
    mib(b.heap_live_avg_bytes),
    mib(b.heap_live_max_bytes),
    mib(b.heap_goal_avg_bytes),
    b.goal_live_ratio === null ? '-' : b.goal_live_ratio.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd() + '\n';
  let out = line(head);
  buckets.forEach((b, i) => {
    out += line(rows[i]);
    for (const d of b.diagnostics) out += `    ! ${d.id}: ${d.message}\n`;
  });
  const n = buckets.reduce((a, b) => a + b.diagnostics.length, 0);
  out += n === 0 ? 'no GC diagnostics\n' : `${n} GC diagnostic(s)\n`;
  return out;
}

export function register(program: Command): void {
  program
    .command('gc')
    .description('GC trends from gctrace logs per service, version and time bucket, with pacer and tuning diagnostics')
    .addOption(dataOption())
    .option('--service <name>', 'only this service')
    .option('--version <v>', 'only this version (the program version: fleetprof --version)')
    .option('--instance <id>', 'only this instance')
    .option('--label <k=v>', 'only logs with this upload label (repeatable)', collectLabel, {})
    .option('--from <time>', 'cycle start >= from', isoTime)
    .option('--to <time>', 'cycle start < to', isoTime)
    .option('--bucket <duration>', 'bucket width: 30s, 5m, 1h, 1d', '1h')
    .option('--json', 'print JSON')
    .action(action('gc', runGc));
}

export async function runGc(o: GcOptions): Promise<number> {
  let bucketUs: number;
  try {
    bucketUs = parseDurationUs(o.bucket);
  } catch (e) {
    throw new CliError(`--bucket: ${(e as Error).message}`);
  }
  const q = { service: o.service, version: o.version, instance: o.instance, labels: o.label, fromUs: o.from, toUs: o.to, bucketUs, dataDir: o.data };
  const r = await withEngine(o.data, partitionFilter(q), (e) => gcTrends(e, q));
  process.stdout.write(o.json ? exactJson(r) + '\n' : gcTable(r.buckets));
  if (r.buckets.length === 0) {
    const m = noMatch('GC cycles', o.data, { '--service': o.service, '--version': o.version, '--instance': o.instance, '--label': o.label, '--from': o.from, '--to': o.to });
    process.stderr.write(`fleetprof gc: ${m.message}\n`);
    return EXIT.noData;
  }
  return EXIT.ok;
}
