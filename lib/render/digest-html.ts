import type { DigestResult } from '../detect/digest';
import type { HealthFinding } from '../detect/health';
import type { Anomaly, AnomalyFunction, AnomalySeries } from '../detect/finding';
import { formatMeasure, formatValue } from '../model/units';
import { esc } from './html';

// The digest as one self-contained HTML page: inline CSS and hand-written SVG, no scripts, no
// external resources, so it can be mailed or archived as is.

const SEV_COLOR = { high: '#c62828', medium: '#ef6c00', low: '#827717' } as const;

/** Up to `n` round tick values from 0 (or lo) to hi. */
function ticks(lo: number, hi: number, n = 4): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

/** An axis unit in words for the axis title ("bytes", "share of the total", "ns/s"...). */
function unitWords(unit: string | undefined): string {
  const u = (unit ?? '').split(' ')[0];
  return u === 'share' || u === 'fraction' ? 'share of the total, %' : u === 'nanoseconds' || u === 'ns' ? 'time' : u || 'value';
}

/** Horizontal bars: baseline (grey) and window (coloured) per function, with a value axis. */
export function functionBarsSvg(rows: AnomalyFunction[], measure: string | undefined): string {
  const top = rows.slice(0, 6);
  if (top.length === 0) return '';
  const max = Math.max(...top.flatMap((r) => [Math.abs(r.base), Math.abs(r.target)]), 1e-12);
  const W = 640;
  const labelW = 260;
  const barW = W - labelW - 90;
  const rowH = 30;
  const H = top.length * rowH + 58;
  const axisY = 18 + top.length * rowH + 4;
  const tv = ticks(0, max);
  const scale = Math.max(max, tv[tv.length - 1]);
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="baseline vs window per function" font-family="DejaVu Sans, sans-serif">`;
  s += `<rect x="${labelW}" y="2" width="10" height="8" fill="#9e9e9e"/><text x="${labelW + 14}" y="10" font-size="10">baseline</text>`;
  s += `<rect x="${labelW + 70}" y="2" width="10" height="8" fill="#1565c0"/><text x="${labelW + 84}" y="10" font-size="10">window</text>`;
  top.forEach((r, i) => {
    const y = 18 + i * rowH;
    const name = r.name.length > 40 ? '…' + r.name.slice(-39) : r.name;
    s += `<text x="${labelW - 6}" y="${y + 14}" font-size="11" text-anchor="end">${esc(name)}</text>`;
    const bw = (Math.abs(r.base) / scale) * barW;
    const tw = (Math.abs(r.target) / scale) * barW;
    s += `<rect x="${labelW}" y="${y + 2}" width="${bw.toFixed(1)}" height="10" fill="#9e9e9e"><title>baseline ${esc(formatMeasure(r.base, measure))}</title></rect>`;
    s += `<rect x="${labelW}" y="${y + 13}" width="${tw.toFixed(1)}" height="10" fill="#1565c0"><title>window ${esc(formatMeasure(r.target, measure))}</title></rect>`;
    s += `<text x="${labelW + Math.max(bw, tw) + 4}" y="${y + 22}" font-size="10">${esc(formatMeasure(r.target, measure))}</text>`;
  });
  s += `<line x1="${labelW}" y1="${axisY}" x2="${labelW + barW}" y2="${axisY}" stroke="#888"/>`;
  for (const v of tv) {
    const x = labelW + (v / scale) * barW;
    s += `<line x1="${x.toFixed(1)}" y1="${axisY}" x2="${x.toFixed(1)}" y2="${axisY + 4}" stroke="#888"/><text x="${x.toFixed(1)}" y="${axisY + 15}" font-size="9" text-anchor="middle">${esc(formatMeasure(v, measure))}</text>`;
  }
  s += `<text x="${labelW + barW / 2}" y="${axisY + 29}" font-size="10" text-anchor="middle">${esc(measure ?? '')} (${esc(unitWords(measure))})</text>`;
  return s + '</svg>';
}

/** Dot strip of one metric on a value axis: each baseline replicate a grey dot, each window one a red diamond. */
export function seriesSvg(se: AnomalySeries): string {
  const vals = [...se.base, ...se.target];
  const lo = Math.min(0, ...vals);
  const tv = ticks(lo, Math.max(...vals) * 1.05 || 1);
  const hi = Math.max(tv[tv.length - 1], Math.max(...vals) * 1.05) || 1;
  const W = 640;
  const H = 82;
  const x = (v: number) => 20 + ((v - lo) / (hi - lo)) * (W - 40);
  const what = se.replicate === 'instance' ? 'instances' : 'time buckets';
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(se.metric)}" font-family="DejaVu Sans, sans-serif">`;
  s += `<text x="20" y="12" font-size="11">${esc(se.metric)}: baseline ${what} (grey dots) vs window ${what} (red)</text>`;
  s += `<line x1="20" y1="44" x2="${W - 20}" y2="44" stroke="#888"/>`;
  for (const v of tv) {
    const cx = x(v);
    s += `<line x1="${cx.toFixed(1)}" y1="44" x2="${cx.toFixed(1)}" y2="48" stroke="#888"/><text x="${cx.toFixed(1)}" y="60" font-size="9" text-anchor="middle">${esc(formatValue(v, se.unit))}</text>`;
  }
  s += `<text x="${W / 2}" y="76" font-size="10" text-anchor="middle">${esc(unitWords(se.unit))}</text>`;
  for (const v of se.base) s += `<circle cx="${x(v).toFixed(1)}" cy="34" r="4" fill="#9e9e9e" fill-opacity="0.7"><title>${esc(formatValue(v, se.unit))}</title></circle>`;
  for (const v of se.target) {
    const cx = x(v);
    s += `<path d="M${cx.toFixed(1)} 26 L${(cx + 7).toFixed(1)} 34 L${cx.toFixed(1)} 42 L${(cx - 7).toFixed(1)} 34 Z" fill="#c62828"><title>window ${esc(formatValue(v, se.unit))}</title></path>`;
  }
  return s + '</svg>';
}

function functionTable(rows: AnomalyFunction[], measure: string | undefined): string {
  if (rows.length === 0) return '';
  let t = `<table><thead><tr><th>function</th><th>baseline</th><th>window</th><th>change</th><th>p</th></tr></thead><tbody>`;
  for (const r of rows) {
    t += `<tr${r.significant ? ' class="sig"' : ''}><td><code>${esc(r.name)}</code></td><td>${esc(formatMeasure(r.base, measure))}</td><td>${esc(formatMeasure(r.target, measure))}</td>`;
    t += `<td>${r.delta >= 0 ? '+' : ''}${esc(formatMeasure(r.delta, measure))}</td><td>${r.p_value === null ? '-' : esc(r.p_value.toPrecision(2))}${r.significant ? ' *' : ''}</td></tr>`;
  }
  return t + '</tbody></table>';
}

function card(a: Anomaly, i: number, linkBase: string | undefined): string {
  const v = a.versions.base !== undefined || a.versions.target !== undefined ? `<span class="ver">versions ${esc(a.versions.base ?? '?')} → ${esc(a.versions.target ?? '?')}</span>` : '';
  let h = `<section class="card" id="a${i}"><h2><span class="sev" style="background:${SEV_COLOR[a.severity]}">${a.severity}</span> ${esc(a.service)} · ${esc(a.area)} ${v}</h2>`;
  h += `<p class="summary">${esc(a.summary)}</p>`;
  if (a.culprits.length > 0) h += `<p>Culprits: ${a.culprits.map((c) => `<code>${esc(c)}</code>`).join(', ')}</p>`;
  h += `<p>${esc(a.explanation)}</p><p class="next"><b>Next step:</b> ${esc(a.nextStep)}</p>`;
  if (a.related && a.related.length > 0) {
    h += `<p>Same cause, also seen as:</p><ul class="related">${a.related.map((r) => `<li>[${r.severity}] ${esc(r.area)}: ${esc(r.summary)}</li>`).join('')}</ul>`;
  }
  for (const se of a.series ?? []) h += `<div class="chart">${seriesSvg(se)}</div>`;
  if (a.functions && a.functions.length > 0) {
    h += `<div class="chart">${functionBarsSvg(a.functions.filter((f) => f.significant).concat(a.functions.filter((f) => !f.significant)), a.functionsMeasure)}</div>`;
    h += `<h3>Top functions (${esc(a.functionsMeasure ?? '')}; * = significant)</h3>` + functionTable(a.functions, a.functionsMeasure);
  }
  if (a.links && a.links.length > 0) {
    h += `<ul class="links">${a.links.map((l) => `<li>${linkBase ? `<a href="${esc(linkBase + l.apiPath)}">${esc(l.label)}</a>` : esc(l.label)}: <code>${esc(l.command)}</code></li>`).join('')}</ul>`;
  }
  h += `<details><summary>evidence</summary><pre>${esc(JSON.stringify(a.evidence, (_k, x) => (typeof x === 'bigint' ? Number(x) : x), 2))}</pre></details>`;
  return h + '</section>';
}

function healthCard(h: HealthFinding, i: number): string {
  let c = `<section class="card health" id="h${i}"><h2><span class="sev" style="background:${SEV_COLOR[h.severity]}">${h.severity}</span> ${esc(h.service ?? 'fleet')} · ${esc(h.id)}</h2>`;
  c += `<p class="summary">${esc(h.summary)}</p><p class="next"><b>Next step:</b> ${esc(h.nextStep)}</p>`;
  return c + '</section>';
}

export function renderDigestHtml(d: DigestResult): string {
  const css = `body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;max-width:920px;margin:24px auto;padding:0 16px;color:#212121}
h1{font-size:22px}h2{font-size:17px;margin:0 0 6px}h3{font-size:13px;margin:12px 0 4px;color:#555}
.card{border:1px solid #ddd;border-radius:8px;padding:14px 16px;margin:16px 0}.health{border-color:#c62828;background:#fff5f5}
.sev{color:#fff;border-radius:4px;padding:1px 7px;font-size:12px;text-transform:uppercase;vertical-align:middle}
.ver{font-size:12px;color:#666;font-weight:normal}.summary{font-weight:600}.next{background:#f5f7fa;padding:6px 8px;border-radius:4px}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eee}
tr.sig td{background:#fff8e1}code{font-size:12px}.quiet{font-size:18px;color:#2e7d32}pre{font-size:11px;overflow:auto}
ol.toc{padding-left:20px}.chart{margin:8px 0;overflow-x:auto}`;
  let body = `<h1>fleetprof digest</h1><p>Window <b>${esc(d.window.from)}</b> – <b>${esc(d.window.to)}</b>, compared with the baseline ${esc(d.baseline.from)} – ${esc(d.baseline.to)}; ${d.services.length} service(s).</p>`;
  if (d.dataFetch !== undefined) body += `<p>The suggested commands read a copy of the tables: <code>${esc(d.dataFetch)}</code></p>`;
  if (d.quiet) body += `<p class="quiet">✓ ${esc(d.message)}</p>`;
  else {
    body += `<p>${esc(d.message)}</p><ol class="toc">`;
    d.health.forEach((h, i) => (body += `<li><a href="#h${i}">[${h.severity}] ${esc(h.service ?? 'fleet')} · ${esc(h.id)}</a>: ${esc(h.summary)}</li>`));
    d.anomalies.forEach((a, i) => (body += `<li><a href="#a${i}">[${a.severity}] ${esc(a.service)} · ${esc(a.area)}</a>: ${esc(a.summary)}</li>`));
    body += '</ol>' + d.health.map(healthCard).join('\n') + d.anomalies.map((a, i) => card(a, i, d.linkBase)).join('\n');
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fleetprof digest ${esc(d.window.to)}</title><style>${css}</style></head><body>${body}</body></html>\n`;
}
