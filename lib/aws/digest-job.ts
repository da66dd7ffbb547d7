import { archivePrefix } from '../render/digest-archive';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { readIngestSignals } from './ingest-health';
import type { Span } from '../detect/context';
import { digest, digestJson, digestSpans, type DigestQuery, type DigestResult } from '../detect/digest';
import { exportAnomalyProfiles } from '../detect/digest-profiles';
import { parseDurationUs } from '../model/time';
import { exactJson } from '../query/json';
import { openEngine } from '../query/open';
import { withLookback } from '../query/window';
import { DEFAULT_MAX_ATTACH_BYTES, splitAttachments } from '../render/attachments';
import { buildDigestEmail } from '../render/email';
import { renderDigestHtml } from '../render/digest-html';
import type { DuckDbSettings } from '../store/parquet';
import type { S3Store } from './s3-store';
import { DIGEST_FUNCTION, ENV, PREFIXES } from './resources';
import { sendRawEmail } from './ses';

// The scheduled digest: every detector over the window ending now (tables read from S3 through the
// partition-pruned query path), the result archived under digests/<date>/<window end>/ and mailed
// with SES v2 as one raw MIME message (lib/render/email.ts). The assembly (detect, export the
// anomalies' profiles, attach or link) is the local digest's too; only S3, SES and the Lambda
// environment are here. lambdas/digest.ts is the thin handler.

export interface DigestJobConfig {
  bucket: string;
  from?: string;
  to: string[];
  windowUs: number;
  baselineUs: number;
  /** Mail an "all quiet" digest (true) or skip the mail (false); the archive is written either way. */
  sendQuiet: boolean;
  maxAttachBytes: number;
  configurationSet?: string;
  fontFiles: string[];
  /** The ingest dead-letter queue, whose messages are a finding of their own (lib/detect/health.ts). */
  dlqUrl?: string;
  /** Base URL the cards' flame graph and diff links point at (the HTTP API behind a proxy). */
  linkBase?: string;
}

function envBool(v: string | undefined, dflt: boolean, name: string): boolean {
  if (v === undefined || v === '') return dflt;
  if (/^(1|true|yes|on|send)$/i.test(v)) return true;
  if (/^(0|false|no|off|skip)$/i.test(v)) return false;
  throw new Error(`${name} must be true or false, got "${v}"`);
}

export function parseAddressList(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function envDuration(env: NodeJS.ProcessEnv, name: string, dflt: string): number {
  try {
    return parseDurationUs(env[name] || dflt);
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`, { cause: e });
  }
}

/** The job's settings from the Lambda environment (lib/aws/resources.ts ENV). */
export function digestConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DigestJobConfig {
  const bucket = env[ENV.bucket];
  if (!bucket) throw new Error(`${ENV.bucket} is not set`);
  const to = parseAddressList(env[ENV.digestTo]);
  const from = env[ENV.digestFrom] || undefined;
  if ((from === undefined) !== (to.length === 0)) throw new Error(`set both ${ENV.digestFrom} and ${ENV.digestTo} (or neither: archive only)`);
  const maxAttach = env[ENV.digestMaxAttachBytes];
  if (maxAttach !== undefined && maxAttach !== '' && !(Number.isInteger(Number(maxAttach)) && Number(maxAttach) >= 0)) {
    throw new Error(`${ENV.digestMaxAttachBytes} must be a non-negative integer, got "${maxAttach}"`);
  }
  return {
    bucket,
    from,
    to,
    windowUs: envDuration(env, ENV.digestWindow, DIGEST_FUNCTION.window),
    baselineUs: envDuration(env, ENV.digestBaseline, DIGEST_FUNCTION.baseline),
    sendQuiet: envBool(env[ENV.digestSendQuiet], true, ENV.digestSendQuiet),
    maxAttachBytes: maxAttach ? Number(maxAttach) : DEFAULT_MAX_ATTACH_BYTES,
    configurationSet: env[ENV.sesConfigurationSet] || undefined,
    fontFiles: parseAddressList(env[ENV.fontFiles]),
    dlqUrl: env[ENV.ingestDlqUrl] || undefined,
    linkBase: env[ENV.digestLinkBase] || undefined,
  };
}


export interface DigestJobDeps {
  s3: S3Client;
  ses: SESv2Client;
  /** For the dead-letter queue's attributes (made on demand when absent). */
  sqs?: SQSClient;
  store: S3Store;
  settings?: DuckDbSettings;
  log?: (o: Record<string, unknown>) => void;
}

export interface DigestJobResult {
  quiet: boolean;
  /** Data and ingest problems (ids), listed first in the mail. */
  health: string[];
  anomalies: number;
  services: string[];
  subject: string;
  sent: boolean;
  messageId?: string;
  archived: string[];
  attached: string[];
  linked: string[];
  ms: number;
}

/** Where the suggested commands expect a copy of the tables (the digest says how to make it). */
const SYNC_DIR = 'fleetprof-data';

/** Runs the digest for the window ending at `nowUs`, archives it and mails it. */
export async function runDigestJob(cfg: DigestJobConfig, deps: DigestJobDeps, nowUs: number = Date.now() * 1000): Promise<DigestJobResult> {
  const t0 = Date.now();
  const { store } = deps;
  const dirs = [store.cacheDir];
  const engineFor = (service: string, r: Span) => openEngine(store, { service, fromUs: r.fromUs, toUs: r.toUs }, dirs, deps.settings);
  const spans = digestSpans({ nowUs, windowUs: cfg.windowUs, baselineUs: cfg.baselineUs });
  const ingest = await readIngestSignals({ s3: deps.s3, bucket: cfg.bucket, dlqUrl: cfg.dlqUrl, sqs: deps.sqs, log: deps.log }, spans.window);
  const q: DigestQuery = { nowUs, windowUs: cfg.windowUs, baselineUs: cfg.baselineUs, engineFor, ingest, dataDir: SYNC_DIR, dataFetch: `aws s3 sync s3://${cfg.bucket}/${PREFIXES.tables} ${SYNC_DIR}`, linkBase: cfg.linkBase };
  const { window, baseline } = spans;
  // The shared engine only lists the services with data (the per-service engines do the work).
  const engine = await openEngine(store, withLookback({ fromUs: baseline.fromUs, toUs: window.toUs }), dirs, deps.settings);
  let d: DigestResult;
  try {
    d = await digest(engine, q);
  } finally {
    engine.close();
  }
  const profiles = await exportAnomalyProfiles(d, window, engineFor);

  const prefix = archivePrefix(d);
  const archived: string[] = [];
  const put = async (key: string, body: Uint8Array | string, contentType: string) => {
    await deps.s3.send(new PutObjectCommand({ Bucket: cfg.bucket, Key: prefix + key, Body: body, ContentType: contentType }));
    archived.push(prefix + key);
  };
  for (const p of profiles) await put(`profiles/${p.filename}`, p.bytes, 'application/gzip');
  const { attachments, links } = splitAttachments(profiles, cfg.maxAttachBytes, (p) => `s3://${cfg.bucket}/${prefix}profiles/${p.filename}`);
  links.push({ label: 'archived digest (JSON, HTML)', url: `s3://${cfg.bucket}/${prefix}` });
  await put('digest.json', exactJson(digestJson(d), 2) + '\n', 'application/json');
  await put('digest.html', renderDigestHtml(d), 'text/html; charset=utf-8');

  const send = cfg.from !== undefined && cfg.to.length > 0 && (!d.quiet || cfg.sendQuiet);
  const email = buildDigestEmail(d, { from: cfg.from ?? 'fleetprof@localhost', to: cfg.to.length > 0 ? cfg.to : ['nobody@localhost'], attachments, links, fontFiles: cfg.fontFiles });
  await put('digest.eml', email.raw, 'message/rfc822');
  let messageId: string | undefined;
  if (send) messageId = await sendRawEmail(deps.ses, email, cfg.from!, cfg.to, cfg.configurationSet);
  const result: DigestJobResult = {
    quiet: d.quiet,
    health: d.health.map((h) => (h.service ? `${h.id}:${h.service}` : h.id)),
    anomalies: d.anomalies.length,
    services: d.services,
    subject: email.subject,
    sent: send,
    messageId,
    archived,
    attached: attachments.map((a) => a.filename),
    linked: links.map((l) => l.url),
    ms: Date.now() - t0,
  };
  deps.log?.({ level: 'INFO', msg: send ? 'digest sent' : d.quiet && !cfg.sendQuiet ? 'digest quiet: mail skipped' : 'digest archived (no recipients)', ...result });
  return result;
}
