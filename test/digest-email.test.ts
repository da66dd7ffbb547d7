// Digest delivery end to end against moto (S3 + SES v2): a subset of the detector scenario suite
// (test/fixtures/scenarios) ingested into moto's S3 through the ingest code the Lambda uses, the
// digest Lambda handler run for the suite's window, the mail read back from moto
// (/moto-api/data.json, data.ses.RawMessage) and its MIME taken apart: text and HTML parts, inline
// PNG charts referenced by cid, the exported profiles attached, the subject naming services and
// areas, the archive under digests/. "All quiet" with FLEETPROF_DIGEST_SEND_QUIET=false sends
// nothing. Then headless Chromium (when /usr/bin/chromium exists) renders the archived HTML page.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import type { DigestJobResult } from '../lib/aws/digest-job';
import { DIGEST_FUNCTION } from '../lib/aws/resources';
import { ingestBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { S3Store } from '../lib/aws/s3-store';
import { motoAvailable, startMoto, type Moto, lambdaEnv } from './helpers/moto';
import { leaves, parseMime, type MimePart } from './helpers/mime';
import { scenarioManifest, SCENARIOS, type ScenarioRun } from './helpers/scenarios';

const BUCKET = 'fleetprof-digest';
const REGION = 'us-east-1';
const FROM = 'digest@example.com';
const TO = ['oncall@example.com', 'perf@example.com'];
const CHROMIUM = '/usr/bin/chromium';
const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const d = motoAvailable() ? describe : describe.skip;
if (!motoAvailable()) {
  console.warn('digest-email skipped: moto_server is not on PATH (pip install "moto[server]")');
}

const m = scenarioManifest();
const sec = (a: string, b: string) => Math.ceil((Date.parse(b) - Date.parse(a)) / 1000);

d('digest delivery against moto (S3 + SES v2)', () => {
  let moto: Moto;
  let tmp: string;
  let s3: S3Client;
  let handler: (e: { now?: string }) => Promise<DigestJobResult>;
  let quietSkip: DigestJobResult;
  let quietEml: Buffer;
  let result: DigestJobResult;
  let mails: { source: string; destinations: string[]; raw_data: string }[];
  const saved = { ...process.env };

  async function ingest(only: (r: ScenarioRun) => boolean): Promise<void> {
    const store = new S3Store({ client: s3, bucket: BUCKET, prefix: 'tables/', scratchDir: path.join(tmp, 'scratch') });
    const instance = await openDuckDb();
    const writer = await ParquetWriter.create(instance);
    try {
      for (const r of m.runs.filter(only)) {
        const dir = path.join(SCENARIOS, 'runs', r.run);
        for (const f of readdirSync(dir).sort()) {
          const file = path.join(dir, f);
          const meta = parseSourceMeta({ service: r.service, instance: r.instance, version: r.version, startUs: Date.parse(r.startTime) * 1000, source: file, sourceId: `scenarios/${r.run}/${f}` });
          await ingestBytes(readFileSync(file), meta, { store, writer });
        }
      }
    } finally {
      writer.close();
      instance.closeSync();
    }
  }

  async function sentMail(): Promise<{ source: string; destinations: string[]; raw_data: string }[]> {
    const r = await fetch(`${moto.endpoint}/moto-api/data.json`);
    const j = (await r.json()) as { ses?: { RawMessage?: { source: string; destinations: string[]; raw_data: string }[] } };
    return j.ses?.RawMessage ?? [];
  }

  async function getObject(key: string): Promise<Buffer> {
    const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  }

  beforeAll(async () => {
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
    moto = await startMoto();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-digest-'));
    Object.assign(process.env, {
      ...lambdaEnv(moto, { region: REGION, bucket: BUCKET, cacheDir: path.join(tmp, 'cache') }),
      FLEETPROF_DIGEST_FROM: FROM,
      FLEETPROF_DIGEST_TO: TO.join(', '),
      FLEETPROF_DIGEST_WINDOW: `${sec(m.window.from, m.window.to)}s`,
      FLEETPROF_DIGEST_BASELINE: `${sec(m.baseline.from, m.window.from)}s`,
      FLEETPROF_DIGEST_SEND_QUIET: 'false',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(DIGEST_FUNCTION.memoryMb),
    });
    s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const ses = new SESv2Client({ region: REGION, endpoint: moto.endpoint });
    await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: FROM }));
    ses.destroy();
    handler = (await import('../lambdas/digest')).handler;

    // 1. Only the noise service (the same workload re-run): all quiet.
    await ingest((r) => r.service === 'noise');
    quietSkip = await handler({ now: m.window.to });
    mails = await sentMail();
    quietEml = await getObject(quietSkip.archived.find((k) => k.endsWith('/digest.eml'))!);
    // 2. Two services with injected regressions (CPU, heap leak).
    await ingest((r) => r.service === 'checkout' || r.service === 'sessions');
    result = await handler({ now: m.window.to });
  }, 900_000); // two digest runs against moto: 2-3 min at load ~28, like detect-scenarios' hooks

  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });

  test('all quiet with SEND_QUIET=false: no mail, but archived (with the mail it would have sent)', () => {
    expect(quietSkip).toMatchObject({ quiet: true, sent: false, anomalies: 0, services: ['noise'] });
    expect(quietSkip.archived.some((k) => k.endsWith('/digest.json'))).toBe(true);
    expect(mails).toHaveLength(0);
    const mime = parseMime(quietEml);
    expect(mime.headers.get('subject')).toMatch(/^fleetprof digest: all quiet \(1 service/);
    const text = leaves(mime).find((p) => p.type === 'text/plain')!.body.toString('utf8');
    expect(text).toMatch(/All quiet/);
    expect(leaves(mime).filter((p) => p.type === 'image/png')).toHaveLength(0);
  });

  describe('the anomaly digest', () => {
    let mime: MimePart;
    let parts: MimePart[];
    let html: string;
    let text: string;

    beforeAll(async () => {
      const all = await sentMail();
      expect(all).toHaveLength(1);
      const mail = all[0];
      expect(mail.source).toBe(FROM);
      // moto 5.2 lists the destinations twice (the call's and the To header's).
      expect([...new Set(mail.destinations)]).toEqual(TO);
      mime = parseMime(mail.raw_data);
      parts = leaves(mime);
      html = parts.find((p) => p.type === 'text/html')!.body.toString('utf8');
      text = parts.find((p) => p.type === 'text/plain')!.body.toString('utf8');
    });

    test('the job found both regressions and sent one mail', () => {
      expect(result.quiet).toBe(false);
      expect(result.sent).toBe(true);
      expect(result.services).toEqual(['checkout', 'noise', 'sessions']);
      expect(result.anomalies).toBeGreaterThanOrEqual(2);
    });

    test('subject names the services and their areas', () => {
      const subject = mime.headers.get('subject')!;
      expect(subject).toMatch(/^fleetprof digest: \d+ anomal/);
      expect(subject).toMatch(/checkout \([^)]*cpu/);
      expect(subject).toMatch(/sessions \([^)]*memory/);
      expect(subject).not.toMatch(/noise/);
      expect(mime.headers.get('to')).toBe(TO.join(', '));
      expect(mime.headers.get('mime-version')).toBe('1.0');
    });

    test('MIME structure: mixed > related > alternative (text + html), inline PNGs, attachments', () => {
      expect(mime.type).toBe('multipart/mixed');
      const related = mime.parts[0];
      expect(related.type).toBe('multipart/related');
      expect(related.parts[0].type).toBe('multipart/alternative');
      expect(related.parts[0].parts.map((p) => p.type)).toEqual(['text/plain', 'text/html']);
    });

    test('text part: each anomaly with culprits and a top-functions table', () => {
      expect(text).toMatch(/\[high\] checkout cpu: /);
      expect(text).toContain('main.applyDiscountRules');
      expect(text).toContain('main.rememberRequest');
      expect(text).toMatch(/top functions \(share; \* = significant\):\n\s+function\s+baseline\s+window\s+change\s+p\n/);
      expect(text).not.toMatch(/\[\w+\] noise /);
    });

    test('HTML part: no inline SVG; every chart an <img src="cid:..."> with its PNG part; top-functions tables', () => {
      expect(html).not.toMatch(/<svg/);
      const cids = [...html.matchAll(/<img src="cid:([^"]+)"/g)].map((x) => x[1]);
      expect(cids.length).toBeGreaterThanOrEqual(2);
      const pngs = parts.filter((p) => p.type === 'image/png');
      expect(pngs.map((p) => p.headers.get('content-id'))).toEqual(cids.map((c) => `<${c}>`));
      for (const p of pngs) {
        expect(p.body.subarray(0, 8)).toEqual(PNG_SIG);
        expect(p.headers.get('content-disposition')).toMatch(/^inline/);
        // IHDR width/height: the 2x raster of a 640 px wide chart.
        expect(p.body.readUInt32BE(16)).toBe(1280);
        expect(p.body.readUInt32BE(20)).toBeGreaterThan(40);
      }
      expect((html.match(/<th>function<\/th>/g) ?? []).length).toBeGreaterThanOrEqual(2);
      expect(html).toContain('main.applyDiscountRules');
    });

    test('attachments: the window profiles as gzipped pprof, archived too', async () => {
      const att = parts.filter((p) => (p.headers.get('content-disposition') ?? '').startsWith('attachment'));
      const names = att.map((p) => p.params.name).sort();
      expect(names).toContain('checkout-cpu-window.pb.gz');
      expect(names).toContain('sessions-heap-window.pb.gz');
      expect(names).toEqual([...result.attached].sort());
      for (const p of att) {
        expect(p.type).toBe('application/gzip');
        const pb = gunzipSync(p.body);
        expect(pb.length).toBeGreaterThan(100);
        expect(pb.toString('latin1')).toContain('main.');
      }
      const cpu = att.find((p) => p.params.name === 'checkout-cpu-window.pb.gz')!;
      expect(gunzipSync(cpu.body).toString('latin1')).toContain('main.applyDiscountRules');
    });

    test('archive: digest.json, digest.html, digest.eml and the profiles under digests/<date>/<window end>/', async () => {
      const prefix = `digests/${m.window.to.slice(0, 10)}/`;
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
      const keys = (listed.Contents ?? []).map((o) => o.Key!).sort();
      expect(keys).toEqual([...result.archived].sort());
      const base = keys.find((k) => k.endsWith('/digest.json'))!.replace(/digest\.json$/, '');
      expect(base).toMatch(/^digests\/\d{4}-\d\d-\d\d\/\d{8}T\d{6}Z\/$/);
      expect(keys).toEqual(expect.arrayContaining([`${base}digest.html`, `${base}digest.eml`, `${base}profiles/checkout-cpu-window.pb.gz`]));
      const j = JSON.parse((await getObject(`${base}digest.json`)).toString('utf8')) as { quiet: boolean; anomalies: { service: string; area: string }[] };
      expect(j.quiet).toBe(false);
      expect(j.anomalies.some((a) => a.service === 'checkout' && a.area === 'cpu')).toBe(true);
      const page = (await getObject(`${base}digest.html`)).toString('utf8');
      expect(page).toMatch(/<svg/);
      writeFileSync(path.join(tmp, 'digest.html'), page);
      // The email HTML with its cid: images as data: URIs, for the browser check below.
      const inlined = html.replace(/src="cid:([^"]+)"/g, (_x, cid: string) => {
        const p = parts.find((q) => q.headers.get('content-id') === `<${cid}>`)!;
        return `src="data:image/png;base64,${p.body.toString('base64')}"`;
      });
      writeFileSync(path.join(tmp, 'email.html'), inlined);
    });

    (existsSync(CHROMIUM) ? test : test.skip)('headless Chromium: the archived page and the mail render (charts with a size, key text present)', async () => {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
        await page.goto('file://' + path.join(tmp, 'digest.html'));
        const boxes = await page.$$eval('svg', (els) => els.map((e) => e.getBoundingClientRect()).map((r) => ({ w: r.width, h: r.height })));
        expect(boxes.length).toBeGreaterThanOrEqual(2);
        for (const b of boxes) {
          expect(b.w).toBeGreaterThan(100);
          expect(b.h).toBeGreaterThan(20);
        }
        // The bars of the function chart are drawn (non-zero rects besides the legend).
        const bars = await page.$$eval('svg rect', (els) => els.filter((e) => e.getBoundingClientRect().width > 1).length);
        expect(bars).toBeGreaterThan(4);
        const bodyText = await page.innerText('body');
        expect(bodyText).toContain('fleetprof digest');
        expect(bodyText).toContain('main.applyDiscountRules');
        expect(bodyText).toMatch(/checkout · cpu/);
        const shot = path.join(tmp, 'digest.png');
        await page.screenshot({ path: shot, fullPage: true });
        expect(readFileSync(shot).subarray(0, 8)).toEqual(PNG_SIG);

        // The mail's HTML: every chart image decoded by the browser at its intended size.
        await page.goto('file://' + path.join(tmp, 'email.html'));
        const imgs = await page.$$eval('img', (els) => els.map((e) => ({ nw: (e as unknown as { naturalWidth: number }).naturalWidth, w: e.getBoundingClientRect().width })));
        expect(imgs.length).toBeGreaterThanOrEqual(2);
        for (const i of imgs) {
          expect(i.nw).toBe(1280);
          expect(i.w).toBeGreaterThan(300);
        }
        await page.screenshot({ path: path.join(tmp, 'email.png'), fullPage: true });
        if (process.env.FLEETPROF_KEEP_SCREENSHOTS) {
          for (const f of ['digest.png', 'email.png']) writeFileSync(path.join(process.env.FLEETPROF_KEEP_SCREENSHOTS, f), readFileSync(path.join(tmp, f)));
        }
      } finally {
        await browser.close();
      }
    }, 60_000);
  });

  test('fleetprof digest --email sends through the SES endpoint chain; --eml writes the message; --skip-quiet', () => {
    // One quiet service: a single CPU profile in the window, nothing to compare it with.
    const quiet = path.join(tmp, 'quiet-data');
    const fixture = path.join(__dirname, 'fixtures/go/svc-a-v1-i1/cpu.pb.gz');
    expect(spawnSync(process.execPath, [CLI, 'ingest', '--data', quiet, '--service', 'quiet', '--instance', 'i1', fixture], { encoding: 'utf8' }).status).toBe(0);
    const eml = path.join(tmp, 'cli.eml');
    const env = { ...process.env, FLEETPROF_BUCKET: undefined, FLEETPROF_DATA: undefined };
    const digestArgs = ['digest', '--data', quiet, '--to', '2026-11-21T21:00:00Z', '--window', '1h', '--email', '--from-addr', FROM];
    const run = (extra: string[]) => spawnSync(process.execPath, [CLI, ...digestArgs, '--mail-to', 'cli@example.com', ...extra], { encoding: 'utf8', env });
    const skipped = run(['--skip-quiet']);
    expect(skipped.stderr).toMatch(/mail skipped/);
    expect(skipped.status).toBe(0);
    const sent = run(['--eml', eml]);
    expect(sent.stderr).toMatch(/mailed "fleetprof digest: all quiet \(1 service,/);
    expect(sent.status).toBe(0);
    expect(parseMime(readFileSync(eml)).headers.get('to')).toBe('cli@example.com');
    // The old spelling (--to with addresses) still mails, with a notice; skip-quiet keeps moto's count.
    const old = spawnSync(process.execPath, [CLI, ...digestArgs.filter((a) => a !== '--to' && a !== '2026-11-21T21:00:00Z'), '--now', '2026-11-21T21:00:00Z', '--to', 'cli@example.com', '--skip-quiet'], { encoding: 'utf8', env });
    expect(old.stderr).toMatch(/--to with mail addresses is deprecated, use --mail-to/);
    expect(old.stderr).toMatch(/mail skipped/);
    expect(old.status).toBe(0);
    const noTo = spawnSync(process.execPath, [CLI, 'digest', '--data', quiet, '--email'], { encoding: 'utf8', env });
    expect(noTo.status).toBe(1);
    expect(noTo.stderr).toMatch(/--email needs --from-addr and --mail-to/);
    // A window without data is no digest at all (exit 3), and no mail.
    const empty = path.join(tmp, 'empty-data');
    mkdirSync(empty);
    const none = spawnSync(process.execPath, [CLI, 'digest', '--data', empty, '--email', '--from-addr', FROM, '--mail-to', 'cli@example.com'], { encoding: 'utf8', env });
    expect(none.stderr).toMatch(/no profiles, GC cycles or runtime\/metrics in .*empty-data match --from .* --to /);
    expect(none.status).toBe(3);
  });

  test('fleetprof digest --bucket: the quarantine check of the digest Lambda, on the bucket (moto)', async () => {
    const data = path.join(tmp, 'quarantine-data');
    const fixture = path.join(__dirname, 'fixtures/go/svc-a-v1-i1/cpu.pb.gz');
    expect(spawnSync(process.execPath, [CLI, 'ingest', '--data', data, '--service', 'quiet', '--instance', 'i1', fixture], { encoding: 'utf8' }).status).toBe(0);
    const key = 'raw/quiet/i1/20261121T203000.000Z_cpu.pb.gz';
    const reasonKey = `quarantine/${key}.reason.json`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: reasonKey, Body: JSON.stringify({ bucket: BUCKET, key, code: 'bad-profile', reason: 'not a profile: HTML error page', at: new Date().toISOString() }) }));
    try {
      const env = { ...process.env, FLEETPROF_BUCKET: undefined, FLEETPROF_DATA: undefined, FLEETPROF_INGEST_DLQ_URL: undefined };
      const args = [CLI, 'digest', '--data', data, '--to', '2026-11-21T21:00:00Z', '--window', '1h', '--json'];
      const without = JSON.parse(spawnSync(process.execPath, args, { encoding: 'utf8', env }).stdout) as { quiet: boolean; health: unknown[] };
      expect(without).toMatchObject({ quiet: true, health: [] });
      const r = spawnSync(process.execPath, [...args, '--bucket', BUCKET], { encoding: 'utf8', env });
      expect(r.status).toBe(0);
      const j = JSON.parse(r.stdout) as { quiet: boolean; health: { id: string; summary: string; evidence: { quarantined_in_window: number; prefix: string } }[] };
      expect(j.quiet).toBe(false);
      expect(j.health.map((h) => h.id)).toEqual(['ingest-quarantine']);
      expect(j.health[0].evidence).toMatchObject({ quarantined_in_window: 1, prefix: `s3://${BUCKET}/quarantine/` });
      expect(j.health[0].summary).toContain(`${key}: not a profile: HTML error page`);
    } finally {
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: reasonKey }));
    }
  }, 120_000);

  test('moto holds the CLI mail too', async () => {
    const all = await sentMail();
    expect(all).toHaveLength(2);
    expect(parseMime(all[1].raw_data).headers.get('subject')).toMatch(/all quiet \(1 service,/);
  });

  test('ingest broken (quarantine and DLQ growing) over a window without data: a DATA PROBLEM mail, never "all quiet", even with SEND_QUIET=false', async () => {
    const { SQSClient, CreateQueueCommand, SendMessageCommand } = await import('@aws-sdk/client-sqs');
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const sqs = new SQSClient({ region: REGION, endpoint: moto.endpoint });
    try {
      const q = await sqs.send(new CreateQueueCommand({ QueueName: 'fleetprof-ingest-dlq' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: q.QueueUrl!, MessageBody: '{"Records":[]}' }));
      const reason = { bucket: BUCKET, key: 'raw/checkout/i1/20261121T000000Z_cpu_x.pb.gz', code: 'malformed', reason: 'pprof: not a profile', at: new Date().toISOString() };
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `quarantine/${reason.key}.reason.json`, Body: JSON.stringify(reason) }));
      process.env.FLEETPROF_INGEST_DLQ_URL = q.QueueUrl!;
      const before = (await sentMail()).length;
      // A window a day after the suite: nothing in it, nothing in its baseline.
      const later = new Date(Date.parse(m.window.to) + 86_400_000).toISOString();
      const r = await handler({ now: later });
      expect(r.quiet).toBe(false);
      expect(r.health).toEqual(['ingest-quarantine', 'ingest-dlq', 'no-data']);
      expect(r.sent).toBe(true);
      const all = await sentMail();
      expect(all).toHaveLength(before + 1);
      const mime = parseMime(all[all.length - 1].raw_data);
      expect(mime.headers.get('subject')).toMatch(/^fleetprof digest: DATA PROBLEM - ingest-quarantine, ingest-dlq, no-data/);
      const text = leaves(mime).find((p) => p.type === 'text/plain')!.body.toString('utf8');
      expect(text).not.toMatch(/all quiet/i);
      expect(text).toMatch(/! \[high\] fleet ingest-quarantine: 1 upload\(s\) were quarantined .*pprof: not a profile/);
      expect(text).toMatch(/! \[high\] fleet ingest-dlq: 1 message\(s\)/);
      expect(text).toContain('aws s3 sync s3://fleetprof-digest/tables/ fleetprof-data');
    } finally {
      delete process.env.FLEETPROF_INGEST_DLQ_URL;
      sqs.destroy();
    }
  }, 120_000);
});
