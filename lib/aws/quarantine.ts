import { CopyObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { QUARANTINE_PREFIX } from '../model/upload-key';
import type { Quarantine } from '../store/unreadable';
import { PREFIXES } from './resources';

// Poison uploads are copied to quarantine/<key> with quarantine/<key>.reason.json next to them,
// then acknowledged; a bundle's poison member goes to quarantine/<key>/<member> (quarantineMember). The original stays under raw/ (a lifecycle rule expires raw/); nothing under
// quarantine/ notifies the queue, so a quarantined object is never ingested again by itself.

export interface QuarantineReason {
  bucket: string;
  key: string;
  etag?: string;
  /** A bundle's member (the key is the bundle's): only that member is quarantined. */
  member?: string;
  /** DecodeError code, 'contract', 'too-large' or the error's name. */
  code: string;
  reason: string;
  at: string;
}

export function quarantineKey(key: string): string {
  return QUARANTINE_PREFIX + key;
}

export async function quarantineObject(s3: S3Client, r: QuarantineReason): Promise<{ copy: string; reason: string }> {
  const copy = quarantineKey(r.key);
  const reasonKey = `${copy}.reason.json`;
  // CopySource is "<bucket>/<key>" URL-encoded (the key per path segment).
  const source = `${r.bucket}/${r.key.split('/').map(encodeURIComponent).join('/')}`;
  await s3.send(new CopyObjectCommand({ Bucket: r.bucket, Key: copy, CopySource: source, MetadataDirective: 'COPY' }));
  await s3.send(
    new PutObjectCommand({ Bucket: r.bucket, Key: reasonKey, Body: JSON.stringify(r, null, 2), ContentType: 'application/json' }),
  );
  return { copy, reason: reasonKey };
}

/**
 * A bundle's poison member: its bytes (as stored in the bundle) are written to
 * quarantine/<bundle key>/<member>, with <that>.reason.json naming the bundle's key, ETag and the
 * member. The bundle's other members are ingested; quarantining only the bad one keeps them from
 * being counted twice when someone re-ingests what is quarantined.
 */
export async function quarantineMember(s3: S3Client, r: QuarantineReason & { member: string }, bytes: Uint8Array): Promise<{ copy: string; reason: string }> {
  const copy = `${quarantineKey(r.key)}/${r.member}`;
  const reasonKey = `${copy}.reason.json`;
  await s3.send(new PutObjectCommand({ Bucket: r.bucket, Key: copy, Body: bytes }));
  await s3.send(
    new PutObjectCommand({ Bucket: r.bucket, Key: reasonKey, Body: JSON.stringify(r, null, 2), ContentType: 'application/json' }),
  );
  return { copy, reason: reasonKey };
}

/**
 * The bucket's quarantine of table files (lib/store/unreadable.ts): a fresh file of tables/ DuckDB
 * cannot read is copied to quarantine/tables/<key> with <that>.reason.json (code 'unreadable'),
 * by the merger, the compaction planner and workers, and `fleetprof compact --bucket`.
 */
export function tablesQuarantine(s3: S3Client, bucket: string): Quarantine {
  return async (f) => {
    await quarantineObject(s3, { bucket, key: PREFIXES.tables + f.key, etag: f.etag, code: 'unreadable', reason: f.reason, at: new Date().toISOString() });
  };
}
