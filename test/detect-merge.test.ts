// One finding per cause (lib/detect/digest.ts mergeByCause, foldGcSymptoms): anomalies with the
// same lead culprit are one card led by the cause (not the GC symptom), and a GC anomaly of a
// service whose memory or goroutines changed is listed under that card. The real-data check is
// test/detect-agent-scenarios.test.ts (the heap leak's and the goroutine leak's cards).
import { foldGcSymptoms, mergeByCause } from '../lib/detect/digest';
import type { Anomaly, Area, Severity } from '../lib/detect/finding';

function anomaly(service: string, area: Area, id: string, severity: Severity, culprits: string[], target = 'v2'): Anomaly {
  return {
    id,
    area,
    service,
    severity,
    culprits,
    summary: `${id} in ${culprits[0] ?? '-'}`,
    evidence: {},
    versions: { base: 'v1', target },
    explanation: '',
    nextStep: '',
    profile: area === 'cpu' ? 'cpu' : area === 'goroutines' ? 'goroutine' : area === 'contention' ? 'mutex' : area === 'gc' ? 'allocs' : 'heap',
  };
}
const brief = (a: Anomaly) => [a.service, a.id, a.severity, (a.related ?? []).map((r) => r.id)];

test('a heap leak, its allocation-mix change and its GC live-heap growth (same culprit) are one card led by the heap', () => {
  const out = mergeByCause([
    // The GC anomaly is the most severe of the three: it still does not lead (it is the symptom).
    anomaly('sessions', 'gc', 'gc-beyond-baseline', 'high', ['main.remember']),
    anomaly('sessions', 'memory', 'heap-inuse-grew', 'medium', ['main.remember']),
    anomaly('sessions', 'memory', 'alloc-sites-grew', 'low', ['main.remember']),
  ]);
  expect(out.map(brief)).toEqual([['sessions', 'heap-inuse-grew', 'high', ['gc-beyond-baseline', 'alloc-sites-grew']]]);
});

test('a GC anomaly without a culprit is folded into the goroutine leak of the same service and version', () => {
  const out = mergeByCause([
    anomaly('gateway', 'goroutines', 'goroutines-grew', 'high', ['main.watchUpstream']),
    anomaly('gateway', 'gc', 'gc-beyond-baseline', 'medium', []),
    anomaly('gateway', 'contention', 'mutex-delay-grew', 'medium', ['main.handleRequest']),
  ]);
  expect(out.map(brief)).toEqual([
    ['gateway', 'goroutines-grew', 'high', ['gc-beyond-baseline']],
    ['gateway', 'mutex-delay-grew', 'medium', []],
  ]);
});

test('a GC anomaly goes under the driver whose culprit it names, else the most important driver', () => {
  const cards = [
    anomaly('s', 'memory', 'heap-inuse-grew', 'high', ['main.a']),
    anomaly('s', 'memory', 'alloc-sites-grew', 'medium', ['main.b']),
    anomaly('s', 'gc', 'gc-beyond-baseline', 'high', ['main.x', 'main.b']),
  ];
  expect(foldGcSymptoms(cards).map(brief)).toEqual([
    ['s', 'heap-inuse-grew', 'high', []],
    ['s', 'alloc-sites-grew', 'medium', ['gc-beyond-baseline']],
  ]);
  expect(foldGcSymptoms([cards[0], { ...cards[2], culprits: [] }]).map(brief)).toEqual([['s', 'heap-inuse-grew', 'high', ['gc-beyond-baseline']]]);
  // The input cards are not modified.
  expect(cards.every((c) => c.related === undefined)).toBe(true);
});

test('GC stands alone when nothing that drives it changed: no driver, another service, another window version, or only CPU/contention', () => {
  const cases: Anomaly[][] = [
    [anomaly('search', 'gc', 'gc-beyond-baseline', 'high', ['main.buildResponse'])],
    [anomaly('search', 'gc', 'gc-beyond-baseline', 'high', []), anomaly('other', 'memory', 'heap-inuse-grew', 'high', ['main.a'])],
    [anomaly('search', 'gc', 'gc-beyond-baseline', 'high', [], 'v3'), anomaly('search', 'memory', 'heap-inuse-grew', 'high', ['main.a'], 'v2')],
    [anomaly('search', 'gc', 'gc-beyond-baseline', 'high', []), anomaly('search', 'cpu', 'cpu-share-grew', 'high', ['main.a'])],
  ];
  for (const c of cases) {
    const out = mergeByCause(c);
    expect(out).toHaveLength(c.length);
    expect(out.some((a) => a.area === 'gc' && (a.related ?? []).length === 0)).toBe(true);
  }
});
