// The detector registry (lib/detect/registry.ts): every area has one detector, and an anomaly that
// attaches a profile kind its detector does not list is refused instead of silently attaching
// nothing (or the wrong profile) to the digest mail.
import type { DetectContext } from '../lib/detect/context';
import type { Anomaly, Area } from '../lib/detect/finding';
import { DETECTORS, runDetector, type Detector } from '../lib/detect/registry';
import type { QueryEngine } from '../lib/query/engine';

const AREAS: Record<Area, true> = { cpu: true, memory: true, goroutines: true, gc: true, contention: true };

const ctx: DetectContext = {
  engine: {} as QueryEngine,
  service: 'svc',
  baseline: { fromUs: 0, toUs: 10 },
  window: { fromUs: 10, toUs: 20 },
};

function anomaly(area: Area, profile: Anomaly['profile']): Anomaly {
  return { id: `${area}-test`, area, service: 'svc', severity: 'low', summary: 's', evidence: {}, culprits: [], versions: {}, explanation: 'e', nextStep: 'n', profile };
}

test('one registered detector per area, each reading at least one profile kind', () => {
  expect(DETECTORS.map((d) => d.area).sort()).toEqual(Object.keys(AREAS).sort());
  for (const d of DETECTORS) expect(d.kinds.length).toBeGreaterThan(0);
});

test('runDetector passes anomalies whose profile kind the entry lists', async () => {
  const d: Detector = { area: 'memory', kinds: ['heap', 'allocs'], run: async () => [anomaly('memory', 'heap'), anomaly('memory', 'allocs')] };
  expect((await runDetector(d, ctx)).map((a) => a.profile)).toEqual(['heap', 'allocs']);
});

test('runDetector refuses an anomaly attaching a kind outside the entry, or of another area', async () => {
  const wrongKind: Detector = { area: 'cpu', kinds: ['cpu'], run: async () => [anomaly('cpu', 'heap')] };
  await expect(runDetector(wrongKind, ctx)).rejects.toThrow(/detector cpu reported a cpu anomaly attaching a heap profile \(registry kinds: cpu\)/);
  const wrongArea: Detector = { area: 'cpu', kinds: ['cpu'], run: async () => [anomaly('gc', 'cpu')] };
  await expect(runDetector(wrongArea, ctx)).rejects.toThrow(/reported a gc anomaly/);
});
