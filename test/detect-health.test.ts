// Silence is not "all quiet" (lib/detect/health.ts): a service that stopped sending, a window with
// no data at all, and ingest failures reported by the edge are findings listed before anomalies,
// and a digest with one is never quiet. Real data: the scenario suite's checkout service (both
// phases) and noise service (baseline phase only: it "stopped sending").
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { digest, digestJson } from '../lib/detect/digest';
import { healthFindings } from '../lib/detect/health';
import { openEngine } from '../lib/query/open';
import { LocalStore } from '../lib/store/local';
import { digestSubject } from '../lib/render/email';
import { renderDigestHtml } from '../lib/render/digest-html';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ingestScenarios, type ScenarioManifest } from './helpers/scenarios';
import { motoAvailable, startMoto, type Moto } from './helpers/moto';

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

// The CLI runs the Lambda's quarantine check too: <data>/quarantine/ (a copy of the bucket's) here;
// --bucket lists the bucket's with the same rule (lib/aws/ingest-health.ts readIngestSignals).
describe('fleetprof digest: quarantined uploads are a finding', () => {
  const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
  const secs = (a: string, b: string) => `${Math.ceil((Date.parse(b) - Date.parse(a)) / 1000)}s`;
  const quarantine = (name: string, atMs: number, reason: string) => {
    const dir = path.join(data, 'quarantine', 'raw', 'checkout', 'i1');
    mkdirSync(dir, { recursive: true });
    const f = path.join(dir, `${name}.reason.json`);
    writeFileSync(f, JSON.stringify({ bucket: 'b', key: `raw/checkout/i1/${name}`, code: 'bad-profile', reason, at: new Date(atMs).toISOString() }));
    utimesSync(f, atMs / 1000, atMs / 1000);
  };
  const digestCli = (toIso: string) =>
    spawnSync(process.execPath, [CLI, 'digest', '--data', data, '--to', toIso, '--window', secs(m.window.from, m.window.to), '--baseline', secs(m.baseline.from, m.window.from), '--json'], {
      encoding: 'utf8',
      env: { ...process.env, FLEETPROF_BUCKET: '', FLEETPROF_INGEST_DLQ_URL: '' },
    });
  afterAll(() => rmSync(path.join(data, 'quarantine'), { recursive: true, force: true }));

  test('one upload quarantined in the window (one before it does not count): first, with its reason', () => {
    quarantine('20261121T220300.000Z_cpu.pb.gz', Date.parse(m.window.from) + 1000, 'not a profile: HTML error page');
    quarantine('20261121T210000.000Z_cpu.pb.gz', Date.parse(m.baseline.from) - 3600_000, 'old');
    const r = digestCli(m.window.to);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { health: { id: string; summary: string; evidence: { quarantined_in_window: number } }[] };
    expect(j.health[0].id).toBe('ingest-quarantine');
    expect(j.health[0].evidence.quarantined_in_window).toBe(1);
    expect(j.health[0].summary).toMatch(/^1 upload\(s\) were quarantined .*raw\/checkout\/i1\/20261121T220300\.000Z_cpu\.pb\.gz: not a profile: HTML error page/);
  }, 120_000);

  test('a window without data while uploads are being quarantined: the digest says so instead of exit 3', () => {
    const laterMs = Date.parse(m.window.to) + 48 * 3600_000;
    const quiet = digestCli(new Date(laterMs).toISOString());
    // Nothing quarantined in that window yet: the CLI's stricter rule (no data: exit 3).
    expect(quiet.status).toBe(3);
    quarantine('20261123T220300.000Z_cpu.pb.gz', laterMs - 1000, 'contract: unknown kind');
    const r = digestCli(new Date(laterMs).toISOString());
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { quiet: boolean; health: { id: string }[] };
    expect(j.quiet).toBe(false);
    expect(j.health.map((h) => h.id)).toEqual(['ingest-quarantine', 'no-data']);
  }, 120_000);
});

// `fleetprof digest --dlq-url` reads the queue as the digest Lambda does (lib/aws/ingest-health.ts
// dlqSignal): against moto's SQS, an empty queue is no finding, a queue holding messages (uploads
// that failed ingestion maxReceiveCount times) is one, listed first, with the count.
const withMoto = motoAvailable() ? describe : describe.skip;
if (!motoAvailable()) console.warn('detect-health --dlq-url skipped: moto_server is not on PATH (pip install "moto[server]")');
withMoto('fleetprof digest --dlq-url: a dead-letter queue holding messages is a finding, first', () => {
  const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
  const region = 'us-east-1';
  let moto: Moto;
  let sqs: SQSClient;
  let queueUrl: string;
  beforeAll(async () => {
    moto = await startMoto();
    sqs = new SQSClient({ region, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'fleetprof-ingest-dlq' }))).QueueUrl!;
  }, 60_000);
  afterAll(async () => {
    sqs?.destroy();
    await moto?.stop();
  });
  const secs = (a: string, b: string) => `${Math.ceil((Date.parse(b) - Date.parse(a)) / 1000)}s`;
  const digestCli = (toIso: string) =>
    spawnSync(
      process.execPath,
      [CLI, 'digest', '--data', data, '--to', toIso, '--window', secs(m.window.from, m.window.to), '--baseline', secs(m.baseline.from, m.window.from), '--dlq-url', queueUrl, '--json'],
      {
        encoding: 'utf8',
        // The standard AWS chain, pointed at moto; no bucket (only the queue is asked about).
        env: { ...process.env, AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: region, FLEETPROF_BUCKET: '', FLEETPROF_INGEST_DLQ_URL: '' },
      },
    );
  type Out = { quiet: boolean; message: string; health: { id: string; summary: string; evidence: { messages: number; queue: string } }[]; anomalies: { service: string }[] };

  test('empty queue: no finding (a window without data stays exit 3); three dead-lettered messages: ingest-dlq first, with the count', async () => {
    // A window 48 h after the data: no detector runs, only the health checks.
    const later = new Date(Date.parse(m.window.to) + 48 * 3600_000).toISOString();
    const empty = digestCli(later);
    expect(empty.stderr).not.toMatch(/cannot read the dead-letter queue/);
    expect(empty.status).toBe(3);

    for (let i = 0; i < 3; i++) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ Records: [{ s3: { object: { key: `raw/checkout/i1/${i}_cpu.pb.gz` } } }] }) }));
    }
    const r = digestCli(later);
    expect(r.stderr).not.toMatch(/cannot read the dead-letter queue/);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as Out;
    expect(j.quiet).toBe(false);
    expect(j.health.map((h) => h.id)).toEqual(['ingest-dlq', 'no-data']);
    expect(j.health[0].evidence).toEqual({ messages: 3, queue: queueUrl });
    expect(j.health[0].summary).toMatch(/^3 message\(s\) in the ingest dead-letter queue/);
    expect(j.message).toMatch(/^2 data or ingest problems \(ingest-dlq, no-data\)/);

    // With data in the window: the finding comes before the anomalies, not instead of them.
    const withData = digestCli(m.window.to);
    expect(withData.status).toBe(0);
    const w = JSON.parse(withData.stdout) as Out;
    expect(w.health[0].id).toBe('ingest-dlq');
    expect(w.anomalies.some((a) => a.service === 'checkout')).toBe(true);
  }, 180_000);
});
