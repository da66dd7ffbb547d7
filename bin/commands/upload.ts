import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SingleBar, Presets } from 'cli-progress';
import { decodeProfile, formatOf, inflate } from '../../lib/decode';
import { containsGctrace } from '../../lib/decode/formats/gctrace';
import { isGzip } from '../../lib/decode/gunzip';
import { detectKind, kindFromPath } from '../../lib/decode/kind';
import { makeS3Client } from '../../lib/aws/clients';
import { parseSourceMeta } from '../../lib/model/source';
import { UPLOAD_EXTENSIONS, uploadKey, uploadMetadata, uploadSourceMeta, type UploadExtension, type UploadKind } from '../../lib/model/upload-key';
import { expandPaths } from './ingest';

// Files -> objects named by the upload contract (docs/upload-contract.md). The ingest pipeline
// takes it from there. Keys end in a content hash, so uploading the same bytes again writes the
// same key (and the pipeline replaces, never duplicates).

export interface UploadOptions {
  bucket: string;
  service: string;
  instance: string;
  version: string;
  label: Record<string, string>;
  kind?: UploadKind;
  /** Epoch microseconds. */
  start?: number;
  concurrency?: number;
  maxAttempts?: number;
}

export interface PlannedUpload {
  file: string;
  key: string;
  kind: UploadKind;
  startMs: number;
  bytes: Uint8Array;
}

/** Kind, capture start and key of one file (pure apart from the file's mtime). */
export function planUpload(file: string, bytes: Uint8Array, mtimeMs: number, o: UploadOptions): PlannedUpload {
  let kind: UploadKind | undefined = o.kind;
  let timeMs: number | undefined;
  // The same registry ingest routes by (lib/decode/registry.ts); bad gzip is left to the decoder's error.
  let raw: Uint8Array | null = null;
  try {
    raw = inflate(bytes);
  } catch {
    raw = null;
  }
  kind ??= raw ? formatOf(raw).uploadKind : undefined;
  const isProfile = kind === undefined || (kind !== 'gctrace' && kind !== 'metrics');
  if (isProfile) {
    try {
      const p = decodeProfile(raw ?? bytes);
      kind ??= detectKind(p, kindFromPath(file));
      if (p.timeNanos !== 0) timeMs = Number(BigInt(p.timeNanos) / 1_000_000n);
    } catch (e) {
      kind ??= kindFromPath(file) ?? (raw && containsGctrace(raw) ? 'gctrace' : undefined);
      if (!kind) throw new Error(`cannot tell the kind (${(e as Error).message}); pass --kind`);
    }
  }
  const startMs = o.start !== undefined ? Math.floor(o.start / 1000) : (timeMs ?? Math.floor(mtimeMs));
  const ext = extensionOf(file, bytes, kind!);
  const tag = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  const key = uploadKey({ service: o.service, instance: o.instance, startMs, kind: kind!, ext, tag });
  return { file, key, kind: kind!, startMs, bytes };
}

function extensionOf(file: string, bytes: Uint8Array, kind: UploadKind): UploadExtension {
  const name = path.basename(file).toLowerCase();
  for (const e of UPLOAD_EXTENSIONS) if (name.endsWith('.' + e)) return e;
  const gz = isGzip(bytes);
  const base = kind === 'gctrace' ? 'log' : kind === 'metrics' ? 'json' : bytes.length > 0 && bytes[0] < 0x20 && !gz ? 'pb' : gz ? 'pb' : 'txt';
  return (gz ? `${base}.gz` : base) as UploadExtension;
}

export async function runUpload(paths: string[], o: UploadOptions): Promise<number> {
  try {
    parseSourceMeta({ service: o.service, instance: o.instance, version: o.version, labels: o.label, source: '-', sourceId: '-' });
  } catch (e) {
    process.stderr.write(`fleetprof upload: ${(e as Error).message}\n`);
    return 1;
  }
  const files = await expandPaths(paths).catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    return null;
  });
  if (!files) return 1;
  // The SDK's Node 20 end-of-support notice is not the user's upload problem.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const s3 = makeS3Client({ maxAttempts: o.maxAttempts });
  const metadata = uploadMetadata({ version: o.version, labels: o.label });
  const bar = process.stderr.isTTY ? new SingleBar({ format: 'upload [{bar}] {value}/{total} {file}', hideCursor: true }, Presets.shades_classic) : null;
  bar?.start(files.length, 0, { file: '' });
  const t0 = Date.now();
  let ok = 0;
  let failed = 0;
  let bytesOut = 0;
  const queue = [...files];
  const worker = async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      try {
        const [bytes, st] = await Promise.all([fs.readFile(file), fs.stat(file)]);
        const plan = planUpload(file, bytes, st.mtimeMs, o);
        // The key must pass the same contract check the ingest Lambda applies.
        uploadSourceMeta({ bucket: o.bucket, key: plan.key, etag: 'check', metadata });
        await s3.send(new PutObjectCommand({ Bucket: o.bucket, Key: plan.key, Body: bytes, Metadata: metadata }));
        ok++;
        bytesOut += bytes.length;
        process.stdout.write(`s3://${o.bucket}/${plan.key}\n`);
      } catch (e) {
        failed++;
        bar?.stop();
        process.stderr.write(`${file}: ${(e as Error).message}\n`);
        bar?.start(files.length, ok + failed, { file: '' });
      }
      bar?.update(ok + failed, { file: path.basename(file) });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 4) }, worker));
  } finally {
    bar?.stop();
    s3.destroy();
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(2);
  process.stderr.write(`uploaded ${ok} of ${files.length} files (${failed} failed, ${bytesOut} bytes) to s3://${o.bucket}/raw/${o.service}/${o.instance}/ in ${secs}s\n`);
  return failed === 0 ? 0 : 1;
}
