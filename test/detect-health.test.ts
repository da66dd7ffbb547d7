// Silence is not "all quiet" (lib/detect/health.ts): a service that stopped sending, a window with
// no data at all, and ingest failures reported by the edge are findings listed before anomalies,
// and a digest with one is never quiet. Real data: the scenario suite's checkout service (both
// phases) and noise service (baseline phase only: it "stopped sending").
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { digest, digestJson } from '../lib/detect/digest';
import { healthFindings } from '../lib/detect/health';
import { openEngine } from '../lib/query/open';
import { LocalStore } from '../lib/store/local';
import { digestSubject } from '../lib/render/email';
import { renderDigestHtml } from '../lib/render/digest-html';
import { ingestScenarios, type ScenarioManifest } from './helpers/scenarios';

const us = (iso: string) => Date.parse(iso) * 1000;
let data: string;
let m: ScenarioManifest;
beforeAll(async () => {
  data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-health-'));
  m = await ingestScenarios(data, (r) => (r.service === 'checkout' && r.instance === 'i1') || (r.service === 'noise' && r.phase === 'baseline'));
}, 300_000);
afterAll(() => rmSync(data, { recursive: true, force: true }));

async function run(nowUs: number, ingest?: Parameters<typeof digest>[1]['ingest']) {
  const engine = await openEngine(new LocalStore(data), {}, [data]);
  try {
    return await digest(engine, { nowUs, windowUs: us(m.window.to) - us(m.window.from), baselineUs: us(m.window.from) - us(m.baseline.from), dataDir: data, ingest });
  } finally {
    engine.close();
  }
}

test('a service with baseline data and none in the window is a finding, first; the others are still compared', async () => {
  const d = await run(us(m.window.to));
  expect(d.quiet).toBe(false);
  expect(d.health.map((h) => [h.id, h.service])).toEqual([['service-silent', 'noise']]);
  expect(d.health[0].summary).toMatch(/noise sent no data in the window; its last data is from 20/);
  expect(d.anomalies.some((a) => a.service === 'checkout' && a.area === 'cpu')).toBe(true);
  expect(d.message).toMatch(/^1 data or ingest problem \(service-silent\)\. \d+ anomal/);
  expect(digestSubject(d)).toMatch(/^fleetprof digest: DATA PROBLEM - service-silent and \d+ anomal/);
  const html = renderDigestHtml(d);
  expect(html.indexOf('service-silent')).toBeLessThan(html.indexOf('checkout · cpu'));
  expect((digestJson(d) as { health: unknown[] }).health).toHaveLength(1);
}, 300_000);

test('a window with no data at all: no-data, never "all quiet"', async () => {
  const later = us(m.window.to) + 3600e6 * 48;
  const d = await run(later);
  expect(d.quiet).toBe(false);
  expect(d.health.map((h) => h.id)).toEqual(['no-data']);
  expect(d.message).not.toMatch(/quiet/i);
  expect(d.health[0].nextStep).toMatch(/fleetprof sql --data \S+ 'SELECT service, max\(time\) AS last FROM profiles GROUP BY ALL ORDER BY last'/);
  expect(digestSubject(d)).toMatch(/DATA PROBLEM - no-data/);
}, 300_000);

test('ingest signals: quarantined uploads and DLQ messages are findings; zero counts are not', () => {
  const span = { fromUs: 0, toUs: 10 };
  const presence = [{ service: 'a', baselineRows: 3, windowRows: 2, lastUs: 5 }];
  const none = healthFindings({ presence, window: span, baseline: span, dataArgs: ['--data', 'D'], ingest: { quarantined: { inWindow: 0, truncated: false, examples: [], prefix: 'q/' }, dlq: { messages: 0, queue: 'u' } } });
  expect(none).toEqual([]);
  const bad = healthFindings({
    presence,
    window: span,
    baseline: span,
    dataArgs: ['--data', 'D'],
    ingest: { quarantined: { inWindow: 10000, truncated: true, examples: [{ key: 'raw/a/i/x', reason: 'bad' }], prefix: 'q/' }, dlq: { messages: 4, queue: 'u' } },
  });
  expect(bad.map((h) => h.id)).toEqual(['ingest-quarantine', 'ingest-dlq']);
  expect(bad[0].summary).toMatch(/^10000\+ upload\(s\) were quarantined in the window: .*raw\/a\/i\/x: bad/);
});
