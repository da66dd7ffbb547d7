import { z } from 'zod';
import { PROFILE_KINDS } from './profile';
import { TEMPORALITIES } from './temporality';

// What an upload says about itself (CLI flags, or the S3 key and metadata). Validated once at
// the edge so the core never sees a service name that would break a Hive path.

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const PROCESS = /^[A-Za-z0-9._:-]{0,128}$/;
const LABEL_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
/**
 * Versions are quoted into suggested commands and URLs, so the grammar admits only characters
 * with no meaning to a shell or a URL: semver (v1.2.3-rc.1+build.5), dates, commit hashes.
 * agent/internal/contract/contract.go has the same rule; test/contract/versions.json holds the cases both must agree on.
 */
export const VERSION = /^(?:[A-Za-z0-9][A-Za-z0-9._+-]{0,127})?$/;

export const SourceMetaSchema = z.object({
  service: z.string().regex(NAME, 'service must be 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit'),
  instance: z.string().regex(NAME, 'instance must be 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit'),
  version: z.string().regex(VERSION, 'version must be at most 128 characters of [A-Za-z0-9._+-], starting with a letter or digit').default(''),
  labels: z
    .record(z.string().regex(LABEL_KEY, 'label keys are identifiers'), z.string().max(256))
    .default({}),
  /**
   * Identity of the process that wrote the profile (the agent's run id, a process start time),
   * '' when unknown. A new identity starts a new series of counters (docs/schema.md).
   */
  process: z.string().regex(PROCESS, 'process must be at most 128 characters of [A-Za-z0-9._:-]').default(''),
  /** How counter sample types were sent; unset: Go's own cumulative snapshots (CPU is always delta). */
  temporality: z.enum(TEMPORALITIES).optional(),
  /** Declared kind: decides only what the content leaves open (block vs mutex, heap vs allocs text). */
  kind: z.enum(PROFILE_KINDS).optional(),
  /** Capture start in epoch microseconds, for inputs with no timestamp of their own. */
  startUs: z.number().int().nonnegative().optional(),
  /** Human-readable origin: a path, or s3://bucket/key#etag. */
  source: z.string().min(1),
  /** Identity of the source: equal identities replace each other's rows, never duplicate them. */
  sourceId: z.string().min(1),
});

export type SourceMeta = z.infer<typeof SourceMetaSchema>;
export type SourceMetaInput = z.input<typeof SourceMetaSchema>;

export function parseSourceMeta(input: SourceMetaInput): SourceMeta {
  const r = SourceMetaSchema.safeParse(input);
  if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; '));
  return r.data;
}
