import { isProfileKind, PROFILE_KINDS } from './profile';
import type { SourceMeta } from './source';
import type { Temporality } from './temporality';

// The bundle (docs/upload-contract.md, "Bundles"): one upload holding one agent period's inputs,
// so an instance costs one PUT per period instead of one per profile kind and metrics batch.
//
//   <start>_bundle_<tag>.tar.gz = gzip(tar(manifest.json, member, member, ...))
//
// manifest.json is the first file of the archive and lists every member with what the key and
// metadata say for a single upload: its kind, capture start, temporality and process. Members keep
// the per-file formats (pprof protobuf or debug=1 text, gzipped or not; gctrace lines;
// runtime/metrics JSON lines), so `tar -xzf` gives files `fleetprof ingest` reads one by one.
// Decoding: lib/decode/formats/bundle.ts; expanding into inputs: lib/decode/inputs.ts.

export const BUNDLE_FORMAT = 'fleetprof-bundle';
export const BUNDLE_VERSION = 1;
export const BUNDLE_MANIFEST = 'manifest.json';

/** What a member may be: every upload kind but a bundle (bundles do not nest). */
export const MEMBER_KINDS = [...PROFILE_KINDS, 'gctrace', 'metrics'] as const;
export type MemberKind = (typeof MEMBER_KINDS)[number];

/** A member's file name: flat (no directories), fits the 100-byte name field of a ustar header. */
export const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const BUNDLE_LIMITS = {
  /**
   * Members of one bundle. An agent period has at most 9 (7 profile kinds, metrics, gctrace); a
   * bundle of a day of 1-minute periods would be ~13,000. 1,024 bounds the per-member bookkeeping
   * while leaving room for producers that batch a few periods.
   */
  maxMembers: 1024,
  /** manifest.json: ~150 bytes a member, so 1 MiB holds the maximum with a wide margin. */
  maxManifestBytes: 1024 * 1024,
} as const;

/** One member as the manifest describes it. */
export interface BundleMemberInfo {
  readonly name: string;
  readonly kind: MemberKind;
  /** Capture start, epoch microseconds (gctrace: the process start its @<s>s offsets count from). */
  readonly startUs: number;
  readonly temporality?: Temporality;
  readonly process?: string;
}

/**
 * The SourceMeta of one member: the bundle's service, instance, version and labels; the member's
 * kind, start, temporality and process (the bundle's where the member leaves them out); its own
 * source identity `<bundle source id>!<member>`, so redelivering the bundle replaces each member's
 * rows and two members never share a profile_id.
 */
export function memberMeta(bundle: SourceMeta, m: BundleMemberInfo): SourceMeta {
  return {
    ...bundle,
    kind: isProfileKind(m.kind) ? m.kind : undefined,
    startUs: m.startUs,
    temporality: m.temporality ?? bundle.temporality,
    process: m.process ?? bundle.process,
    source: `${bundle.source}!${m.name}`,
    sourceId: `${bundle.sourceId}!${m.name}`,
  };
}
