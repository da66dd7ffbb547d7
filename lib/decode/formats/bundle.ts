// A bundle: one upload holding one agent period's inputs (lib/model/bundle.ts has the contract,
// docs/upload-contract.md "Bundles" the reference). Decoding reads the tar and the manifest and
// pairs every listed member with its bytes; it does not decode the members: lib/decode/inputs.ts
// does that one member at a time, so a bad member is that member's failure, not the bundle's.
//
// The bundle as a whole is refused (DecodeError) only when nothing in it can be trusted: not a
// tar, no manifest.json first, a manifest that breaks its schema, more members than the limit.
// A member listed but absent, or with an unusable entry, is a problem of that member.

import { z } from 'zod';
import {
  BUNDLE_FORMAT,
  BUNDLE_LIMITS,
  BUNDLE_MANIFEST,
  BUNDLE_VERSION,
  MEMBER_KINDS,
  MEMBER_NAME,
  type BundleMemberInfo,
} from '../../model/bundle';
import { timeRangeProblem } from '../../model/limits';
import { TEMPORALITIES } from '../../model/temporality';
import { DecodeError, overLimit } from '../errors';
import type { Bundle, BundleEntry, Decoded, InputFormat } from '../format';
import { preview } from '../preview';
import { isTarHeader, readTar } from '../tar';
import { parseRfc3339Us } from './gctrace';

const PROCESS = /^[A-Za-z0-9._:-]{0,128}$/;

const MemberSchema = z
  .object({
    name: z.string().regex(MEMBER_NAME, 'must be 1-100 characters of [A-Za-z0-9._-], starting with a letter or digit'),
    kind: z.enum(MEMBER_KINDS),
    start: z.string(),
    temporality: z.enum(TEMPORALITIES).optional(),
    process: z.string().regex(PROCESS, 'must be at most 128 characters of [A-Za-z0-9._:-]').optional(),
  })
  .strict();

const ManifestSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    version: z.number().int(),
    members: z.array(MemberSchema).max(BUNDLE_LIMITS.maxMembers),
  })
  .strict();

function bad(message: string): DecodeError {
  return new DecodeError('malformed', `bundle: ${message}`);
}

function parseManifest(bytes: Uint8Array): BundleMemberInfo[] {
  if (bytes.length > BUNDLE_LIMITS.maxManifestBytes) throw overLimit(`bundle: ${BUNDLE_MANIFEST} bytes`, bytes.length, BUNDLE_LIMITS.maxManifestBytes);
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (e) {
    throw bad(`${BUNDLE_MANIFEST} is not JSON (${(e as Error).message})`);
  }
  // The version first: a newer producer's manifest should say "newer", not fail field by field.
  const version = (doc as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > BUNDLE_VERSION) {
    throw new DecodeError('unsupported', `bundle: ${BUNDLE_MANIFEST} version ${version} is newer than this reader's ${BUNDLE_VERSION}`);
  }
  const members = (doc as { members?: unknown } | null)?.members;
  if (Array.isArray(members) && members.length > BUNDLE_LIMITS.maxMembers) {
    throw overLimit('bundle: members', members.length, BUNDLE_LIMITS.maxMembers);
  }
  const r = ManifestSchema.safeParse(doc);
  if (!r.success) {
    const what = r.error.issues.map((i) => `${i.path.join('.') || 'manifest'}: ${i.message}`).join('; ');
    throw bad(`${BUNDLE_MANIFEST}: ${what.length > 600 ? what.slice(0, 600) + '…' : what}`);
  }
  if (r.data.version !== BUNDLE_VERSION) throw bad(`${BUNDLE_MANIFEST}: version ${r.data.version} is not ${BUNDLE_VERSION}`);
  const seen = new Set<string>();
  return r.data.members.map((m, i) => {
    if (m.name === BUNDLE_MANIFEST) throw bad(`${BUNDLE_MANIFEST}: members.${i}: "${BUNDLE_MANIFEST}" is the manifest itself`);
    if (seen.has(m.name)) throw bad(`${BUNDLE_MANIFEST}: member "${m.name}" is listed twice`);
    seen.add(m.name);
    const startUs = parseRfc3339Us(m.start);
    if (startUs === null) throw bad(`${BUNDLE_MANIFEST}: member "${m.name}": start ${preview(m.start)} is not an RFC 3339 time with a zone`);
    const outside = timeRangeProblem(startUs);
    if (outside) throw new DecodeError('out-of-range', `bundle: ${BUNDLE_MANIFEST}: member "${m.name}": start ${outside}`);
    return { name: m.name, kind: m.kind, startUs, temporality: m.temporality, process: m.process };
  });
}

export function decodeBundle(raw: Uint8Array): Bundle {
  // Every member plus the manifest, plus a few entries a hand-made archive may carry.
  const entries = readTar(raw, BUNDLE_LIMITS.maxMembers + 16);
  const first = entries.find((e) => e.type === 'file');
  if (!first || first.name !== BUNDLE_MANIFEST) {
    throw bad(`the first file of the archive must be ${BUNDLE_MANIFEST}${first ? `, got "${first.name}"` : ' (the archive holds no file)'}`);
  }
  const listed = parseManifest(first.data);
  const byName = new Map<string, (typeof entries)[number]>();
  for (const e of entries) {
    if (e === first) continue;
    if (byName.has(e.name)) throw bad(`the archive holds "${e.name}" twice`);
    byName.set(e.name, e);
  }
  const members: BundleEntry[] = listed.map((info) => {
    const e = byName.get(info.name);
    if (!e) return { info, problem: bad(`member "${info.name}" is listed in ${BUNDLE_MANIFEST} but not in the archive`) };
    if (e.type !== 'file') return { info, problem: bad(`member "${info.name}" is not a regular file (tar type '${e.typeflag}')`) };
    return { info, bytes: e.data };
  });
  const names = new Set(listed.map((m) => m.name));
  const unlisted = [...byName.keys()].filter((n) => !names.has(n));
  return { members, unlisted };
}

export const bundleFormat: InputFormat<Extract<Decoded, { input: 'bundle' }>> = {
  name: 'bundle',
  input: 'bundle',
  uploadKind: 'bundle',
  // Any tar archive: one without manifest.json first is refused with that reason, not read as
  // some other format.
  sniff: (head) => isTarHeader(head.bytes.subarray(0, 512)),
  decode: (raw) => ({ input: 'bundle', bundle: decodeBundle(raw) }),
};
