import type { Int64, Profile, ProfileKind } from '../model/profile';
import type { SourceMeta } from '../model/source';
import { floorToMs } from '../model/time';
import type { FunctionsRow, PackedStackRow, PackedStacks, ProfilesRow } from '../model/schema';
import { storedTemporality } from '../model/temporality';
import { buildFrameTable } from './frames';
import { checkProfileLimits, checkProfileTimes } from './limits';
import { functionStats } from './functions';
import { aggregateStacks } from './stacks';

// Profile + what the upload says about it -> rows of the profiles, functions and stacks tables.

export interface ProfileRows {
  readonly profileId: string;
  readonly kind: ProfileKind;
  readonly timeUs: number;
  readonly profiles: ProfilesRow[];
  readonly functions: FunctionsRow[];
  readonly stacks: PackedStacks;
}

const INT64_MAX = (1n << 63n) - 1n;

function checkInt64(v: Int64, what: string): Int64 {
  if (typeof v === 'bigint' && (v > INT64_MAX || v < -INT64_MAX - 1n)) throw new RangeError(`${what} does not fit in BIGINT`);
  return v;
}

/** The stored capture time: whole milliseconds (floorToMs says why), in epoch microseconds. */
export function captureTimeUs(p: Profile, meta: SourceMeta): number {
  if (p.timeNanos !== 0) return floorToMs(Number(BigInt(p.timeNanos) / 1000n));
  if (meta.startUs !== undefined) return floorToMs(meta.startUs);
  throw new Error('the profile carries no capture time (Go debug=1 text): pass --start or upload with a start time');
}

export function profileRows(p: Profile, kind: ProfileKind, meta: SourceMeta, profileId: string): ProfileRows {
  const timeUs = captureTimeUs(p, meta);
  checkProfileTimes(p, timeUs, p.timeNanos !== 0 ? 'time_nanos' : 'start');
  const frames = buildFrameTable(p);
  checkProfileLimits(p, frames);
  const stats = functionStats(p, frames);
  const base = { profile_id: profileId, service: meta.service, instance: meta.instance, version: meta.version, kind, time: timeUs };

  const profiles: ProfilesRow[] = [
    {
      ...base,
      labels: meta.labels,
      process: meta.process,
      temporality: storedTemporality(kind, meta.temporality),
      duration_ns: p.durationNanos,
      period_type: p.periodType?.type ?? '',
      period_unit: p.periodType?.unit ?? '',
      period: p.period,
      sample_types: stats.map((s) => ({ type: s.sampleType, unit: s.unit, total: checkInt64(s.total, 'total') })),
      default_sample_type: p.defaultSampleType,
      samples: p.samples.count,
      format: p.format,
      source: meta.source,
    },
  ];

  const functions: FunctionsRow[] = [];
  for (const s of stats) {
    for (const f of s.functions) {
      // Every field spelled out: `{ ...base, ... }` per row was the largest JS cost of ingest (measured).
      functions.push({
        profile_id: profileId,
        service: base.service,
        instance: base.instance,
        version: base.version,
        kind,
        time: timeUs,
        sample_type: s.sampleType,
        unit: s.unit,
        function: f.name,
        flat: checkInt64(f.flat, 'flat'),
        cum: checkInt64(f.cum, 'cum'),
      });
    }
  }

  // Stacks go to the writer one row per stack with all sample types' values and frame ids; the
  // writer expands them to one row per sample type with frame names (see PackedStacks).
  const rowsOut: PackedStackRow[] = [];
  // totalAbs already decided exactness: number totals from number values mean Σ|v| <= 2^53.
  const exactNumbers = p.samples.values.exact === 'number' && stats.every((s) => typeof s.total === 'number');
  for (const st of aggregateStacks(p, frames, exactNumbers)) {
    const str: Record<string, string> = {};
    const num: Record<string, Int64> = {};
    for (const l of st.labels) {
      if ('str' in l) str[l.key] = l.str;
      else num[l.key] = l.num;
    }
    rowsOut.push({
      profile_id: profileId,
      service: base.service,
      instance: base.instance,
      version: base.version,
      kind,
      time: timeUs,
      stack_id: st.stackId,
      frame_ids: st.frameIds,
      lines: st.lines,
      inlined: st.inline,
      sample_labels: str,
      num_labels: num,
      vals: st.values.map((v) => checkInt64(v, 'value')),
    });
  }
  const stacks: PackedStacks = { functions: frames.functions, sampleTypes: p.sampleTypes, rows: rowsOut };
  return { profileId, kind, timeUs, profiles, functions, stacks };
}
