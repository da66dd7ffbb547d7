import { isoFromUs } from '../model/time';
import { cohortPredicate } from '../query/cohort';
import type { QueryEngine } from '../query/engine';
import { complement } from '../query/plan';
import type { Span } from './context';
import type { Severity } from './finding';
import { fleetprofCommand } from './command';

// Silence is not "all quiet" (docs/detectors.md, "Data and ingest health"): before any detector
// says nothing changed, the digest checks that there was something to look at. Each problem is a
// HealthFinding, listed before the anomalies; a digest with one is never quiet.
//   - no-data:          no profile, GC cycle or runtime/metrics row of any service in the window;
//   - service-silent:   a service with data in the baseline and none in the window (it stopped
//                       sending, or its uploads fail);
//   - ingest-quarantine: uploads quarantined during the window (poison: they will never be
//                       ingested by themselves); counted by the caller (the Lambda lists quarantine/);
//   - ingest-dlq:       messages in the ingest dead-letter queue (ingest failed maxReceiveCount times).

export type HealthId = 'no-data' | 'service-silent' | 'ingest-quarantine' | 'ingest-dlq';

export interface HealthFinding {
  id: HealthId;
  severity: Severity;
  /** The service concerned; absent for fleet-wide problems. */
  service?: string;
  summary: string;
  evidence: Record<string, unknown>;
  nextStep: string;
}

/** What the edge (the digest Lambda) measured about ingestion; the core never calls AWS. */
export interface IngestSignals {
  /** Quarantined uploads whose quarantine time is in the window (a lower bound when `truncated`). */
  quarantined?: { inWindow: number; truncated: boolean; newest?: string; examples: { key: string; reason: string }[]; prefix: string };
  /** The dead-letter queue's approximate message counts (visible + in flight). */
  dlq?: { messages: number; queue: string };
}

/** One object under quarantine/ as a listing shows it (S3 or a local copy of the bucket). */
export interface QuarantineListing {
  /** The key under the quarantine prefix, e.g. quarantine/raw/svc/i1/<file>.reason.json. */
  key: string;
  /** Last modified (the time of the quarantine), epoch microseconds. */
  modifiedUs: number;
}

/** Reason files quoted in the finding. */
export const QUARANTINE_EXAMPLES = 3;

/**
 * The quarantine signal from a listing, the same rule wherever the listing comes from (the
 * digest Lambda lists the bucket, the CLI the bucket or <data>/quarantine/): every
 * `<key>.reason.json` modified since the window started counts (a digest re-run later still sees
 * them); up to three of them are returned for their reasons to be read.
 */
export function quarantineInWindow(listing: Iterable<QuarantineListing>, window: Span): { inWindow: number; newestUs?: number; examples: string[] } {
  let inWindow = 0;
  let newestUs: number | undefined;
  const examples: string[] = [];
  for (const o of listing) {
    if (!o.key.endsWith('.reason.json') || o.modifiedUs < window.fromUs) continue;
    inWindow++;
    if (newestUs === undefined || o.modifiedUs > newestUs) newestUs = o.modifiedUs;
    if (examples.length < QUARANTINE_EXAMPLES) examples.push(o.key);
  }
  return { inWindow, newestUs, examples };
}

/** An example for the finding from a reason file's key and text (undefined: it could not be read). */
export function quarantineExample(reasonKey: string, prefix: string, body: string | undefined): { key: string; reason: string } {
  const fallback = reasonKey.slice(reasonKey.startsWith(prefix) ? prefix.length : 0, -'.reason.json'.length);
  if (body === undefined) return { key: fallback, reason: '(reason not readable)' };
  try {
    const j = JSON.parse(body) as { key?: string; reason?: string };
    return { key: j.key ?? fallback, reason: String(j.reason ?? '').slice(0, 300) };
  } catch {
    // An unreadable reason file still counts; the example just has none.
    return { key: fallback, reason: '(reason not readable)' };
  }
}

/** Per service: rows in the baseline and in the window, and the time of its last row. */
export interface ServicePresence {
  service: string;
  baselineRows: number;
  windowRows: number;
  lastUs: number | null;
}

const DATA_TABLES = ['profiles', 'gc_cycles', 'runtime_metrics'] as const;

export async function servicePresence(engine: QueryEngine, baseline: Span, window: Span, service?: string): Promise<ServicePresence[]> {
  const range = { service, fromUs: baseline.fromUs, toUs: window.toUs };
  const parts: string[] = [];
  const params: Record<string, string | number | bigint | boolean> = { split_us: BigInt(window.fromUs) };
  // Whole hours that are rolled up, in the baseline and the window, count from profiles_1h
  // (snapshots: one per profile row) and gc_1h (cycles), not from raw rows: a 7-day baseline of
  // 1,000 instances is billions of raw rows (runtime/metrics above all) the digest otherwise never
  // reads, and over S3 the window's raw files would be downloaded whole (1.6 GB at 1,000
  // instances) to count them. Raw rows are read only for the other hours (rawSource: their files
  // only). runtime/metrics rows of rolled-up hours count only for a service with nothing else in
  // the window (below): presence needs only some row.
  const HOUR = 3_600_000_000;
  const covered = engine.coveredHours('profiles_1h');
  const rolled = covered ? [...covered].filter((h) => h >= baseline.fromUs && h + HOUR <= window.toUs).sort((a, b) => a - b) : [];
  const rolledSpans = rolled.map((h): [number, number] => [h, h + HOUR]);
  const rawSpans = complement(range.fromUs, range.toUs, rolledSpans);
  const ts = (us: number) => `make_timestamp(${us}::BIGINT)`;
  const inRolled = (col: string) => (rolled.length === 0 ? 'false' : `date_trunc('hour', ${col}) IN (${rolled.map(ts).join(', ')})`);
  for (const [i, t] of DATA_TABLES.entries()) {
    const p = cohortPredicate(range, t, { prefix: `h${i}_` });
    Object.assign(params, p.params);
    parts.push(`SELECT service, time, 1 AS n FROM ${await engine.rawSource(t, rawSpans)} WHERE ${p.sql} AND NOT ${inRolled('time')}`);
  }
  if (rolled.length > 0) {
    const svc = service === undefined ? 'true' : 'service = $h_rolled_service';
    if (service !== undefined) params.h_rolled_service = service;
    const hours = `hour IN (${rolled.map(ts).join(', ')})`;
    parts.push(`SELECT service, last_time AS time, snapshots AS n FROM ${(await engine.spanSource('profiles_1h', rolledSpans)) ?? 'profiles_1h'} WHERE ${svc} AND ${hours}`);
    parts.push(`SELECT service, hour AS time, cycles AS n FROM ${(await engine.spanSource('gc_1h', rolledSpans)) ?? 'gc_1h'} WHERE ${svc} AND ${hours}`);
  }
  const count = (from: string) =>
    `SELECT service,
            COALESCE(SUM(n) FILTER (WHERE time < make_timestamp($split_us::BIGINT)), 0) AS b,
            COALESCE(SUM(n) FILTER (WHERE time >= make_timestamp($split_us::BIGINT)), 0) AS w,
            epoch_us(max(time)) AS last_us
     FROM (${from}) GROUP BY service ORDER BY service`;
  const out = (await engine.rows(count(parts.join(' UNION ALL ')), params)).map((r) => ({
    service: r.service as string,
    baselineRows: Number(r.b),
    windowRows: Number(r.w),
    lastUs: r.last_us === null ? null : Number(r.last_us),
  }));
  // A service silent in the window by the count above may still have sent runtime/metrics in its
  // rolled-up hours (a service without profiles or gctrace): those hours' runtime_metrics rows,
  // of such services only, so a digest of services that send profiles reads none.
  const quiet = out.filter((p) => p.windowRows === 0);
  const rolledWindow = rolledSpans.filter(([a]) => a >= window.fromUs);
  if ((quiet.length > 0 || out.length === 0) && rolledWindow.length > 0) {
    const mp: Record<string, string | number | bigint | boolean> = { split_us: BigInt(window.fromUs) };
    const p = cohortPredicate({ service, fromUs: window.fromUs, toUs: window.toUs }, 'runtime_metrics', { prefix: 'm_' });
    Object.assign(mp, p.params);
    const known = out.length === 0 ? 'true' : `service IN (${quiet.map((q, i) => ((mp[`m_q${i}`] = q.service), `$m_q${i}`)).join(', ')})`;
    const extra = await engine.rows(count(`SELECT service, time, 1 AS n FROM ${await engine.rawSource('runtime_metrics', rolledWindow)} WHERE ${p.sql} AND ${inRolled('time')} AND ${known}`), mp);
    for (const r of extra) {
      const have = out.find((x) => x.service === r.service);
      const last = r.last_us === null ? null : Number(r.last_us);
      if (have) {
        have.windowRows += Number(r.w);
        if (last !== null && (have.lastUs === null || last > have.lastUs)) have.lastUs = last;
      } else out.push({ service: r.service as string, baselineRows: 0, windowRows: Number(r.w), lastUs: last });
    }
    out.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
  }
  return out;
}

export interface HealthInput {
  presence: ServicePresence[];
  window: Span;
  baseline: Span;
  ingest?: IngestSignals;
  /** Only this service was asked for. */
  service?: string;
  /** For the suggested commands: how to reach the data ("--data DIR"). */
  dataArgs: string[];
}

export function healthFindings(h: HealthInput): HealthFinding[] {
  const out: HealthFinding[] = [];
  const q = h.ingest?.quarantined;
  if (q && q.inWindow > 0) {
    out.push({
      id: 'ingest-quarantine',
      severity: 'high',
      summary: `${q.inWindow}${q.truncated ? '+' : ''} upload(s) were quarantined in the window: ingestion refused them and will not retry${q.examples[0] ? ` (e.g. ${q.examples[0].key}: ${q.examples[0].reason})` : ''}`,
      evidence: { quarantined_in_window: q.inWindow, truncated: q.truncated, newest: q.newest, examples: q.examples, prefix: q.prefix },
      nextStep: `Read the reasons next to the copies (${q.prefix}<key>.reason.json); fix the uploader or the contract error, then upload again (docs/upload-contract.md).`,
    });
  }
  const dlq = h.ingest?.dlq;
  if (dlq && dlq.messages > 0) {
    out.push({
      id: 'ingest-dlq',
      severity: 'high',
      summary: `${dlq.messages} message(s) in the ingest dead-letter queue: uploads failed ingestion repeatedly and are not in the tables`,
      evidence: { messages: dlq.messages, queue: dlq.queue },
      nextStep: `See the ingest Lambda's errors in its log group, fix the cause, then redrive the queue (docs/deploy.md, "Dead-letter queue").`,
    });
  }
  const inWindow = h.presence.filter((p) => p.windowRows > 0);
  if (inWindow.length === 0) {
    const known = h.presence.map((p) => p.service);
    out.push({
      id: 'no-data',
      severity: 'high',
      service: h.service,
      summary:
        `no data in the window ${isoFromUs(h.window.fromUs)} - ${isoFromUs(h.window.toUs)}${h.service !== undefined ? ` for ${h.service}` : ''}: ` +
        (known.length > 0 ? `${known.length} service(s) sent data in the baseline and none in the window` : 'nothing in the baseline either'),
      evidence: { services_in_baseline: known },
      nextStep: `Check that the agents upload (agent Stats(): Dropped, FailedAttempts, LastError) and that ingestion runs; list what arrived with ${fleetprofCommand('sql', ...h.dataArgs, 'SELECT service, max(time) AS last FROM profiles GROUP BY ALL ORDER BY last')}.`,
    });
    return out;
  }
  for (const p of h.presence) {
    if (p.windowRows > 0 || p.baselineRows === 0) continue;
    out.push({
      id: 'service-silent',
      severity: 'high',
      service: p.service,
      summary: `${p.service} sent no data in the window; its last data is from ${p.lastUs === null ? '?' : isoFromUs(p.lastUs)} (${p.baselineRows} row(s) in the baseline)`,
      evidence: { baseline_rows: p.baselineRows, window_rows: 0, last: p.lastUs === null ? null : isoFromUs(p.lastUs) },
      nextStep: `Is ${p.service} still running (a decommission, a crash loop, an agent that cannot reach the bucket)? Its agent's Stats() say why uploads fail; if it was retired, nothing to do.`,
    });
  }
  return out;
}
