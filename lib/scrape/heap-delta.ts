import { gzipSync } from 'node:zlib';
import { FUNCTION, LABEL, LINE, LOCATION, MAPPING, PROFILE, SAMPLE, tagOf, WIRE } from '../model/pprof-wire';
import { int64, PprofWriter } from '../model/pprof-writer';
import type { Int64, Profile, ProfileKind } from '../model/profile';
import { valueClass } from '../model/temporality';

// heap and allocs pulled as deltas: net/http/pprof's `heap?seconds=N` (and `allocs?seconds=N`)
// subtracts the snapshot at the start of the interval from the one at its end on EVERY sample
// type, so its inuse_* are differences of a gauge (what the heap grew or shrank by), not the heap.
// The upload contract (docs/upload-contract.md, `temporality: delta`) wants what the agent
// sends: the counter types (alloc_*) as the increase over the interval, the gauge types (inuse_*)
// as the point-in-time value. So the scraper takes the counters from the delta and the gauges
// from a plain snapshot requested right after it, and writes both into one profile: the delta's
// samples with their gauge values zeroed, then the snapshot's samples with their counter values
// zeroed. pprof's flat/cum and our tables are linear in sample values, so `go tool pprof -top` of
// the result equals the delta's on alloc_* and the snapshot's on inuse_*.
// Written with the shared PprofWriter (lib/model/pprof-writer.ts).

/** Sample types of a kind that are counters (alloc_* of heap and allocs), by index. */
function counterMask(kind: ProfileKind, p: Profile): boolean[] {
  return p.sampleTypes.map((t) => valueClass(kind, t.type) === 'counter');
}

/**
 * One profile: counter sample types from `delta` (an `?seconds=N` response), gauge types from
 * `snapshot` (a plain response taken right after), time and duration of the delta, default sample
 * type of the snapshot. Throws when
 * the two do not have the same sample types (not the same program's profile).
 */
export function countersWithGauges(kind: ProfileKind, delta: Profile, snapshot: Profile): Uint8Array {
  const types = (p: Profile) => p.sampleTypes.map((t) => `${t.type}/${t.unit}`).join(' ');
  if (types(delta) !== types(snapshot)) {
    throw new Error(`the delta and the snapshot have different sample types ([${types(delta)}] vs [${types(snapshot)}])`);
  }
  const counters = counterMask(kind, delta);
  // The delta handler's merge drops default_sample_type (pprof then shows inuse_space even for
  // allocs); the snapshot still has it, and it is what tells allocs from heap.
  const head = { ...delta, defaultSampleType: snapshot.defaultSampleType };
  return gzipSync(
    encodeParts(head, [
      { p: delta, keep: counters },
      { p: snapshot, keep: counters.map((c) => !c) },
    ]),
  );
}

interface Part {
  readonly p: Profile;
  /** Per sample type: keep its values (else written as 0). */
  readonly keep: readonly boolean[];
}

/** Header fields (types, time, period, ...) from `head`; samples, locations, functions and mappings of every part, ids renumbered per part. */
function encodeParts(head: Profile, parts: readonly Part[]): Uint8Array {
  const pw = new PprofWriter();
  const s = (x: string) => pw.str(x);
  const w = pw.w;
  const B = WIRE.BYTES;
  const V = WIRE.VARINT;
  const i64 = (field: number, v: Int64) => pw.int64Field(field, v);
  const valueType = (field: number, t: { type: string; unit: string }) => pw.valueType(field, t);
  for (const t of head.sampleTypes) valueType(PROFILE.SAMPLE_TYPE, t);
  const nTypes = head.sampleTypes.length;

  let locBase = 0;
  let fnBase = 0;
  let mapBase = 0;
  for (const { p, keep } of parts) {
    const { count, stackStart, stack, values, labelSet, labelSets } = p.samples;
    for (let i = 0; i < count; i++) {
      const vs: Int64[] = [];
      let any = false;
      for (let t = 0; t < nTypes; t++) {
        const v = keep[t] ? values.data[i * nTypes + t] : 0;
        if (v !== 0 && v !== 0n) any = true;
        vs.push(v);
      }
      if (!any) continue; // all-zero samples print nothing in pprof and store nothing here
      w.uint32(tagOf(PROFILE.SAMPLE, B)).fork();
      if (stackStart[i + 1] > stackStart[i]) {
        w.uint32(tagOf(SAMPLE.LOCATION_ID, B)).fork();
        for (let k = stackStart[i]; k < stackStart[i + 1]; k++) w.uint64(locBase + stack[k] + 1);
        w.ldelim();
      }
      w.uint32(tagOf(SAMPLE.VALUE, B)).fork();
      for (const v of vs) w.int64(int64(v));
      w.ldelim();
      for (const l of labelSets[labelSet[i]]) {
        w.uint32(tagOf(SAMPLE.LABEL, B)).fork();
        w.uint32(tagOf(LABEL.KEY, V)).int64(s(l.key));
        if ('str' in l) w.uint32(tagOf(LABEL.STR, V)).int64(s(l.str));
        else {
          w.uint32(tagOf(LABEL.NUM, V)).int64(int64(l.num));
          if (l.numUnit) w.uint32(tagOf(LABEL.NUM_UNIT, V)).int64(s(l.numUnit));
        }
        w.ldelim();
      }
      w.ldelim();
    }
    p.mappings.forEach((m, j) => {
      w.uint32(tagOf(PROFILE.MAPPING, B)).fork();
      w.uint32(tagOf(MAPPING.ID, V)).uint64(mapBase + j + 1);
      i64(MAPPING.MEMORY_START, m.memoryStart);
      i64(MAPPING.MEMORY_LIMIT, m.memoryLimit);
      i64(MAPPING.FILE_OFFSET, m.fileOffset);
      if (m.filename) w.uint32(tagOf(MAPPING.FILENAME, V)).int64(s(m.filename));
      if (m.buildId) w.uint32(tagOf(MAPPING.BUILD_ID, V)).int64(s(m.buildId));
      if (m.hasFunctions) w.uint32(tagOf(MAPPING.HAS_FUNCTIONS, V)).bool(true);
      if (m.hasFilenames) w.uint32(tagOf(MAPPING.HAS_FILENAMES, V)).bool(true);
      if (m.hasLineNumbers) w.uint32(tagOf(MAPPING.HAS_LINE_NUMBERS, V)).bool(true);
      if (m.hasInlineFrames) w.uint32(tagOf(MAPPING.HAS_INLINE_FRAMES, V)).bool(true);
      w.ldelim();
    });
    p.locations.forEach((loc, j) => {
      w.uint32(tagOf(PROFILE.LOCATION, B)).fork();
      w.uint32(tagOf(LOCATION.ID, V)).uint64(locBase + j + 1);
      if (loc.mapping >= 0) w.uint32(tagOf(LOCATION.MAPPING_ID, V)).uint64(mapBase + loc.mapping + 1);
      i64(LOCATION.ADDRESS, loc.address);
      for (const line of loc.lines) {
        w.uint32(tagOf(LOCATION.LINE, B)).fork();
        w.uint32(tagOf(LINE.FUNCTION_ID, V)).uint64(fnBase + line.fn + 1);
        i64(LINE.LINE, line.line);
        i64(LINE.COLUMN, line.column);
        w.ldelim();
      }
      if (loc.isFolded) w.uint32(tagOf(LOCATION.IS_FOLDED, V)).bool(true);
      w.ldelim();
    });
    p.functions.forEach((f, j) => {
      w.uint32(tagOf(PROFILE.FUNCTION, B)).fork();
      w.uint32(tagOf(FUNCTION.ID, V)).uint64(fnBase + j + 1);
      w.uint32(tagOf(FUNCTION.NAME, V)).int64(s(f.name));
      if (f.systemName) w.uint32(tagOf(FUNCTION.SYSTEM_NAME, V)).int64(s(f.systemName));
      if (f.filename) w.uint32(tagOf(FUNCTION.FILENAME, V)).int64(s(f.filename));
      i64(FUNCTION.START_LINE, f.startLine);
      w.ldelim();
    });
    locBase += p.locations.length;
    fnBase += p.functions.length;
    mapBase += p.mappings.length;
  }
  if (head.dropFrames) w.uint32(tagOf(PROFILE.DROP_FRAMES, V)).int64(s(head.dropFrames));
  if (head.keepFrames) w.uint32(tagOf(PROFILE.KEEP_FRAMES, V)).int64(s(head.keepFrames));
  i64(PROFILE.TIME_NANOS, head.timeNanos);
  i64(PROFILE.DURATION_NANOS, head.durationNanos);
  if (head.periodType) valueType(PROFILE.PERIOD_TYPE, head.periodType);
  i64(PROFILE.PERIOD, head.period);
  for (const c of head.comments) w.uint32(tagOf(PROFILE.COMMENT, V)).int64(s(c));
  if (head.defaultSampleType) w.uint32(tagOf(PROFILE.DEFAULT_SAMPLE_TYPE, V)).int64(s(head.defaultSampleType));
  if (head.docUrl) w.uint32(tagOf(PROFILE.DOC_URL, V)).int64(s(head.docUrl));
  return pw.finish();
}
