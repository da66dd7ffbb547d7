import { writeFileSync } from 'node:fs';
import { digest, digestJson, digestSpans, type DigestResult } from '../../lib/detect/digest';

export { digestJson };
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
