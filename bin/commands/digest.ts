import { writeFileSync } from 'node:fs';
import { digest, digestJson, digestSpans, type DigestResult } from '../../lib/detect/digest';

export { digestJson };
import { exactJson } from '../../lib/query/json';
import { parseDurationUs } from '../../lib/model/time';
import { renderDigestHtml } from '../../lib/render/digest-html';
import { openLocalEngine } from './local';
import type { Span } from '../../lib/detect/context';
import { exportAnomalyProfiles } from '../../lib/detect/digest-profiles';
import type { QueryEngine } from '../../lib/query/engine';
import { DEFAULT_MAX_ATTACH_BYTES, splitAttachments } from '../../lib/render/attachments';
import { buildDigestEmail } from '../../lib/render/email';

export interface DigestOptions {
  data: string;
  now?: number;
  window: string;
  baseline: string;
  service?: string;
  json?: boolean;
  html?: string;
  /** Mail the digest with SES v2 (standard credential/region chain, AWS_ENDPOINT_URL honoured). */
  email?: boolean;
  fromAddr?: string;
  to?: string[];
  /** With --email: no mail when the digest is all quiet. */
  skipQuiet?: boolean;
  /** Write the MIME message (.eml) to this file. */
  eml?: string;
  /** Largest total size of attached profiles, bytes. */
  maxAttachBytes?: number;
}

export function digestText(d: DigestResult): string {
  let out = `window ${d.window.from} - ${d.window.to} vs baseline ${d.baseline.from} - ${d.baseline.to}\n`;
  if (d.quiet) return out + d.message + '\n';
  out += d.message + '\n';
  for (const a of d.anomalies) {
    out += `\n[${a.severity}] ${a.service} ${a.area}: ${a.summary}\n`;
    if (a.culprits.length > 0) out += `  culprits: ${a.culprits.join(', ')}\n`;
    out += `  ${a.explanation}\n  next: ${a.nextStep}\n`;
  }
  return out;
}

function durationFlag(flag: string, v: string): number {
  try {
    return parseDurationUs(v);
  } catch (e) {
    throw new Error(`${flag}: ${(e as Error).message}`);
  }
}

export async function runDigest(o: DigestOptions): Promise<number> {
  if (o.email && (!o.fromAddr || !o.to || o.to.length === 0)) {
    process.stderr.write('fleetprof digest: --email needs --from-addr and --to\n');
    return 1;
  }
  let windowUs: number;
  let baselineUs: number;
  try {
    windowUs = durationFlag('--window', o.window);
    baselineUs = durationFlag('--baseline', o.baseline);
  } catch (e) {
    process.stderr.write(`fleetprof digest: ${(e as Error).message}\n`);
    return 1;
  }
  const q = {
    nowUs: o.now ?? Date.now() * 1000,
    windowUs,
    baselineUs,
    service: o.service,
    dataDir: o.data,
    engineFor: (service: string, r: { fromUs: number; toUs: number }) => openLocalEngine(o.data, { service, fromUs: r.fromUs, toUs: r.toUs }),
  };
  const { window, baseline } = digestSpans(q);
  const engine = await openLocalEngine(o.data, { service: o.service, fromUs: baseline.fromUs, toUs: window.toUs });
  try {
    const d = await digest(engine, q);
    if (o.html) writeFileSync(o.html, renderDigestHtml(d));
    if (o.email || o.eml) await mailDigest(o, d, window, (service, r) => openLocalEngine(o.data, { service, fromUs: r.fromUs, toUs: r.toUs }));
    if (o.json) process.stdout.write(exactJson(digestJson(d)) + '\n');
    else if (!o.html) process.stdout.write(digestText(d));
    else process.stderr.write(`fleetprof digest: ${d.message} -> ${o.html}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`fleetprof digest: ${(e as Error).message}\n`);
    return 1;
  } finally {
    engine.close();
  }
}

async function mailDigest(o: DigestOptions, d: DigestResult, window: Span, engineFor: (service: string, r: Span) => Promise<QueryEngine>): Promise<void> {
  const profiles = await exportAnomalyProfiles(d, window, engineFor);
  const { attachments, links } = splitAttachments(profiles, o.maxAttachBytes ?? DEFAULT_MAX_ATTACH_BYTES, () => undefined);
  const email = buildDigestEmail(d, { from: o.fromAddr ?? 'fleetprof@localhost', to: o.to && o.to.length > 0 ? o.to : ['nobody@localhost'], attachments, links });
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
    const id = await sendRawEmail(ses, email, o.fromAddr!, o.to!);
    process.stderr.write(`fleetprof digest: mailed "${email.subject}" to ${o.to!.join(', ')} (${id ?? 'no message id'})\n`);
  } finally {
    ses.destroy();
  }
}
