import { gzipSync } from 'node:zlib';

// Bundles for tests (lib/model/bundle.ts): a minimal ustar writer, so hostile archives (bad
// checksums, truncation, odd entry types) can be made byte by byte. Good archives in the tests are
// also made with the system's `tar`, which is what a user would use.

export interface TarFile {
  name: string;
  data: Uint8Array | string;
  /** Type flag, default '0' (regular file). */
  type?: string;
  /** Corrupt the header checksum. */
  badChecksum?: boolean;
}

function header(name: string, size: number, type: string, badChecksum: boolean): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\x0000', 257);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  if (badChecksum) sum += 1;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

export function tar(files: TarFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const data = typeof f.data === 'string' ? Buffer.from(f.data) : Buffer.from(f.data);
    parts.push(header(f.name, data.length, f.type ?? '0', f.badChecksum ?? false), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface MemberSpec {
  name: string;
  kind: string;
  start: string;
  temporality?: string;
  process?: string;
  data: Uint8Array | string;
}

export function manifest(members: Omit<MemberSpec, 'data'>[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ format: 'fleetprof-bundle', version: 1, members, ...extra });
}

/** A gzipped bundle of the members, manifest first. */
export function bundle(members: MemberSpec[]): Buffer {
  const m = manifest(members.map(({ data: _data, ...rest }) => rest));
  return gzipSync(tar([{ name: 'manifest.json', data: m }, ...members.map((x) => ({ name: x.name, data: x.data }))]));
}
