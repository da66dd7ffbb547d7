import { gzipSync } from 'node:zlib';
import { FUNCTION, LABEL, LINE, LOCATION, PROFILE, SAMPLE, tagOf, WIRE } from '../model/pprof-wire';
import { int64, PprofWriter } from '../model/pprof-writer';
import { cohortPredicate, type SqlParams } from './cohort';
import type { QueryEngine } from './engine';
import { windowSelectSql } from './plan';
import type { WindowCohort } from './window';

// The merged profile of a cohort, rebuilt from the stacks table as a gzipped pprof protobuf.
// One Function per (name, file, start line), as profile.Merge keys them; one Location per run of
// frames inlined into each other (the stacks table's `inlined` flags), with one Line per frame,
// innermost first: `go tool pprof -top` and `-top -lines` on the result print the same rows as on
// the original files, `(inline)` markers included. Addresses and mappings are not kept (pprof's
// functions and lines granularities clear addresses; see docs/schema.md), so `-addresses` differs.
// Values are the window's (lib/query/window.ts), per sample type: an allocs window exports the
// increase, so `go tool pprof -top` on it prints what `-base <last before> <last in window>` prints.

/**
 * Why a cohort has no merged profile: nothing matched ('no-profiles'), or what matched cannot be
 * merged ('incompatible': different period types or sample types, refused as pprof's merge.go
 * `compatible` refuses them). Callers tell them apart by type, never by message text.
 */
export class ExportError extends Error {
  constructor(
    readonly reason: 'no-profiles' | 'incompatible',
    message: string,
  ) {
    super(message);
    this.name = 'ExportError';
  }
}

export function isExportError(e: unknown, reason?: ExportError['reason']): e is ExportError {
  return e instanceof ExportError && (reason === undefined || e.reason === reason);
}

interface MergedStack {
  frames: string[];
  lines: number[];
  files: string[];
  startLines: number[];
  inlined: boolean[];
  labels: [string, string][];
  numLabels: [string, bigint][];
  values: bigint[];
}

export async function exportMerged(engine: QueryEngine, c: WindowCohort): Promise<Uint8Array> {
  const p = cohortPredicate(c, 'profiles', { alias: 'p' });
  // Capture time, then id: profiles captured in the same microsecond merge in a fixed order.
  const meta = await engine.rows(
    `SELECT p.profile_id, p.sample_types, p.period_type, p.period_unit, p.period, p.default_sample_type,
            epoch_us(p.time) AS time_us, p.duration_ns
     FROM profiles p WHERE ${p.sql} ORDER BY p.time, p.profile_id`,
    p.params,
  );
  if (meta.length === 0) throw new ExportError('no-profiles', 'no profiles match the filters');
  const types = (meta[0].sample_types as { type: string; unit: string }[]).map((t) => ({ type: t.type, unit: t.unit }));
  const period = checkCompatible(meta);
  const typeIndex = new Map(types.map((t, i) => [t.type, i]));

  const rows: Record<string, unknown>[] = [];
  for (const t of types) {
    const params: SqlParams = {};
    const sql = await windowSelectSql(engine, c, t.type, {
      table: 'stacks',
      keys: ['stack_id', 'frames', 'lines', 'files', 'start_lines', 'inlined', 'sample_labels', 'num_labels'].map((k) => ({ expr: `t.${k}`, name: k })),
      values: [{ expr: 't.value', name: 'v' }],
    }, params);
    const part = await engine.rows(`SELECT *, $st AS sample_type FROM (${sql}) WHERE v <> 0`, params);
    rows.push(...part);
  }

  const merged = new Map<string, MergedStack>();
  for (const r of rows) {
    const labels = mapEntries<string>(r.sample_labels);
    const numLabels = mapEntries<bigint>(r.num_labels);
    const key = `${r.stack_id}|${JSON.stringify([r.frames, r.lines, r.files, r.start_lines, r.inlined])}|${JSON.stringify(labels)}|${numLabels.map(([k, v]) => k + '=' + v).join(',')}`;
    let m = merged.get(key);
    if (!m) {
      const frames = r.frames as string[];
      // Rows written before files, start lines and inline flags were stored read back as NULL.
      m = {
        frames,
        lines: r.lines as number[],
        files: (r.files as string[] | null) ?? frames.map(() => ''),
        startLines: (r.start_lines as number[] | null) ?? frames.map(() => 0),
        inlined: (r.inlined as boolean[] | null) ?? frames.map(() => false),
        labels,
        numLabels,
        values: types.map(() => 0n),
      };
      merged.set(key, m);
    }
    const t = typeIndex.get(r.sample_type as string);
    if (t !== undefined) m.values[t] += r.v as bigint;
  }

  let durationNs = 0n;
  for (const m of meta) durationNs += BigInt(m.duration_ns as bigint);
  return gzipSync(
    encode({
      types,
      stacks: [...merged.values()],
      periodType: { type: meta[0].period_type as string, unit: meta[0].period_unit as string },
      period,
      defaultSampleType: meta[0].default_sample_type as string,
      timeNanos: BigInt(meta[0].time_us as bigint) * 1000n,
      durationNanos: durationNs,
    }),
  );
}

const valueTypes = (ts: readonly { type: string; unit: string }[]): string => `[${ts.map((t) => `${t.type}/${t.unit}`).join(' ')}]`;

/**
 * pprof's merge.go: profiles merge only when their period types and sample types (in order) are
 * equal; the merged period is the largest. Returns that period.
 */
function checkCompatible(meta: Record<string, unknown>[]): bigint {
  const first = meta[0];
  const firstTypes = valueTypes(first.sample_types as { type: string; unit: string }[]);
  const firstPeriod = `${first.period_type}/${first.period_unit}`;
  let period = BigInt(first.period as bigint);
  for (const m of meta.slice(1)) {
    const periodType = `${m.period_type}/${m.period_unit}`;
    if (periodType !== firstPeriod) {
      throw new ExportError('incompatible', `cannot merge profiles ${first.profile_id} and ${m.profile_id}: incompatible period types ${firstPeriod} and ${periodType}`);
    }
    const types = valueTypes(m.sample_types as { type: string; unit: string }[]);
    if (types !== firstTypes) {
      throw new ExportError('incompatible', `cannot merge profiles ${first.profile_id} and ${m.profile_id}: incompatible sample types ${firstTypes} and ${types}`);
    }
    const p = BigInt(m.period as bigint);
    if (p > period) period = p;
  }
  return period;
}

/** DuckDB MAP values come back as [{key, value}] lists. */
function mapEntries<V>(v: unknown): [string, V][] {
  if (!v) return [];
  const entries = Array.isArray(v) ? (v as { key: string; value: V }[]) : Object.entries(v as Record<string, V>).map(([key, value]) => ({ key, value }));
  return entries.map((e) => [e.key, e.value] as [string, V]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

interface EncodeInput {
  types: { type: string; unit: string }[];
  stacks: MergedStack[];
  periodType: { type: string; unit: string };
  period: bigint;
  defaultSampleType: string;
  timeNanos: bigint;
  durationNanos: bigint;
}

export function encode(p: EncodeInput): Uint8Array {
  const pw = new PprofWriter();
  const s = (x: string) => pw.str(x);
  const fnIds = new Map<string, number>();
  const locIds = new Map<string, number>();
  const w = pw.w;
  const B = WIRE.BYTES;
  const V = WIRE.VARINT;
  const valueType = (field: number, t: { type: string; unit: string }) => pw.valueType(field, t);
  for (const t of p.types) valueType(PROFILE.SAMPLE_TYPE, t);
  const functions: { id: number; name: string; file: string; startLine: number }[] = [];
  /** Per location: its id and Lines [function id, line], innermost first. */
  const locations: { id: number; lines: [number, number][] }[] = [];
  for (const st of p.stacks) {
    if (st.values.every((v) => v === 0n)) continue;
    const ids: number[] = [];
    let run: [number, number][] = [];
    for (let i = 0; i < st.frames.length; i++) {
      const name = st.frames[i];
      const file = st.files[i] ?? '';
      const startLine = st.startLines[i] ?? 0;
      const fkey = `${startLine}\u0000${file}\u0000${name}`;
      let fid = fnIds.get(fkey);
      if (fid === undefined) {
        fid = fnIds.size + 1;
        fnIds.set(fkey, fid);
        functions.push({ id: fid, name, file, startLine });
      }
      run.push([fid, st.lines[i] ?? 0]);
      // A frame inlined into the next one shares its Location; the last frame always ends one.
      if (st.inlined[i] && i < st.frames.length - 1) continue;
      const lkey = run.map(([f, l]) => `${f}:${l}`).join(',');
      let lid = locIds.get(lkey);
      if (lid === undefined) {
        lid = locIds.size + 1;
        locIds.set(lkey, lid);
        locations.push({ id: lid, lines: run });
      }
      ids.push(lid);
      run = [];
    }
    w.uint32(tagOf(PROFILE.SAMPLE, B)).fork();
    if (ids.length) {
      w.uint32(tagOf(SAMPLE.LOCATION_ID, B)).fork(); // packed
      for (const id of ids) w.uint64(id);
      w.ldelim();
    }
    w.uint32(tagOf(SAMPLE.VALUE, B)).fork(); // packed
    for (const v of st.values) w.int64(int64(v));
    w.ldelim();
    for (const [k, v] of st.labels) {
      w.uint32(tagOf(SAMPLE.LABEL, B)).fork();
      w.uint32(tagOf(LABEL.KEY, V)).int64(s(k));
      w.uint32(tagOf(LABEL.STR, V)).int64(s(v));
      w.ldelim();
    }
    for (const [k, v] of st.numLabels) {
      w.uint32(tagOf(SAMPLE.LABEL, B)).fork();
      w.uint32(tagOf(LABEL.KEY, V)).int64(s(k));
      w.uint32(tagOf(LABEL.NUM, V)).int64(int64(BigInt(v)));
      w.ldelim();
    }
    w.ldelim();
  }
  for (const loc of locations) {
    w.uint32(tagOf(PROFILE.LOCATION, B)).fork();
    w.uint32(tagOf(LOCATION.ID, V)).uint64(loc.id);
    for (const [fid, line] of loc.lines) {
      w.uint32(tagOf(LOCATION.LINE, B)).fork();
      w.uint32(tagOf(LINE.FUNCTION_ID, V)).uint64(fid);
      if (line) w.uint32(tagOf(LINE.LINE, V)).int64(line);
      w.ldelim();
    }
    w.ldelim();
  }
  for (const f of functions) {
    w.uint32(tagOf(PROFILE.FUNCTION, B)).fork();
    w.uint32(tagOf(FUNCTION.ID, V)).uint64(f.id);
    w.uint32(tagOf(FUNCTION.NAME, V)).int64(s(f.name));
    w.uint32(tagOf(FUNCTION.SYSTEM_NAME, V)).int64(s(f.name));
    if (f.file) w.uint32(tagOf(FUNCTION.FILENAME, V)).int64(s(f.file));
    if (f.startLine) w.uint32(tagOf(FUNCTION.START_LINE, V)).int64(f.startLine);
    w.ldelim();
  }
  if (p.timeNanos) w.uint32(tagOf(PROFILE.TIME_NANOS, V)).int64(int64(p.timeNanos));
  if (p.durationNanos) w.uint32(tagOf(PROFILE.DURATION_NANOS, V)).int64(int64(p.durationNanos));
  valueType(PROFILE.PERIOD_TYPE, p.periodType);
  if (p.period) w.uint32(tagOf(PROFILE.PERIOD, V)).int64(int64(p.period));
  w.uint32(tagOf(PROFILE.DEFAULT_SAMPLE_TYPE, V)).int64(s(p.defaultSampleType));
  return pw.finish();
}
