import { writeFileSync } from 'node:fs';
import { digest, digestSpans, type DigestResult } from '../../lib/detect/digest';
import { exactJson } from '../../lib/query/json';
import { parseBucket } from '../../lib/query/gc';
import { renderDigestHtml } from '../../lib/render/digest-html';
import { openLocalEngine } from './local';

export interface DigestOptions {
  data: string;
  now?: number;
  window: string;
  baseline: string;
  service?: string;
  json?: boolean;
  html?: string;
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

/** The JSON contract: the documented fields of each anomaly, then the rest (additive). */
export function digestJson(d: DigestResult): unknown {
  return {
    window: d.window,
    baseline: d.baseline,
    services: d.services,
    quiet: d.quiet,
    message: d.message,
    anomalies: d.anomalies.map((a) => ({
      service: a.service,
      area: a.area,
      severity: a.severity,
      culprits: a.culprits,
      summary: a.summary,
      evidence: a.evidence,
      versions: a.versions,
      explanation: a.explanation,
      nextStep: a.nextStep,
      functions: a.functions,
    })),
  };
}

export async function runDigest(o: DigestOptions): Promise<number> {
  let windowUs: number;
  let baselineUs: number;
  try {
    windowUs = parseBucket(o.window);
    baselineUs = parseBucket(o.baseline);
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
