import { DecodeError, overLimit } from './errors';

// A strict, synchronous reader of POSIX ustar / GNU tar archives held in memory: the container of
// a bundle (lib/model/bundle.ts). Hand-written (~120 lines) because the npm tar readers do not fit
// a bounded, synchronous decoder: `tar`, `tar-stream` and `modern-tar` are stream/async APIs (the
// InputFormat contract is a synchronous decode over bytes already inflated within the size limit),
// and `nanotar`'s parseTar checks neither header checksums nor entry bounds and ignores a view's
// byteOffset. This one verifies every header checksum, refuses entries that run past the end and
// more entries than the caller allows, and returns members as views into the input (no copies).
//
// What it reads: regular files ('0', NUL), directories ('5', skipped), PAX extended headers
// ('x': its `path` names the next entry; 'g': skipped) and GNU long names ('L'), which GNU tar,
// bsdtar and Go's archive/tar write. Other entry types (links, devices) are returned as 'other' so
// the caller can name them; sizes in base-256 (files over 8 GiB) are refused.

export interface TarEntry {
  readonly name: string;
  readonly type: 'file' | 'other';
  /** The header's type flag, for messages about 'other' entries. */
  readonly typeflag: string;
  readonly data: Uint8Array;
}

const BLOCK = 512;
const decoder = new TextDecoder('utf-8', { fatal: false });

function field(h: Uint8Array, off: number, len: number): string {
  const f = h.subarray(off, off + len);
  const nul = f.indexOf(0);
  return decoder.decode(nul < 0 ? f : f.subarray(0, nul));
}

function octal(h: Uint8Array, off: number, len: number, what: string, at: number): number {
  if (h[off] & 0x80) throw new DecodeError('limit', `tar: entry at byte ${at}: ${what} in base-256 (over 8 GiB) is not accepted`);
  const s = field(h, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new DecodeError('malformed', `tar: entry at byte ${at}: ${what} "${s}" is not an octal number`);
  return parseInt(s, 8);
}

/** Whether a 512-byte block is a ustar/GNU header with a valid checksum (for sniffing too). */
export function isTarHeader(h: Uint8Array): boolean {
  if (h.length < BLOCK) return false;
  const magic = field(h, 257, 6);
  if (magic !== 'ustar' && magic !== 'ustar ') return false;
  return checksumOk(h);
}

function checksumOk(h: Uint8Array): boolean {
  const s = field(h, 148, 8).trim();
  if (!/^[0-7]+$/.test(s)) return false;
  const want = parseInt(s, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return want === unsigned || want === signed; // historic writers summed signed bytes
}

function isZeroBlock(h: Uint8Array): boolean {
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) return false;
  return true;
}

/** `path` from a PAX extended header's records (`<len> <key>=<value>\n`). */
function paxPath(data: Uint8Array, at: number): string | undefined {
  let path: string | undefined;
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(decoder.decode(data.subarray(i, sp)));
    if (!Number.isSafeInteger(len) || len <= sp - i || i + len > data.length) {
      throw new DecodeError('malformed', `tar: PAX header at byte ${at}: bad record length`);
    }
    const rec = decoder.decode(data.subarray(sp + 1, i + len - 1));
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    i += len;
  }
  return path;
}

/** Every entry of the archive, in order. Throws DecodeError for anything malformed or over limits. */
export function readTar(raw: Uint8Array, maxEntries: number): TarEntry[] {
  const out: TarEntry[] = [];
  for (const e of walk(raw, maxEntries)) out.push(e);
  return out;
}

function* walk(raw: Uint8Array, maxEntries: number): Generator<TarEntry> {
  let off = 0;
  let headers = 0;
  let entries = 0;
  let nextName: string | undefined;
  while (off + BLOCK <= raw.length) {
    const at = off;
    const h = raw.subarray(off, off + BLOCK);
    if (isZeroBlock(h)) return; // end of archive (two zero blocks; what follows is padding)
    if (!isTarHeader(h)) throw new DecodeError('malformed', `tar: no valid ustar header at byte ${off} (bad magic or checksum)`);
    if (++headers > maxEntries * 2 + 2) throw overLimit('tar: headers', headers, maxEntries * 2 + 2);
    const size = octal(h, 124, 12, 'size', off);
    const start = off + BLOCK;
    if (start + size > raw.length) {
      throw new DecodeError('malformed', `tar: entry at byte ${off} claims ${size} bytes but the archive ends ${raw.length - start} bytes later (truncated)`);
    }
    const data = raw.subarray(start, start + size);
    const flag = String.fromCharCode(h[156] || 0x30);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'x') {
      nextName = paxPath(data, at) ?? nextName;
      continue;
    }
    if (flag === 'L') {
      nextName = field(data, 0, data.length);
      continue;
    }
    if (flag === 'g' || flag === '5') continue;
    const prefix = field(h, 345, 155);
    const name = nextName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    nextName = undefined;
    if (++entries > maxEntries) throw overLimit('tar: entries', entries, maxEntries);
    yield { name: name.replace(/^(?:\.\/)+/, ''), type: flag === '0' ? 'file' : 'other', typeflag: flag, data };
  }
  if (off < raw.length) throw new DecodeError('malformed', `tar: ${raw.length - off} trailing bytes are not a whole header`);
}
