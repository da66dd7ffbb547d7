// runtime/metrics snapshots as JSON -> MetricSnapshotRow per metric per snapshot.
//
// Input: one document `{"time": "<RFC 3339>", "metrics": {"<name>": <value>}}`, a JSON array of
// them, or JSON lines (one document per line). A value is a number (or null for a metric the
// runtime reported as unsupported) or a Float64Histogram `{"buckets": [...], "counts": [...]}`.
// JSON cannot hold infinities, so histogram bounds may be the strings "-Inf"/"+Inf" ("Inf",
// "-Infinity", "+Infinity", "Infinity" too) or null as the first (-Inf) or last (+Inf) bound.
//
// Kind rule: the JSON does not carry runtime/metrics' Kind, and a float64 metric can happen to hold
// an integral value (0 cpu-seconds at startup), so the kind is inferred from the unit, which is
// stable across snapshots: runtime/metrics reports time (`seconds`, `cpu-seconds`) as Float64 and
// every other scalar (bytes, objects, gc-cycles, percent, ...) as Uint64. A value in a non-time unit
// that is not a non-negative integer is still reported as float64 rather than rejected.

import type { MetricKind, MetricSnapshotRow } from '../../model/gc';
import { DecodeError } from '../errors';
import type { Decoded, InputFormat } from '../format';
import { parseRfc3339Us } from './gctrace';
import { preview } from '../preview';
import { LIMITS, timeRangeProblem } from '../../model/limits';

// runtime/metrics description.go: ^(?P<name>/[^:]+):(?P<unit>[^:*/]+(?:[*/][^:*/]+)*)$
const METRIC_NAME = /^\/[^:]+:([^:*/]+(?:[*/][^:*/]+)*)$/;
const FLOAT_UNITS = new Set(['seconds', 'cpu-seconds']);
const NEG_INF = new Set(['-Inf', '-inf', '-Infinity']);
const POS_INF = new Set(['+Inf', '+inf', 'Inf', 'inf', '+Infinity', 'Infinity']);

export function parseRuntimeMetrics(text: string): MetricSnapshotRow[] {
  const docs = parseDocuments(text);
  const rows: MetricSnapshotRow[] = [];
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `document ${i + 1}` : 'document';
    snapshotRows(doc, where, rows);
  });
  return rows;
}

function bad(message: string): DecodeError {
  return new DecodeError('malformed', `runtime/metrics: ${message}`);
}

function parseDocuments(text: string): unknown[] {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed.length === 0) throw new DecodeError('empty', 'runtime/metrics: empty input');
  let whole: unknown;
  let wholeError: unknown;
  try {
    whole = JSON.parse(trimmed);
  } catch (e) {
    wholeError = e;
  }
  if (wholeError === undefined) return Array.isArray(whole) ? whole : [whole];

  const lines = trimmed.split('\n');
  if (lines.length === 1) throw bad(`not JSON (${errorText(wholeError)})${infinityHint(trimmed)}`);
  const docs: unknown[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line.length === 0) continue;
    try {
      docs.push(JSON.parse(line));
    } catch (e) {
      const what = docs.length === 0 ? 'not JSON or JSON lines' : 'not valid JSON lines';
      throw bad(`${what}: line ${i + 1}: ${errorText(e)}${infinityHint(line)}`);
    }
  }
  return docs;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function infinityHint(s: string): string {
  return /(?<!")[-+]?\b(?:Inf|Infinity|NaN)\b(?!")/.test(s) ? '; write infinities as the strings "-Inf"/"+Inf"' : '';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function snapshotRows(doc: unknown, where: string, rows: MetricSnapshotRow[]): void {
  if (!isObject(doc)) throw bad(`${where}: expected an object {"time": ..., "metrics": {...}}`);
  if (doc.time === undefined || doc.time === null) throw bad(`${where}: missing "time"`);
  if (typeof doc.time !== 'string') throw bad(`${where}: "time" must be an RFC 3339 string, got ${preview(doc.time)}`);
  const timeUs = parseRfc3339Us(doc.time);
  if (timeUs === null) {
    throw bad(`${where}: "time" ${preview(doc.time)} is not an RFC 3339 timestamp with a zone (e.g. 2024-01-01T00:00:00Z)`);
  }
  const outside = timeRangeProblem(timeUs);
  if (outside) throw new DecodeError('out-of-range', `runtime/metrics: ${where}: "time" ${preview(doc.time)}: ${outside}`);
  if (doc.metrics === undefined) throw bad(`${where}: missing "metrics"`);
  if (!isObject(doc.metrics)) throw bad(`${where}: "metrics" must be an object of name -> value`);

  for (const [name, value] of Object.entries(doc.metrics)) {
    const nm = METRIC_NAME.exec(name);
    if (name.length > LIMITS.maxNameLength) throw new DecodeError('limit', `runtime/metrics: ${where}: a metric name of ${name.length} characters is over the limit of ${LIMITS.maxNameLength}`);
    if (!nm) throw bad(`${where}: ${preview(name)} is not a runtime/metrics name (/path:unit)`);
    const unit = nm[1];
    const at = `${where}: metric ${name}`;
    if (isObject(value)) {
      const { buckets, counts } = histogram(value, at);
      rows.push({ timeUs, name, unit, kind: 'histogram', value: null, buckets, counts });
    } else {
      const v = scalar(value, at);
      rows.push({ timeUs, name, unit, kind: scalarKind(unit, v), value: v, buckets: null, counts: null });
    }
  }
}

function scalarKind(unit: string, v: number | null): MetricKind {
  if (FLOAT_UNITS.has(unit)) return 'float64';
  return v === null || (Number.isInteger(v) && v >= 0) ? 'uint64' : 'float64';
}

function scalar(value: unknown, at: string): number | null {
  if (value === null) return null;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    if (NEG_INF.has(value)) return -Infinity;
    if (POS_INF.has(value)) return Infinity;
    if (value === 'NaN') return NaN;
  }
  throw bad(`${at}: value must be a number, null or {"buckets","counts"}, got ${preview(value)}`);
}

function histogram(value: Record<string, unknown>, at: string): { buckets: number[]; counts: number[] } {
  const rawBuckets = value.buckets;
  const rawCounts = value.counts;
  if (!Array.isArray(rawBuckets) || !Array.isArray(rawCounts)) {
    throw bad(`${at}: a histogram needs "buckets" and "counts" arrays`);
  }
  if (!(rawBuckets.length === rawCounts.length + 1 || (rawBuckets.length === 0 && rawCounts.length === 0))) {
    throw bad(`${at}: bad histogram: ${rawBuckets.length} buckets for ${rawCounts.length} counts (need counts + 1)`);
  }
  const last = rawBuckets.length - 1;
  const buckets = rawBuckets.map((b, i) => {
    if (typeof b === 'number') return b;
    if (b === null && i === 0) return -Infinity;
    if (b === null && i === last) return Infinity;
    if (typeof b === 'string' && NEG_INF.has(b)) return -Infinity;
    if (typeof b === 'string' && POS_INF.has(b)) return Infinity;
    throw bad(`${at}: bucket ${i} is ${preview(b)}; expected a number, "-Inf"/"+Inf", or null as the first/last bound`);
  });
  for (let i = 1; i < buckets.length; i++) {
    if (!(buckets[i] > buckets[i - 1])) {
      throw bad(`${at}: buckets must increase, but bucket ${i} (${buckets[i]}) <= bucket ${i - 1} (${buckets[i - 1]})`);
    }
  }
  const counts = rawCounts.map((c, i) => {
    // Counts are uint64 in Go but BIGINT here, and JSON numbers beyond 2^53 are already rounded.
    if (typeof c === 'number' && Number.isSafeInteger(c) && c >= 0) return c;
    throw bad(`${at}: count ${i} is ${preview(c)}; expected a non-negative integer below 2^53`);
  });
  return { buckets, counts };
}

const SNIFF_CHARS = 64 * 1024;
// `"metrics"` holding an object whose first key is a runtime/metrics name (`/path:unit`).
const METRICS_HEAD = /"metrics"\s*:\s*\{\s*"\/[^":]+:[^":]+"\s*:/;

/** Content detection from the head: its shape, not its validity (the parser reports that). */
export function looksLikeRuntimeMetrics(text: string): boolean {
  const head = text.slice(0, SNIFF_CHARS).replace(/^\uFEFF/, '').trimStart();
  return (head.startsWith('{') || head.startsWith('[')) && METRICS_HEAD.test(head);
}

export const runtimeMetricsFormat: InputFormat<Extract<Decoded, { input: 'runtime-metrics' }>> = {
  name: 'runtime-metrics',
  input: 'runtime-metrics',
  uploadKind: 'metrics',
  sniff: (head) => looksLikeRuntimeMetrics(head.text),
  decode(raw) {
    const snapshots = parseRuntimeMetrics(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
    if (snapshots.length === 0) throw new DecodeError('empty', 'runtime/metrics: no metrics in the input');
    return { input: 'runtime-metrics', snapshots };
  },
};
