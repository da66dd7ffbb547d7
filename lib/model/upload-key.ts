import { z } from 'zod';
import { MEMBER_KINDS } from './bundle';
import { PROFILE_KINDS, type ProfileKind } from './profile';
import { parseSourceMeta, SourceMetaSchema, type SourceMeta } from './source';
import { isTemporality, TEMPORALITIES, type Temporality } from './temporality';

// The upload contract (docs/upload-contract.md): how an object in the bucket names what it is.
//
//   raw/<service>/<instance>/<start>_<kind>[_<tag>].<ext>
//     start  compact UTC capture start, 20261121T104500.123Z (milliseconds optional)
//     kind   cpu|heap|allocs|goroutine|block|mutex|threadcreate|gctrace|metrics|bundle
//     tag    optional [A-Za-z0-9-]{1,64}, makes keys unique (fleetprof upload: a content hash)
//     ext    pb.gz|pb|txt|txt.gz|log|log.gz|json|json.gz|jsonl|jsonl.gz|tar.gz|tar
//   x-amz-meta-version  service version (optional)
//   x-amz-meta-labels   k=v,k=v with k and v URL-encoded (optional)
//   x-amz-meta-process      identity of the writing process, e.g. the agent's run id (optional)
//   x-amz-meta-temporality  delta | cumulative: how counter sample types were sent (optional;
//                           unset = cumulative since process start, as Go writes them)
//
// Everything is validated with the same rules as CLI flags (lib/model/source.ts).

import { UPLOAD_PREFIX } from './bucket-prefixes';
export { UPLOAD_PREFIX, QUARANTINE_PREFIX } from './bucket-prefixes';
/** A bundle (lib/model/bundle.ts) holds several inputs of the other kinds. */
export const UPLOAD_KINDS = [...MEMBER_KINDS, 'bundle'] as const;
export type UploadKind = (typeof UPLOAD_KINDS)[number];
export const UPLOAD_EXTENSIONS = ['pb.gz', 'pb', 'txt.gz', 'txt', 'log.gz', 'log', 'jsonl.gz', 'jsonl', 'json.gz', 'json', 'tar.gz', 'tar'] as const;
export type UploadExtension = (typeof UPLOAD_EXTENSIONS)[number];

/** User metadata names (S3 returns them lower-case, without the `x-amz-meta-` prefix). */
export const META_VERSION = 'version';
export const META_LABELS = 'labels';
export const META_PROCESS = 'process';
export const META_TEMPORALITY = 'temporality';

/** A key or its metadata breaks the upload contract: the object is poison, never retried. */
export class UploadContractError extends Error {
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`upload key "${key}" breaks the upload contract: ${reason}`);
    this.name = 'UploadContractError';
  }
}

export function isUploadContractError(e: unknown): e is UploadContractError {
  return e instanceof UploadContractError;
}

const START_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{1,3}))?Z$/;
const TAG_RE = /^[A-Za-z0-9-]{1,64}$/;

/** Epoch milliseconds -> `20261121T104500.123Z`. */
export function formatStart(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`capture start out of range: ${ms}`);
  return new Date(Math.floor(ms)).toISOString().replace(/[-:]/g, '');
}

/** `20261121T104500[.123]Z` -> epoch milliseconds, or null when it is not a valid UTC time. */
export function parseStart(s: string): number | null {
  const m = START_RE.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number);
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  const t = Date.UTC(y, mo - 1, d, h, mi, se, ms);
  const back = new Date(t);
  // Reject 20261131T... (Date.UTC would roll it over to December 1st) and 25:00.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== se) {
    return null;
  }
  return t;
}

export interface UploadKeyParts {
  service: string;
  instance: string;
  /** Capture start, epoch milliseconds. */
  startMs: number;
  kind: UploadKind;
  ext: UploadExtension;
  tag?: string;
}

export interface UploadMetadata {
  version?: string;
  labels?: Record<string, string>;
  /** Identity of the process that wrote the upload (docs/upload-contract.md). */
  process?: string;
  temporality?: Temporality;
}

const KeyPartsSchema = z.object({
  service: SourceMetaSchema.shape.service,
  instance: SourceMetaSchema.shape.instance,
  startMs: z.number().int().nonnegative(),
  kind: z.enum(UPLOAD_KINDS),
  ext: z.enum(UPLOAD_EXTENSIONS),
  tag: z.string().regex(TAG_RE, 'tag must be 1-64 characters of [A-Za-z0-9-]').optional(),
});

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
}

/** The key an upload must have. Throws when a part breaks the contract. */
export function uploadKey(parts: UploadKeyParts): string {
  const r = KeyPartsSchema.safeParse(parts);
  if (!r.success) throw new Error(`invalid upload key parts: ${issues(r.error)}`);
  const p = r.data;
  return `${UPLOAD_PREFIX}${p.service}/${p.instance}/${formatStart(p.startMs)}_${p.kind}${p.tag ? '_' + p.tag : ''}.${p.ext}`;
}

/** `k=v,k=v` with every k and v URL-encoded (so values may hold commas and equals signs). */
export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join(',');
}

export function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (s.trim() === '') return out;
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`label "${part}" is not k=v`);
    let k: string;
    let v: string;
    try {
      k = decodeURIComponent(part.slice(0, eq));
      v = decodeURIComponent(part.slice(eq + 1));
    } catch {
      throw new Error(`label "${part}" is not valid URL encoding`);
    }
    if (k in out) throw new Error(`label "${k}" given twice`);
    out[k] = v;
  }
  return out;
}

/** S3 user metadata for an upload (keys without the x-amz-meta- prefix). */
export function uploadMetadata(m: UploadMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  if (m.version) out[META_VERSION] = m.version;
  if (m.labels && Object.keys(m.labels).length > 0) out[META_LABELS] = formatLabels(m.labels);
  if (m.process) out[META_PROCESS] = m.process;
  if (m.temporality) out[META_TEMPORALITY] = m.temporality;
  return out;
}

export interface ParsedUploadKey extends UploadKeyParts {
  key: string;
}

/** Splits a key by the grammar; throws UploadContractError naming the key and the reason. */
export function parseUploadKey(key: string): ParsedUploadKey {
  const fail = (reason: string): never => {
    throw new UploadContractError(key, reason);
  };
  if (!key.startsWith(UPLOAD_PREFIX)) fail(`must start with "${UPLOAD_PREFIX}"`);
  const segs = key.slice(UPLOAD_PREFIX.length).split('/');
  if (segs.length !== 3) fail(`expected raw/<service>/<instance>/<start>_<kind>[_<tag>].<ext>, got ${segs.length} path segment(s) after raw/`);
  const [service, instance, file] = segs;
  const ext = [...UPLOAD_EXTENSIONS].sort((a, b) => b.length - a.length).find((e) => file.endsWith('.' + e));
  if (!ext) {
    const last = file.lastIndexOf('.');
    fail(`file name "${file}" does not end in one of ${UPLOAD_EXTENSIONS.map((e) => '.' + e).join(', ')}${last > 0 ? ` (got "${file.slice(last)}")` : ''}`);
  }
  const stem = file.slice(0, file.length - ext!.length - 1);
  const parts = stem.split('_');
  if (parts.length < 2 || parts.length > 3) fail(`file name "${file}" is not <start>_<kind>[_<tag>].<ext>`);
  const [start, kind, tag] = parts;
  const startMs = parseStart(start);
  if (startMs === null) fail(`capture start "${start}" is not a UTC time like 20261121T104500.123Z`);
  if (!(UPLOAD_KINDS as readonly string[]).includes(kind)) fail(`kind "${kind}" is not one of ${UPLOAD_KINDS.join(', ')}`);
  const r = KeyPartsSchema.safeParse({ service, instance, startMs, kind, ext, tag });
  if (!r.success) fail(issues(r.error));
  return { key, ...(r.data as UploadKeyParts) };
}

export interface UploadedObject {
  bucket: string;
  key: string;
  etag: string;
  /** S3 user metadata (lower-case names, no x-amz-meta- prefix). */
  metadata?: Record<string, string | undefined>;
}

/**
 * The SourceMeta of an uploaded object. sourceId = s3://bucket/key#etag: a redelivered event for
 * the same object version replaces its rows; a new version (new ETag) of the key is a new source.
 */
export function uploadSourceMeta(o: UploadedObject): SourceMeta & { uploadKind: UploadKind } {
  const p = parseUploadKey(o.key);
  const md = Object.fromEntries(Object.entries(o.metadata ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  let labels: Record<string, string>;
  try {
    labels = parseLabels(md[META_LABELS] ?? '');
  } catch (e) {
    throw new UploadContractError(o.key, `x-amz-meta-labels: ${(e as Error).message}`);
  }
  const temporality = md[META_TEMPORALITY];
  if (temporality !== undefined && !isTemporality(temporality)) {
    throw new UploadContractError(o.key, `x-amz-meta-temporality: "${temporality}" is not one of ${TEMPORALITIES.join(', ')}`);
  }
  const etag = o.etag.replace(/^"|"$/g, '');
  const uri = `s3://${o.bucket}/${o.key}`;
  try {
    const meta = parseSourceMeta({
      service: p.service,
      instance: p.instance,
      version: md[META_VERSION] ?? '',
      labels,
      process: md[META_PROCESS] ?? '',
      temporality,
      kind: isProfileKindName(p.kind) ? p.kind : undefined,
      startUs: p.startMs * 1000,
      source: `${uri}#${etag}`,
      sourceId: `${uri}#${etag}`,
    });
    return { ...meta, uploadKind: p.kind };
  } catch (e) {
    throw new UploadContractError(o.key, (e as Error).message);
  }
}

function isProfileKindName(k: UploadKind): k is ProfileKind {
  return (PROFILE_KINDS as readonly string[]).includes(k);
}
