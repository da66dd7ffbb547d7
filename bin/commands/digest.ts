import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { archivePrefix } from '../../lib/render/digest-archive';
import { digest, digestJson, digestSpans, type DigestResult } from '../../lib/detect/digest';

export { digestJson };
import { exactJson } from '../../lib/query/json';
import { parseDurationUs } from '../../lib/model/time';
import { renderDigestHtml } from '../../lib/render/digest-html';
import { Option, type Command } from 'commander';
import { openLocalEngine, withEngine } from './engine';
import { withLookback } from '../../lib/query/window';
import { noMatch } from './empty';
import { bucketOption, dataOption, isoTime, positiveInt } from './options';
import { action, CliError } from './run';
import { writeOutput } from './stdio';
import { utcDate } from '../../lib/store/layout';
import type { Span } from '../../lib/detect/context';
import { quarantineExample, quarantineInWindow, type IngestSignals, type QuarantineListing } from '../../lib/detect/health';
import { QUARANTINE_PREFIX } from '../../lib/model/upload-key';
import { isoFromUs } from '../../lib/model/time';
import { exportAnomalyProfiles } from '../../lib/detect/digest-profiles';
import type { QueryEngine } from '../../lib/query/engine';
import { DEFAULT_MAX_ATTACH_BYTES, splitAttachments } from '../../lib/render/attachments';
import { buildDigestEmail } from '../../lib/render/email';

export interface DigestOptions {
  data: string;
  /** End of the window, epoch microseconds (`--to`; `--now` is its old name). */
  to?: number;
  now?: number;
  window: string;
  baseline: string;
  service?: string;
  json?: boolean;
  html?: string;
  /** Mail the digest with SES v2 (standard credential/region chain, AWS_ENDPOINT_URL honoured). */
  email?: boolean;
  fromAddr?: string;
  mailTo?: string[];
  /** With --email: no mail when the digest is all quiet. */
  skipQuiet?: boolean;
  /** Write the MIME message (.eml) to this file. */
  eml?: string;
  /** Largest total size of attached profiles, bytes. */
  maxAttachBytes?: number;
  /** Also archive digest.json and digest.html under <data>/digests/ (the web UI lists them). */
  archive?: boolean;
  /** The bucket whose quarantine/ to check, as the digest Lambda does (`--bucket`, $FLEETPROF_BUCKET). */
  bucket?: string;
  /** The ingest dead-letter queue to check (`--dlq-url`, $FLEETPROF_INGEST_DLQ_URL). */
  dlqUrl?: string;
}

export function digestText(d: DigestResult): string {
  let out = `window ${d.window.from} - ${d.window.to} vs baseline ${d.baseline.from} - ${d.baseline.to}\n`;
  if (d.quiet) return out + d.message + '\n';
  out += d.message + '\n';
  for (const h of d.health) out += `\n! [${h.severity}] ${h.service ?? 'fleet'} ${h.id}: ${h.summary}\n  next: ${h.nextStep}\n`;
  for (const a of d.anomalies) {
    out += `\n[${a.severity}] ${a.service} ${a.area}: ${a.summary}\n`;
    if (a.culprits.length > 0) out += `  culprits: ${a.culprits.join(', ')}\n`;
    out += `  ${a.explanation}\n  next: ${a.nextStep}\n`;
    for (const r of a.related ?? []) out += `  same cause, also: [${r.severity}] ${r.area}: ${r.summary}\n`;
  }
  return out;
}

function durationFlag(flag: string, v: string): number {
  try {
    return parseDurationUs(v);
  } catch (e) {
    throw new Error(`${flag}: ${(e as Error).message}`, { cause: e });
  }
}

const addressList = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((x) => x.trim()).filter((x) => x !== '')];

export function register(program: Command): void {
  program
    .command('digest')
    .description('anomalies of the window just before --to against the baseline just before it: cpu, memory, goroutines, gc, contention')
    .addOption(dataOption())
    .option('--to <time>', 'end of the window (default: now)', (v: string, prev: unknown) => {
      // Until 0.2 `digest --to` took the mail recipients; an address is still read that way.
      if (v.includes('@')) return { deprecatedRecipients: addressList(v, (prev as { deprecatedRecipients?: string[] })?.deprecatedRecipients) };
      return isoTime(v);
    })
    .option('--now <time>', 'old name of --to', isoTime)
    .option('--window <duration>', 'window length: 30s, 5m, 1h, 1d', '1h')
    .option('--baseline <duration>', 'baseline length, just before the window', '24h')
    .option('--service <name>', 'only this service')
    .option('--json', 'print JSON')
    .option('--html <file>', 'write a self-contained HTML report (- = stdout)')
    .addOption(bucketOption('check this bucket\'s quarantine/ (uploads ingestion refused) as the digest Lambda does; <data>/quarantine/ is always checked', false))
    .addOption(new Option('--dlq-url <url>', 'check this ingest dead-letter queue (SQS) as the digest Lambda does').env(INGEST_DLQ_ENV))
    .option('--archive', 'also archive digest.json and digest.html under <data>/digests/<date>/<window end>/ (listed by the web UI: fleetprof serve)')
    .option('--email', 'mail the digest with SES v2 (HTML + text, PNG charts, window profiles attached)')
    .option('--from-addr <address>', 'with --email: sender, an SES-verified identity')
    .option('--mail-to <addresses>', 'with --email: recipients, comma-separated (repeatable)', addressList)
    .option('--skip-quiet', 'with --email: send nothing when the digest is all quiet')
    .option('--eml <file>', 'write the email as a MIME message (.eml) to this file')
    .option('--max-attach-bytes <n>', 'largest total size of attached profiles (default 7340032)', positiveInt)
    .action(
      action('digest', (o: Omit<DigestOptions, 'to'> & { to?: number | { deprecatedRecipients: string[] } }) => {
        if (typeof o.to === 'object') {
          process.stderr.write('fleetprof digest: --to with mail addresses is deprecated, use --mail-to (--to is the window end)\n');
          return runDigest({ ...o, to: undefined, mailTo: [...(o.mailTo ?? []), ...o.to.deprecatedRecipients] });
        }
        return runDigest({ ...o, to: o.to });
      }),
    );
}

/** The digest Lambda's environment variable for the dead-letter queue (lib/aws/resources.ts ENV.ingestDlqUrl). */
const INGEST_DLQ_ENV = 'FLEETPROF_INGEST_DLQ_URL';

/**
 * What the digest Lambda checks about ingestion, from here: <data>/quarantine/ (a copy of the
 * bucket's, e.g. `aws s3 sync`), and with --bucket / --dlq-url the bucket's quarantine/ and the
 * queue, read with the standard AWS chain (AWS_ENDPOINT_URL honoured). A signal that cannot be
 * read is a warning on stderr, never a guess.
 */
async function cliIngestSignals(o: DigestOptions, window: Span): Promise<IngestSignals> {
  const warn = (e: Record<string, unknown>) => void process.stderr.write(`fleetprof digest: ${String(e.msg)}: ${String(e.reason ?? '')}\n`);
  let out: IngestSignals = {};
  if (o.bucket || o.dlqUrl) {
    // AWS clients only when asked: the digest itself needs nothing of lib/aws.
    const { makeS3Client } = await import('../../lib/aws/clients');
    const { readIngestSignals, dlqSignal, makeSqsClient } = await import('../../lib/aws/ingest-health');
    const s3 = makeS3Client({ maxAttempts: 3 });
    try {
      if (o.bucket) out = await readIngestSignals({ s3, bucket: o.bucket, dlqUrl: o.dlqUrl, log: warn }, window);
      else {
        const sqs = makeSqsClient();
        try {
          out.dlq = await dlqSignal(sqs, o.dlqUrl!);
        } catch (e) {
          warn({ msg: 'cannot read the dead-letter queue', reason: (e as Error).message });
        } finally {
          sqs.destroy();
        }
      }
    } finally {
      s3.destroy();
    }
  }
  if (!out.quarantined) {
    const local = localQuarantineSignal(o.data, window);
    if (local) out.quarantined = local;
  }
  return out;
}

/** <data>/quarantine/ (the bucket's layout: <key>.reason.json next to each copy), if there is one. */
function localQuarantineSignal(data: string, window: Span): IngestSignals['quarantined'] | undefined {
  const root = path.join(data, QUARANTINE_PREFIX);
  if (!existsSync(root)) return undefined;
  const listing: QuarantineListing[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name.endsWith('.reason.json')) listing.push({ key: path.relative(data, f).split(path.sep).join('/'), modifiedUs: Math.floor(statSync(f).mtimeMs) * 1000 });
    }
  };
  walk(root);
  const q = quarantineInWindow(listing, window);
  const examples = q.examples.map((key) => {
    let body: string | undefined;
    try {
      body = readFileSync(path.join(data, key), 'utf8');
    } catch {
      body = undefined;
    }
    return quarantineExample(key, QUARANTINE_PREFIX, body);
  });
  return { inWindow: q.inWindow, truncated: false, newest: q.newestUs === undefined ? undefined : isoFromUs(q.newestUs), examples, prefix: root + path.sep };
}

/** Whether the window holds any profile, GC cycle or runtime/metrics snapshot (of the service, if one is given). */
async function windowHasData(data: string, service: string | undefined, from: number, to: number): Promise<boolean> {
  return withEngine(data, { service, fromUs: from, toUs: to }, async (e) => {
    const params: Record<string, string | bigint> = { from_us: BigInt(from), to_us: BigInt(to), from_dt: utcDate(from), to_dt: utcDate(to - 1) };
    let w = 'dt >= $from_dt AND dt <= $to_dt AND time >= make_timestamp($from_us::BIGINT) AND time < make_timestamp($to_us::BIGINT)';
    if (service !== undefined) {
      w += ' AND service = $service';
      params.service = service;
    }
    const any = (t: string) => `(SELECT count(*) FROM (SELECT 1 FROM ${t} WHERE ${w} LIMIT 1))`;
    const rows = await e.rows(`SELECT ${any('profiles')} + ${any('gc_cycles')} + ${any('runtime_metrics')} AS n`, params);
    return Number(rows[0]?.n ?? 0) > 0;
  });
}

export async function runDigest(o: DigestOptions): Promise<number> {
  if (o.email && (!o.fromAddr || !o.mailTo || o.mailTo.length === 0)) throw new CliError('--email needs --from-addr and --mail-to');
  if (o.to !== undefined && o.now !== undefined && o.to !== o.now) throw new CliError('--now is the old name of --to: give one');
  let windowUs: number;
  let baselineUs: number;
  try {
    windowUs = durationFlag('--window', o.window);
    baselineUs = durationFlag('--baseline', o.baseline);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const q = {
    nowUs: o.to ?? o.now ?? Date.now() * 1000,
    windowUs,
    baselineUs,
    service: o.service,
    dataDir: o.data,
    engineFor: (service: string, r: { fromUs: number; toUs: number }) => openLocalEngine(o.data, { service, fromUs: r.fromUs, toUs: r.toUs }),
  };
  const { window, baseline } = digestSpans(q);
  const ingest = await cliIngestSignals(o, window);
  const ingestFailing = (ingest.quarantined?.inWindow ?? 0) > 0 || (ingest.dlq?.messages ?? 0) > 0;
  // A window without data has nothing to compare: that is not "all quiet". When ingestion is
  // failing, the digest says so (health findings first) instead of only "no data".
  if (!ingestFailing && !(await windowHasData(o.data, o.service, window.fromUs, window.toUs))) {
    throw noMatch('profiles, GC cycles or runtime/metrics', o.data, { '--service': o.service, '--from': window.fromUs, '--to': window.toUs });
  }
  const d = await withEngine(o.data, withLookback({ service: o.service, fromUs: baseline.fromUs, toUs: window.toUs }), (engine) => digest(engine, { ...q, ingest }));
  if (o.html) await writeOutput(o.html, renderDigestHtml(d));
  if (o.archive) {
    const dir = path.join(o.data, archivePrefix(d));
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'digest.json'), exactJson(digestJson(d), 2) + '\n');
    writeFileSync(path.join(dir, 'digest.html'), renderDigestHtml(d));
    process.stderr.write(`fleetprof digest: archived in ${dir}\n`);
  }
  if (o.email || o.eml) await mailDigest(o, d, window, (service, r) => openLocalEngine(o.data, { service, fromUs: r.fromUs, toUs: r.toUs }));
  if (o.json) process.stdout.write(exactJson(digestJson(d)) + '\n');
  else if (!o.html) process.stdout.write(digestText(d));
  else process.stderr.write(`fleetprof digest: ${d.message} -> ${o.html === '-' ? 'stdout' : o.html}\n`);
  return 0;
}

async function mailDigest(o: DigestOptions, d: DigestResult, window: Span, engineFor: (service: string, r: Span) => Promise<QueryEngine>): Promise<void> {
  const profiles = await exportAnomalyProfiles(d, window, engineFor);
  const { attachments, links } = splitAttachments(profiles, o.maxAttachBytes ?? DEFAULT_MAX_ATTACH_BYTES, () => undefined);
  const email = buildDigestEmail(d, { from: o.fromAddr ?? 'fleetprof@localhost', to: o.mailTo && o.mailTo.length > 0 ? o.mailTo : ['nobody@localhost'], attachments, links });
  if (o.eml) writeFileSync(o.eml, email.raw);
  if (!o.email) return;
  if (d.quiet && o.skipQuiet) {
    process.stderr.write('fleetprof digest: all quiet, mail skipped (--skip-quiet)\n');
    return;
  }
  // SES only when mailing: the digest itself needs nothing of lib/aws.
  const { makeSesClient } = await import('../../lib/aws/clients');
  const { sendRawEmail } = await import('../../lib/aws/ses');
  const ses = makeSesClient();
  try {
    const id = await sendRawEmail(ses, email, o.fromAddr!, o.mailTo!);
    process.stderr.write(`fleetprof digest: mailed "${email.subject}" to ${o.mailTo!.join(', ')} (${id ?? 'no message id'})\n`);
  } finally {
    ses.destroy();
  }
}
