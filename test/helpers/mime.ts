// A small MIME reader for tests (RFC 2045/2046): headers (unfolded, RFC 2047 words decoded),
// multipart bodies split on their boundary, base64 and quoted-printable bodies decoded.

export interface MimePart {
  headers: Map<string, string>;
  /** Lower-case media type, e.g. "text/html". */
  type: string;
  params: Record<string, string>;
  body: Buffer;
  parts: MimePart[];
}

function decodeWords(v: string): string {
  return v.replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=(\s+(?==\?))?/g, (_m, _cs, enc: string, data: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'),
  );
}

function parseParams(v: string): { value: string; params: Record<string, string> } {
  const [value, ...rest] = v.split(';');
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"|"$/g, '');
  }
  return { value: value.trim().toLowerCase(), params };
}

export function parseMime(raw: string | Buffer): MimePart {
  const s = Buffer.isBuffer(raw) ? raw.toString('latin1') : raw;
  const sep = s.search(/\r?\n\r?\n/);
  const head = sep < 0 ? s : s.slice(0, sep);
  const bodyText = sep < 0 ? '' : s.slice(sep).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const c = line.indexOf(':');
    if (c > 0) headers.set(line.slice(0, c).trim().toLowerCase(), decodeWords(line.slice(c + 1).trim()));
  }
  const ct = parseParams(headers.get('content-type') ?? 'text/plain');
  const enc = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  const part: MimePart = { headers, type: ct.value, params: ct.params, body: Buffer.alloc(0), parts: [] };
  if (ct.value.startsWith('multipart/')) {
    const b = ct.params.boundary;
    const chunks = bodyText.split(new RegExp(`\\r?\\n?--${b.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    // chunks[0] is the preamble; the last one starts with "--" (the close delimiter).
    for (const c of chunks.slice(1)) {
      if (c.startsWith('--')) break;
      part.parts.push(parseMime(Buffer.from(c.replace(/^[ \t]*\r?\n/, ''), 'latin1')));
    }
  } else if (enc === 'base64') part.body = Buffer.from(bodyText.replace(/\s+/g, ''), 'base64');
  else if (enc === 'quoted-printable') part.body = Buffer.from(bodyText.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  else part.body = Buffer.from(bodyText, 'latin1');
  return part;
}

/** Every leaf part, depth first. */
export function leaves(p: MimePart): MimePart[] {
  return p.parts.length === 0 ? [p] : p.parts.flatMap(leaves);
}
