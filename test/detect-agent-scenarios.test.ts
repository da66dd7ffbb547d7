// The detector scenario suite with the agent's real upload pattern (test/fixtures/scenarios-agent-
// bundles, scripts/gen-scenarios.sh --mode agent): every instance is a Go process linking the
// fleetprof agent, which uploads one bundle per period (CPU profile, allocs/block/mutex deltas it
// differences itself, heap/goroutine snapshots, runtime/metrics), so each instance has many
// snapshots per window; no gctrace (GC comes from runtime/metrics). Eight services, two instances
// each: two noise services (the same workload again; noise2 redeployed) and one regression per
// area. Ingested through the upload path (key + metadata -> bundle members). The digest must
//   - report nothing for the noise services, with two instances per side and with one;
//   - find every injected regression in its area, the injected function first, and say in the
//     finding card which function and (after a deploy) which version change;
//   - find the goroutine leak from runtime/metrics alone when the agent sends no goroutine profile.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DigestResult } from '../lib/detect/digest';
import { renderDigestHtml } from '../lib/render/digest-html';
import { ingestScenarios, isFound, scenarioManifest, serviceDigest } from './helpers/scenarios';

const SUITE = path.join(__dirname, 'fixtures/scenarios-agent-bundles');
const m = scenarioManifest(SUITE);
const NOISE = Object.keys(m.expected).filter((s) => m.expected[s] === null);
const REGRESSIONS = Object.keys(m.expected).filter((s) => m.expected[s] !== null);
const deployed = (svc: string) => m.runs.some((r) => r.service === svc && r.phase === 'window' && r.version !== 'v1');

describe.each([[['i1', 'i2']], [['i1']]])('agent pattern, instances %j per side', (instances) => {
  const digests = new Map<string, DigestResult>();
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-agent-scenarios-'));
    await ingestScenarios(dir, (r) => instances.includes(r.instance), SUITE);
    for (const svc of Object.keys(m.services)) digests.set(svc, await serviceDigest(dir, svc, m.services[svc]));
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the suite is the agent pattern: bundles with many snapshots per instance and side', () => {
    expect(m.mode).toBe('agent');
    expect(m.runs.length).toBeGreaterThanOrEqual(2 * Object.keys(m.services).length);
  });

  test.each(NOISE)('%s (noise): no anomaly, no data problem', (svc) => {
    const d = digests.get(svc)!;
    expect(d.health).toEqual([]);
    expect(d.anomalies.map((a) => `${a.id}:${a.culprits[0]}`)).toEqual([]);
  });

  test.each(REGRESSIONS)('%s: found in its area, the injected function first, named in its card with the deploy', (svc) => {
    const e = m.expected[svc]!;
    const d = digests.get(svc)!;
    const hit = d.anomalies.find((a) => isFound([a], e));
    expect(hit).toBeDefined();
    expect(hit!.evidence).toMatchObject(hit!.area === 'gc' ? {} : { target_instances: instances.length });
    // Anything else in that service that does not name the injected function is a GC change that
    // came with it (the contention and the goroutine leak change how much the service allocates
    // and scans), never a CPU, memory, goroutine or contention finding about another function.
    expect(d.anomalies.filter((a) => !a.culprits.includes(e.culprit) && a.area !== 'gc').map((a) => `${a.id}:${a.culprits[0]}`)).toEqual([]);
    const card = renderDigestHtml(d)
      .split('<section class="card"')
      .slice(1)
      .find((c) => c.includes(`<code>${e.culprit}</code>`))!;
    expect(card).toBeDefined();
    const summary = /<p class="summary">([^<]*)<\/p>/.exec(card)![1];
    expect(summary).toContain(e.culprit);
    if (deployed(svc)) {
      expect(summary).toContain('v1 -&gt; v2');
      expect(card).toContain('versions v1 → v2');
    } else {
      expect(summary).not.toMatch(/version change/);
    }
  });
});

describe('goroutine leak without goroutine profiles (runtime/metrics only)', () => {
  let dir: string;
  let d: DigestResult;
  let noise: DigestResult;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-agent-goroutines-'));
    await ingestScenarios(dir, (r) => r.service === 'gateway' || r.service === 'noise2', SUITE, /^goroutine\./);
    d = await serviceDigest(dir, 'gateway', m.services.gateway);
    noise = await serviceDigest(dir, 'noise2', m.services.noise2);
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the count from /sched/goroutines:goroutines is a finding, with no culprit it cannot know', () => {
    const g = d.anomalies.find((a) => a.area === 'goroutines');
    expect(g).toBeDefined();
    expect(g!.culprits).toEqual([]);
    expect(g!.evidence).toMatchObject({ source: 'runtime_metrics', metric: '/sched/goroutines:goroutines', base_instances: 2, target_instances: 2 });
    const ev = g!.evidence as { base_goroutines_per_instance: number; target_goroutines_per_instance: number };
    expect(ev.target_goroutines_per_instance).toBeGreaterThan(3 * ev.base_goroutines_per_instance);
    expect(g!.summary).toMatch(/runtime\/metrics.*after the version change v1 -> v2/);
    expect(g!.nextStep).toMatch(/goroutine profiles/);
  });

  test('a redeploy of the same workload: no goroutine finding from runtime/metrics', () => {
    expect(noise.anomalies.filter((a) => a.area === 'goroutines')).toEqual([]);
  });
});
