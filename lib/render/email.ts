import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { DigestResult } from '../detect/digest';
import type { Anomaly, AnomalyFunction } from '../detect/finding';
import { formatMeasure } from '../model/units';
import { esc } from './html';
import { renderDigestHtml } from './digest-html';

// The digest as an email: a MIME message (RFC 2045/2046/2387) with a plain-text and an HTML part.
// Mail clients do not render inline SVG (Gmail and Outlook drop it), so every chart of the HTML
// page is rasterized to PNG (resvg, a native renderer) and referenced by Content-ID
// (multipart/related). Exported profiles are attached (.pb.gz) or, past a size budget, linked.
//
//   multipart/mixed
//     multipart/related
//       multipart/alternative
//         text/plain
//         text/html
//       image/png (Content-ID, inline) x charts
//     application/gzip (attachment) x profiles

export interface EmailAttachment {
  filename: string;
  contentType: string;
  content: Uint8Array;
}

export interface EmailLink {
  label: string;
  url: string;
}

export interface DigestEmailOptions {
  from: string;
  to: string[];
  /** Attached files (exported profiles). */
  attachments?: EmailAttachment[];
  /** Links shown in both parts (profiles too big to attach, the archived digest). */
  links?: EmailLink[];
  /** Extra TTF/OTF files for the chart text (Lambda has no system fonts). */
  fontFiles?: string[];
  /** Message date (default now). */
  date?: Date;
}

export interface InlineImage {
  cid: string;
  filename: string;
  png: Uint8Array;
  width: number;
  height: number;
}

export interface DigestEmail {
  subject: string;
  text: string;
  html: string;
  images: InlineImage[];
  /** The whole RFC 5322 message, CRLF line ends, 7-bit clean. */
  raw: Buffer;
}

/** "fleetprof digest: 3 anomalies - checkout (cpu, high), sessions (memory, high)" or all quiet. */
export function digestSubject(d: DigestResult): string {
  if (d.health.length > 0) {
    const what = [...new Set(d.health.map((h) => h.id))].join(', ');
    const rest = d.anomalies.length > 0 ? ` and ${d.anomalies.length} anomal${d.anomalies.length === 1 ? 'y' : 'ies'}` : '';
    return `fleetprof digest: DATA PROBLEM - ${what}${rest} (window ending ${d.window.to.slice(0, 16)}Z)`;
  }
  if (d.quiet) return `fleetprof digest: all quiet (${d.services.length} service${d.services.length === 1 ? '' : 's'}, window ending ${d.window.to.slice(0, 16)}Z)`;
  const per = new Map<string, Anomaly[]>();
  for (const a of d.anomalies) per.set(a.service, [...(per.get(a.service) ?? []), a]);
  const parts = [...per].map(([svc, as]) => `${svc} (${[...new Set(as.map((a) => a.area))].join(', ')}; ${as[0].severity})`);
  let s = `fleetprof digest: ${d.anomalies.length} anomal${d.anomalies.length === 1 ? 'y' : 'ies'} - `;
  let shown = 0;
  for (const p of parts) {
    if (shown > 0 && s.length + p.length > 180) break;
    s += (shown > 0 ? ', ' : '') + p;
    shown++;
  }
  if (shown < parts.length) s += ` and ${parts.length - shown} more`;
  return s;
}

function textTable(rows: AnomalyFunction[], measure: string | undefined): string {
  const cells = rows.map((r) => [r.name + (r.significant ? ' *' : ''), formatMeasure(r.base, measure), formatMeasure(r.target, measure), (r.delta >= 0 ? '+' : '') + formatMeasure(r.delta, measure), r.p_value === null ? '-' : r.p_value.toPrecision(2)]);
  const head = ['function', 'baseline', 'window', 'change', 'p'];
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => '    ' + c.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  return [line(head), ...cells.map(line)].join('\n') + '\n';
}

/** The plain-text part: the CLI's text digest plus each anomaly's top-functions table. */
export function digestEmailText(d: DigestResult, links: EmailLink[] = []): string {
  let out = `fleetprof digest\nwindow ${d.window.from} - ${d.window.to} vs baseline ${d.baseline.from} - ${d.baseline.to}; ${d.services.length} service(s): ${d.services.join(', ')}\n\n${d.message}\n`;
  if (d.dataFetch !== undefined) out += `The suggested commands read a copy of the tables: ${d.dataFetch}\n`;
  for (const h of d.health) out += `\n! [${h.severity}] ${h.service ?? 'fleet'} ${h.id}: ${h.summary}\n  next: ${h.nextStep}\n`;
  d.anomalies.forEach((a, i) => {
    out += `\n${i + 1}. [${a.severity}] ${a.service} ${a.area}: ${a.summary}\n`;
    if (a.versions.base !== undefined || a.versions.target !== undefined) out += `  versions: ${a.versions.base ?? '?'} -> ${a.versions.target ?? '?'}\n`;
    if (a.culprits.length > 0) out += `  culprits: ${a.culprits.join(', ')}\n`;
    out += `  ${a.explanation}\n  next: ${a.nextStep}\n`;
    for (const r of a.related ?? []) out += `  same cause, also: [${r.severity}] ${r.area}: ${r.summary}\n`;
    for (const l of a.links ?? []) out += `  ${l.label}: ${d.linkBase ? d.linkBase + l.apiPath : l.command}\n`;
    if (a.functions && a.functions.length > 0) out += `  top functions (${a.functionsMeasure ?? ''}; * = significant):\n` + textTable(a.functions, a.functionsMeasure);
  });
  if (links.length > 0) out += '\n' + links.map((l) => `${l.label}: ${l.url}`).join('\n') + '\n';
  return out;
}

type ResvgModule = typeof import('@resvg/resvg-js');
let resvg: ResvgModule | undefined;

/**
 * The font shipped with fleetprof (assets/fonts/DejaVuSans.ttf, Bitstream Vera license: free to
 * redistribute; assets/fonts/LICENSE-DejaVu.txt), so PNG charts keep their text where the system
 * has no fonts (the Lambda image). Found from this module upwards: lib/render in the repository,
 * dist/lib/render in the package, next to the bundle in the Lambda.
 */
export function shippedFont(): string | undefined {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const f = path.join(dir, 'assets', 'fonts', 'DejaVuSans.ttf');
    if (existsSync(f)) return f;
    dir = path.dirname(dir);
  }
  return undefined;
}

/** SVG -> PNG at 2x (sharp on high-DPI screens), white background, the shipped font, `fontFiles` and system fonts. */
export function svgToPng(svg: string, extraFonts: string[] = []): { png: Uint8Array; width: number; height: number } {
  const shipped = shippedFont();
  const fontFiles = [...(shipped ? [shipped] : []), ...extraFonts];
  // Loaded on first use: a native module the rest of the library does not need.
  resvg ??= require('@resvg/resvg-js') as ResvgModule;
  const r = new resvg.Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: '#ffffff',
    font: { loadSystemFonts: true, fontFiles, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  const img = r.render();
  return { png: img.asPng(), width: img.width, height: img.height };
}

/** The HTML page with every inline <svg> replaced by an <img src="cid:..."> of its PNG. */
export function digestEmailHtml(d: DigestResult, o: { fontFiles?: string[]; links?: EmailLink[]; idSuffix?: string } = {}): { html: string; images: InlineImage[] } {
  const suffix = o.idSuffix ?? randomBytes(6).toString('hex');
  const images: InlineImage[] = [];
  let html = renderDigestHtml(d).replace(/<svg\b[^>]*>[\s\S]*?<\/svg>/g, (svg) => {
    const n = images.length + 1;
    const { png, width, height } = svgToPng(svg, o.fontFiles);
    const label = /aria-label="([^"]*)"/.exec(svg)?.[1] ?? 'chart';
    const cid = `chart${n}.${suffix}@fleetprof`;
    images.push({ cid, filename: `chart${n}.png`, png, width, height });
    // Displayed at the SVG's own size (the PNG is 2x).
    return `<img src="cid:${cid}" width="${Math.round(width / 2)}" height="${Math.round(height / 2)}" alt="${label}" style="display:block;max-width:100%;height:auto">`;
  });
  // <details> is not supported by most clients: show the evidence as a plain block.
  html = html.replace(/<details><summary>evidence<\/summary>/g, '<div class="evidence"><b>evidence</b>').replace(/<\/details>/g, '</div>');
  if (o.links && o.links.length > 0) {
    const list = o.links.map((l) => `<li>${esc(l.label)}: <a href="${esc(l.url)}">${esc(l.url)}</a></li>`).join('');
    html = html.replace('</body>', `<h3>Links</h3><ul>${list}</ul></body>`);
  }
  return { html, images };
}

// ---- MIME ------------------------------------------------------------------------------------

function b64Lines(b: Uint8Array | string): string {
  const s = Buffer.from(b).toString('base64');
  return (s.match(/.{1,76}/g) ?? []).join('\r\n');
}

/** RFC 2047 encoded-word for a header value that is not plain ASCII. */
export function encodeHeader(v: string): string {
  if (/^[\x20-\x7e]*$/.test(v)) return v;
  const words: string[] = [];
  let cur = '';
  for (const ch of v) {
    // Keep each encoded-word short (<= 75 chars) without splitting a character.
    if (Buffer.byteLength(cur + ch) > 42) {
      words.push(cur);
      cur = '';
    }
    cur += ch;
  }
  if (cur) words.push(cur);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\r\n ');
}

/** Folds an ASCII header longer than 78 characters at spaces. */
function fold(line: string): string {
  if (line.length <= 78 || line.includes('=?UTF-8?')) return line;
  const out: string[] = [];
  let cur = '';
  for (const word of line.split(' ')) {
    if (cur && cur.length + 1 + word.length > 76) {
      out.push(cur);
      cur = ' ' + word;
    } else cur = cur ? cur + ' ' + word : word;
  }
  out.push(cur);
  return out.join('\r\n');
}

function boundary(tag: string): string {
  return `=_fleetprof_${tag}_${randomBytes(9).toString('hex')}`;
}

function part(headers: string[], body: string): string {
  return headers.join('\r\n') + '\r\n\r\n' + body;
}

function multipart(type: string, parts: string[], extra = ''): { headers: string[]; body: string } {
  const b = boundary(type.split('/')[1]);
  return {
    headers: [`Content-Type: ${type}; boundary="${b}"${extra}`],
    body: parts.map((p) => `--${b}\r\n${p}\r\n`).join('') + `--${b}--`,
  };
}

function quoteFilename(name: string): string {
  return `"${name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"`;
}

/** Builds the whole digest email. Pure: no AWS calls (lib/aws/digest-job.ts sends it). */
export function buildDigestEmail(d: DigestResult, o: DigestEmailOptions): DigestEmail {
  const subject = digestSubject(d);
  const links = o.links ?? [];
  const text = digestEmailText(d, links);
  const { html, images } = digestEmailHtml(d, { fontFiles: o.fontFiles, links });

  const alternative = multipart('multipart/alternative', [
    part(['Content-Type: text/plain; charset=UTF-8', 'Content-Transfer-Encoding: base64'], b64Lines(text)),
    part(['Content-Type: text/html; charset=UTF-8', 'Content-Transfer-Encoding: base64'], b64Lines(html)),
  ]);
  let body = alternative;
  if (images.length > 0) {
    body = multipart(
      'multipart/related',
      [
        part(alternative.headers, alternative.body),
        ...images.map((im) =>
          part(
            [`Content-Type: image/png; name=${quoteFilename(im.filename)}`, 'Content-Transfer-Encoding: base64', `Content-ID: <${im.cid}>`, `Content-Disposition: inline; filename=${quoteFilename(im.filename)}`],
            b64Lines(im.png),
          ),
        ),
      ],
      '; type="multipart/alternative"',
    );
  }
  const attachments = o.attachments ?? [];
  if (attachments.length > 0) {
    body = multipart('multipart/mixed', [
      part(body.headers, body.body),
      ...attachments.map((a) =>
        part(
          [`Content-Type: ${a.contentType}; name=${quoteFilename(a.filename)}`, 'Content-Transfer-Encoding: base64', `Content-Disposition: attachment; filename=${quoteFilename(a.filename)}`],
          b64Lines(a.content),
        ),
      ),
    ]);
  }
  const date = o.date ?? new Date();
  const domain = /@([^>\s]+)/.exec(o.from)?.[1] ?? 'fleetprof';
  const headers = [
    `From: ${o.from}`,
    fold(`To: ${o.to.join(', ')}`),
    fold(`Subject: ${encodeHeader(subject)}`),
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <digest.${date.getTime()}.${randomBytes(6).toString('hex')}@${domain}>`,
    'MIME-Version: 1.0',
    ...body.headers,
  ];
  const raw = Buffer.from(headers.join('\r\n') + '\r\n\r\n' + body.body + '\r\n', 'utf8');
  return { subject, text, html, images, raw };
}
