import { parseDurationUs } from '../../lib/model/time';
import { gcTrends, type GcBucket } from '../../lib/detect/gc-report';
import { partitionFilter } from '../../lib/query/cohort';
import { exactJson } from '../../lib/query/json';
import { formatPercent, formatValue } from '../../lib/model/units';
import { openLocalEngine } from './local';

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

export async function runGc(o: GcOptions): Promise<number> {
  let bucketUs: number;
  try {
    bucketUs = parseDurationUs(o.bucket);
  } catch (e) {
    process.stderr.write(`fleetprof gc: --bucket: ${(e as Error).message}\n`);
    return 1;
  }
  const q = { service: o.service, version: o.version, instance: o.instance, labels: o.label, fromUs: o.from, toUs: o.to, bucketUs, dataDir: o.data };
  const engine = await openLocalEngine(o.data, partitionFilter(q));
  try {
    const r = await gcTrends(engine, q);
    process.stdout.write(o.json ? exactJson(r) + '\n' : gcTable(r.buckets));
    return 0;
  } catch (e) {
    process.stderr.write(`fleetprof gc: --bucket: ${(e as Error).message}\n`);
    return 1;
  } finally {
    engine.close();
  }
}
