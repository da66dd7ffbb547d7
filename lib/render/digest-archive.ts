// Where a digest is archived, relative to the archive root (the raw bucket for the digest Lambda,
// lib/aws/digest-job.ts; the data directory for `fleetprof digest --archive`):
// digests/<YYYY-MM-DD>/<window end, compact ISO>/{digest.json,digest.html,...}. The web UI lists
// them (GET /digests) and links each anomaly into the view of its cohort.

export const DIGESTS_PREFIX = 'digests/';

/** `digests/2026-11-21/20261121T210000Z/` for a window ending 2026-11-21T21:00:00.000Z. */
export function archivePrefix(d: { window: { to: string } }): string {
  const end = d.window.to;
  return `${DIGESTS_PREFIX}${end.slice(0, 10)}/${end.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}/`;
}
