import { checkDigest, checkTop, type DigestJson } from '../bench/fleet-checks';

// bench:fleet's self-checks: a wrong answer must say WRONG (the digest check once read a field the
// JSON does not have and passed every digest).
const quiet: DigestJson = {
  services: ['svc-a', 'svc-b'],
  quiet: true,
  message: "All quiet: no change beyond the baseline's own variability in 2 service(s).",
  health: [],
  anomalies: [],
};

describe('checkDigest', () => {
  test('identical copies: quiet, every service compared', () => {
    expect(checkDigest(quiet, ['svc-a', 'svc-b'])).toEqual({ ok: true, detail: '0 anomalies, 0 health findings, 2 services compared' });
  });

  test('a day of data or less: no baseline, said so; an anomaly or a comparison there is still wrong', () => {
    const none = { ...quiet, message: "All quiet: no change beyond the baseline's own variability in 0 service(s)." };
    expect(checkDigest(none, ['svc-a', 'svc-b'], 1)).toEqual({ ok: true, detail: expect.stringMatching(/^no baseline \(the 24h window needs more than 1 day/) });
    expect(checkDigest(none, ['svc-a', 'svc-b'], 2).ok).toBe(false);
    expect(checkDigest(quiet, ['svc-a', 'svc-b'], 1).ok).toBe(false);
    expect(checkDigest({ ...none, anomalies: [{ service: 'svc-a', area: 'cpu', summary: 'x' }] }, ['svc-a', 'svc-b'], 1).ok).toBe(false);
    expect(checkDigest({ ...none, services: ['svc-a'] }, ['svc-a', 'svc-b'], 1).ok).toBe(false);
  });

  test('an anomaly is wrong', () => {
    const d = { ...quiet, quiet: false, message: '1 anomaly in 1 service(s).', anomalies: [{ service: 'svc-a', area: 'cpu', summary: 'CPU +40%' }] };
    const c = checkDigest(d, ['svc-a', 'svc-b']);
    expect(c.ok).toBe(false);
    expect(c.detail).toMatch(/^1 anomalies .* svc-a cpu: CPU \+40%/);
  });

  test('a service listed but not compared (no baseline rows) is wrong', () => {
    const c = checkDigest({ ...quiet, message: "All quiet: no change beyond the baseline's own variability in 0 service(s)." }, ['svc-a', 'svc-b']);
    expect(c).toMatchObject({ ok: false, detail: expect.stringMatching(/^0 of 2 services compared/) });
  });

  test('a missing service, a health finding, or a JSON without the arrays is wrong', () => {
    expect(checkDigest({ ...quiet, services: ['svc-a'] }, ['svc-a', 'svc-b']).ok).toBe(false);
    expect(checkDigest({ ...quiet, quiet: false, health: [{ id: 'silent-service' }] }, ['svc-a', 'svc-b']).ok).toBe(false);
    expect(checkDigest({ findings: [] } as unknown as DigestJson, ['svc-a']).ok).toBe(false);
  });
});

describe('checkTop', () => {
  const src = { total: 10, functions: [{ name: 'f', flat: 4, cum: 10 }] };
  test('factor x source is exact, anything else is not', () => {
    expect(checkTop({ total: 30, functions: [{ name: 'f', flat: 12, cum: 30 }] }, src, 3).ok).toBe(true);
    expect(checkTop({ total: 40, functions: [{ name: 'f', flat: 16, cum: 40 }] }, src, 3).ok).toBe(false);
    expect(checkTop({ total: 30, functions: [{ name: 'f', flat: 13, cum: 30 }] }, src, 3).ok).toBe(false);
  });
});
