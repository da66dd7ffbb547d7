import { sourceToProfileId } from '../lib/store/layout';

// profile_id (lib/store/layout.ts): 32 hex digits, the source's time in ms first, then a hash of
// its identity. The time comes first so a compacted file's ids compress like its times
// (docs/performance.md "Storage per CPU sample"); the hash keeps sources of one millisecond apart.
describe('profile_id', () => {
  const t = Date.parse('2026-12-01T10:04:00.123Z') * 1000 + 456; // sub-ms digits are dropped

  test('deterministic, 32 hex digits, the time in ms first', () => {
    const id = sourceToProfileId('s3://b/raw/svc/i-1/x.bundle#etag/cpu', t);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(id).toBe(sourceToProfileId('s3://b/raw/svc/i-1/x.bundle#etag/cpu', t));
    expect(parseInt(id.slice(0, 12), 16)).toBe(Math.floor(t / 1000));
  });

  test('sources of one millisecond differ; the same source at another time differs; ids sort by time', () => {
    const a = sourceToProfileId('src-a', t);
    const b = sourceToProfileId('src-b', t);
    expect(a).not.toBe(b);
    expect(a.slice(0, 12)).toBe(b.slice(0, 12));
    const later = sourceToProfileId('src-a', t + 1000);
    expect(later).not.toBe(a);
    expect(later > a && later > b).toBe(true);
  });

  test('times outside the 48-bit ms range still give 32 hex digits', () => {
    for (const us of [0, -1_000_000, Number.NaN, Number.POSITIVE_INFINITY]) expect(sourceToProfileId('x', us)).toMatch(/^[0-9a-f]{32}$/);
  });
});
