// The detector scenario suite: real profiles and gctrace logs of a Go service (test/fixtures/
// scenarios, scripts/gen-scenarios.sh --mode captures). Six services ran the same workload in a
// baseline phase (5 runs each); in the window phase (3 runs) "noise" ran it again unchanged
// (run-to-run noise only), every other service ran a new version with one injected regression.
// The digest must
//   - report nothing for the noise services,
//   - find every injected regression in its area, naming the injected function,
// with all runs (5 vs 3 per service) and with one and two runs per side (small-n rules).
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { digest, type DigestResult } from '../lib/detect/digest';
import type { Anomaly } from '../lib/detect/finding';
import { openEngine } from '../lib/query/open';
import { LocalStore } from '../lib/store/local';
import { renderDigestHtml } from '../lib/render/digest-html';
import { ingestScenarios, isFound, scenarioManifest, type ScenarioManifest } from './helpers/scenarios';

const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
const us = (iso: string) => Date.parse(iso) * 1000;

let data: string;
let m: ScenarioManifest;
let d: DigestResult;
beforeAll(async () => {
  data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-scenarios-'));
  m = await ingestScenarios(data);
  const engine = await openEngine(new LocalStore(data), {}, [data]);
  try {
    const now = us(m.window.to);
    d = await digest(engine, {
      nowUs: now,
      windowUs: now - us(m.window.from),
      baselineUs: us(m.window.from) - us(m.baseline.from),
      dataDir: data,
      engineFor: (service, r) => openEngine(new LocalStore(data), { service, fromUs: r.fromUs, toUs: r.toUs }, [data]),
    });
  } finally {
    engine.close();
  }
}, 900_000); // ~2.5 min of CPU (ingest + digest): over 300 s of wall time at load 20+
afterAll(() => rmSync(data, { recursive: true, force: true }));

/** An anomaly is a true positive when its service had an injection and it names the injected function. */
function isTrue(a: Anomaly): boolean {
  const e = m.expected[a.service];
  return e !== null && e !== undefined && a.culprits.includes(e.culprit);
}

function score(anomalies: Anomaly[], expected: ScenarioManifest['expected']) {
  const injected = Object.entries(expected).filter(([, e]) => e !== null) as [string, { area: string; culprit: string }][];
  const found = injected.filter(([svc, e]) => isFound(anomalies.filter((a) => a.service === svc), e));
  const tp = anomalies.filter((a) => {
    const e = expected[a.service];
    return e !== null && e !== undefined && a.culprits.includes(e.culprit);
  }).length;
  return { recall: found.length / injected.length, precision: anomalies.length === 0 ? 1 : tp / anomalies.length, found: found.map(([s]) => s), tp, reported: anomalies.length };
}

test('noise only (the same workload re-run): no anomaly at all', () => {
  expect(d.services).toContain('noise');
  expect(d.anomalies.filter((a) => a.service === 'noise')).toEqual([]);
});

const REGRESSIONS = Object.keys(scenarioManifest().expected).filter((s) => scenarioManifest().expected[s] !== null);
test.each(REGRESSIONS)('%s: the injected regression is found in its area, naming the injected function', (svc) => {
  const e = m.expected[svc]!;
  const hits = d.anomalies.filter((a) => a.service === svc && isFound([a], e));
  expect(hits.length).toBeGreaterThan(0);
  // The version change is named; GC pressure came without one.
  const deployed = m.runs.some((r) => r.service === svc && r.version === 'v2');
  expect(hits[0].versions).toEqual({ base: 'v1', target: deployed ? 'v2' : 'v1' });
  if (deployed) expect(hits[0].summary).toMatch(/v1 -> v2/);
  else expect(hits[0].summary).not.toMatch(/version change/);
});

test('every noise service quiet, no data or ingest problem', () => {
  expect(d.anomalies.filter((a) => m.expected[a.service] === null)).toEqual([]);
  expect(d.health).toEqual([]);
});

// Small n: one and two runs per side (instances i1, i1-i2 of both phases), the suite's own phases.
describe.each([[['i1']], [['i1', 'i2']]])('with %j per side', (instances) => {
  let small: DigestResult;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-scenarios-small-'));
    await ingestScenarios(dir, (r) => instances.includes(r.instance));
    const engine = await openEngine(new LocalStore(dir), {}, [dir]);
    try {
      const now = us(m.window.to);
      small = await digest(engine, { nowUs: now, windowUs: now - us(m.window.from), baselineUs: us(m.window.from) - us(m.baseline.from), dataDir: dir });
    } finally {
      engine.close();
    }
  }, 900_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('noise services stay quiet', () => {
    expect(small.anomalies.filter((a) => m.expected[a.service] === null)).toEqual([]);
  });
  test.each(REGRESSIONS)('%s: found in its area with the true culprit first', (svc) => {
    const e = m.expected[svc]!;
    const hits = small.anomalies.filter((a) => a.service === svc && isFound([a], e));
    expect(hits.length).toBe(1);
    // Evidence says how many instances it rests on.
    expect(hits[0].evidence).toMatchObject(hits[0].area === 'gc' ? {} : { target_instances: instances.length });
  });
});

test('precision and recall over the suite', () => {
  const s = score(d.anomalies, m.expected);
  // Printed for docs/detectors.md.
  process.stdout.write(`scenario suite: recall ${s.recall} (${s.found.join(', ')}), precision ${s.tp}/${s.reported}\n`);
  expect(s.recall).toBe(1);
  expect(s.precision).toBeGreaterThanOrEqual(0.8);
  expect(d.quiet).toBe(false);
  // Every anomaly off the injected function is low severity at most... or names it.
  for (const a of d.anomalies) if (!isTrue(a)) expect(a.severity).not.toBe('high');
});

test('most important first: severity never increases down the list', () => {
  const rank = { high: 3, medium: 2, low: 1 };
  for (let i = 1; i < d.anomalies.length; i++) expect(rank[d.anomalies[i].severity]).toBeLessThanOrEqual(rank[d.anomalies[i - 1].severity]);
});

test('every anomaly has the documented fields, in plain words', () => {
  for (const a of d.anomalies) {
    expect(['cpu', 'memory', 'goroutines', 'gc', 'contention']).toContain(a.area);
    expect(['high', 'medium', 'low']).toContain(a.severity);
    expect(a.summary.length).toBeGreaterThan(10);
    expect(a.explanation.length).toBeGreaterThan(20);
    expect(a.nextStep).toMatch(/fleetprof (diff|top|gc)/);
    expect(typeof a.evidence).toBe('object');
  }
});

test('HTML: self-contained, one card per anomaly with its table and charts', () => {
  const html = renderDigestHtml(d);
  expect(html).not.toMatch(/<(script|link|img|iframe)\b/i);
  expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/https?:\/\//);
  expect((html.match(/<section class="card"/g) ?? []).length).toBe(d.anomalies.length + d.health.length);
  expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(d.anomalies.length);
  expect(html).toContain('main.applyDiscountRules');
  expect(html).toMatch(/<table>/);
});

test('CLI: digest --json over the same spans, and an all-quiet digest for the noise service alone', () => {
  const now = m.window.to;
  const secs = (a: string, b: string) => `${Math.ceil((Date.parse(b) - Date.parse(a)) / 1000)}s`;
  const args = ['digest', '--data', data, '--now', now, '--window', secs(m.window.from, now), '--baseline', secs(m.baseline.from, m.window.from)];
  const r = spawnSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  const j = JSON.parse(r.stdout) as { window: { from: string; to: string }; baseline: object; anomalies: { service: string; area: string; severity: string; culprits: string[]; summary: string; evidence: object }[] };
  expect(j.window.to).toBe(new Date(Date.parse(now)).toISOString());
  expect(score(j.anomalies as Anomaly[], m.expected).recall).toBe(1);
  expect(Object.keys(j.anomalies[0]).slice(0, 6)).toEqual(['service', 'area', 'severity', 'culprits', 'summary', 'evidence']);
  const q = spawnSync(process.execPath, [CLI, ...args, '--service', 'noise', '--json'], { encoding: 'utf8' });
  const qj = JSON.parse(q.stdout) as { quiet: boolean; anomalies: unknown[]; message: string };
  expect(qj.quiet).toBe(true);
  expect(qj.anomalies).toEqual([]);
  expect(qj.message).toMatch(/All quiet/);
  const html = path.join(data, 'digest.html');
  const h = spawnSync(process.execPath, [CLI, ...args, '--service', 'noise', '--html', html], { encoding: 'utf8' });
  expect(h.status).toBe(0);
  expect(require('node:fs').readFileSync(html, 'utf8')).toMatch(/All quiet/);
}, 120_000);
