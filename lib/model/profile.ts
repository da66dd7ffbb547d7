// The decoded profile: a plain, validated data model in the spirit of google/pprof's `profile`
// package, but columnar where the data is large. Samples are never materialized as objects:
// a 100k-sample profile is a handful of typed arrays, which is what makes decoding fast and
// keeps peak memory near the raw size.

/** Every profile kind the Go runtime writes. */
export const PROFILE_KINDS = ['cpu', 'heap', 'allocs', 'goroutine', 'block', 'mutex', 'threadcreate'] as const;
export type ProfileKind = (typeof PROFILE_KINDS)[number];

export function isProfileKind(s: string): s is ProfileKind {
  return (PROFILE_KINDS as readonly string[]).includes(s);
}

/** pprof integers are int64. A value is a JS number when it is a safe integer, else a bigint. */
export type Int64 = number | bigint;

export interface ValueType {
  readonly type: string;
  readonly unit: string;
}

export interface Mapping {
  readonly id: Int64;
  readonly memoryStart: Int64;
  readonly memoryLimit: Int64;
  readonly fileOffset: Int64;
  readonly filename: string;
  readonly buildId: string;
  readonly hasFunctions: boolean;
  readonly hasFilenames: boolean;
  readonly hasLineNumbers: boolean;
  readonly hasInlineFrames: boolean;
}

export interface Func {
  readonly id: Int64;
  readonly name: string;
  readonly systemName: string;
  readonly filename: string;
  readonly startLine: number;
}

export interface Line {
  /** Index into Profile.functions (ids are resolved after the whole message is read). */
  readonly fn: number;
  readonly line: number;
  readonly column: number;
}

export interface Location {
  readonly id: Int64;
  /** Index into Profile.mappings, or -1 when the location names no mapping. */
  readonly mapping: number;
  readonly address: Int64;
  /** line[0] is the innermost inlined frame; the last line is the real (outer) function. */
  readonly lines: readonly Line[];
  readonly isFolded: boolean;
}

export type Label =
  | { readonly key: string; readonly str: string }
  | { readonly key: string; readonly num: Int64; readonly numUnit: string };

/**
 * Sample values, row-major: value of sample i for sample type t is data[i * nTypes + t].
 * `number` when every value is a safe integer (the overwhelmingly common case); `bigint`
 * otherwise, so that no value above 2^53 is ever rounded.
 */
export type SampleValues =
  | { readonly exact: 'number'; readonly data: Float64Array }
  | { readonly exact: 'bigint'; readonly data: BigInt64Array };

export interface Samples {
  readonly count: number;
  /** stack of sample i is stack[stackStart[i] .. stackStart[i+1]) as Location indices, leaf first. */
  readonly stackStart: Uint32Array;
  readonly stack: Uint16Array | Uint32Array;
  readonly values: SampleValues;
  /** Label set of sample i is labelSets[labelSet[i]]; labelSets[0] is the empty set. */
  readonly labelSet: Uint32Array;
  readonly labelSets: readonly (readonly Label[])[];
}

export type SourceFormat = 'pprof' | 'pprof-text';

export interface Profile {
  readonly format: SourceFormat;
  readonly sampleTypes: readonly ValueType[];
  /** Name of the default sample type, resolved as pprof does (last sample type when unset). */
  readonly defaultSampleType: string;
  readonly samples: Samples;
  readonly mappings: readonly Mapping[];
  readonly locations: readonly Location[];
  readonly functions: readonly Func[];
  readonly dropFrames: string;
  readonly keepFrames: string;
  /** 0 when the profile carries no time (Go's debug=1 text forms). */
  readonly timeNanos: Int64;
  readonly durationNanos: Int64;
  readonly periodType: ValueType | null;
  readonly period: Int64;
  readonly comments: readonly string[];
  readonly docUrl: string;
  /** Set only for text forms whose header names the kind (`--- mutex:`, `goroutine profile:`). */
  readonly declaredKind?: ProfileKind;
}

