import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { decodeProfile, formatOf, inflate } from '../../lib/decode';
import { containsGctrace } from '../../lib/decode/formats/gctrace';
import { isGzip } from '../../lib/decode/gunzip';
import { detectKind, kindFromPath } from '../../lib/decode/kind';
import { parseSourceMeta } from '../../lib/model/source';
import { UPLOAD_EXTENSIONS, UPLOAD_KINDS, uploadKey, uploadMetadata, uploadSourceMeta, type UploadExtension, type UploadKind } from '../../lib/model/upload-key';
import { expandPaths } from './ingest';
import { bucketOption, collectLabel, isoTime, positiveInt, resolveType, typeOptions } from './options';
import { progress } from './progress';
import { action, CliError, EXIT } from './run';
import { readStdin, STDIO } from './stdio';
import { findTwins } from './twins';
import { isDecodeError } from '../../lib/decode/errors';
import { expandUpload } from '../../lib/decode/inputs';

// Files -> objects named by the upload contract (docs/upload-contract.md). The ingest pipeline
// takes it from there. Keys end in a content hash, so uploading the same bytes again writes the
// same key (and the pipeline replaces, never duplicates).

export interface UploadOptions {
  bucket: string;
  service: string;
  instance: string;
  version: string;
  label: Record<string, string>;
  type?: UploadKind;
  /** Deprecated name of `type`. */
  kind?: UploadKind;
  keepTwins?: boolean;
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
  /** A bundle's members ingest would quarantine (`<member>: <reason>`): uploaded, but reported. */
  memberProblems?: string[];
  /** A bundle's notes that fail nothing (unlisted archive entries). */
  notes?: readonly string[];
}

/** A file the ingest Lambda would quarantine or refuse: not uploaded, reported. */
export class WouldQuarantine extends CliError {}

/**
 * Kind, capture start and key of one file (pure apart from the file's mtime). Throws
 * WouldQuarantine for what ingest would refuse: a profile that does not decode (goroutine
 * debug=2, say), a gctrace log without --start (its process start cannot be guessed).
 */
export function planUpload(file: string, bytes: Uint8Array, mtimeMs: number, o: UploadOptions): PlannedUpload {
  let kind: UploadKind | undefined = o.type ?? o.kind;
  let timeMs: number | undefined;
  // The same registry ingest routes by (lib/decode/registry.ts); bad gzip is left to the decoder's error.
  let raw: Uint8Array | null;
  try {
    raw = inflate(bytes);
  } catch {
    raw = null;
  }
  // A bundle is recognized by its content whatever the declared kind: its members say what they are.
  if (raw && formatOf(raw).input === 'bundle') return planBundle(file, bytes, mtimeMs, o);
  kind ??= raw ? formatOf(raw).uploadKind : undefined;
  const isProfile = kind === undefined || (kind !== 'gctrace' && kind !== 'metrics');
  if (isProfile) {
    try {
      const p = decodeProfile(raw ?? bytes);
      kind ??= detectKind(p, kindFromPath(file));
      if (p.timeNanos !== 0) timeMs = Number(BigInt(p.timeNanos) / 1_000_000n);
    } catch (e) {
      kind ??= raw && containsGctrace(raw) ? 'gctrace' : undefined;
      // A profile that does not decode is poison for the pipeline: say so here, upload nothing.
      if (kind !== 'gctrace') throw new WouldQuarantine(`not uploaded, ingest would quarantine it: ${(e as Error).message}`);
    }
  }
  if (kind === 'gctrace' && o.start === undefined) {
    // The @<s>s offsets count from the process start; a file's mtime is when logging stopped.
    throw new WouldQuarantine('not uploaded: a gctrace log needs its process start: pass --start');
  }
  const startMs = o.start !== undefined ? Math.floor(o.start / 1000) : (timeMs ?? Math.floor(mtimeMs));
  const ext = extensionOf(file, bytes, kind!);
  const tag = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  const key = uploadKey({ service: o.service, instance: o.instance, startMs, kind: kind!, ext, tag });
  return { file, key, kind: kind!, startMs, bytes };
}

/** A bundle: checked member by member as ingest will; its key's start is its earliest member's. */
function planBundle(file: string, bytes: Uint8Array, mtimeMs: number, o: UploadOptions): PlannedUpload {
  const meta = parseSourceMeta({ service: o.service, instance: o.instance, source: file, sourceId: file });
  let up;
  try {
    up = expandUpload(bytes, meta);
  } catch (e) {
    throw new WouldQuarantine(`not uploaded, ingest would quarantine it: ${(e as Error).message}`);
  }
  const memberProblems: string[] = [];
  let earliestUs = Infinity;
  for (const input of up.inputs) {
    if (input.member) earliestUs = Math.min(earliestUs, input.member.startUs);
    if (!input.ok) memberProblems.push(`${input.member.name}: ${(input.error as Error).message}`);
  }
  const startMs = o.start !== undefined ? Math.floor(o.start / 1000) : Number.isFinite(earliestUs) ? Math.floor(earliestUs / 1000) : Math.floor(mtimeMs);
  const tag = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  const ext: UploadExtension = isGzip(bytes) ? 'tar.gz' : 'tar';
  const key = uploadKey({ service: o.service, instance: o.instance, startMs, kind: 'bundle', ext, tag });
  return { file, key, kind: 'bundle', startMs, bytes, memberProblems, notes: up.notes };
}

function extensionOf(file: string, bytes: Uint8Array, kind: UploadKind): UploadExtension {
  const name = path.basename(file).toLowerCase();
  for (const e of UPLOAD_EXTENSIONS) if (name.endsWith('.' + e)) return e;
  const gz = isGzip(bytes);
  const base = kind === 'gctrace' ? 'log' : kind === 'metrics' ? 'json' : bytes.length > 0 && bytes[0] < 0x20 && !gz ? 'pb' : gz ? 'pb' : 'txt';
  return (gz ? `${base}.gz` : base) as UploadExtension;
}

export function register(program: Command): void {
  const cmd = program
    .command('upload')
    .description('upload profiles, gctrace logs and runtime/metrics snapshots to S3 under the upload contract (docs/upload-contract.md)')
    .addOption(bucketOption('S3 bucket (endpoint and credentials from the standard AWS chain, AWS_ENDPOINT_URL included)'))
    .requiredOption('--service <name>', 'service name')
    .requiredOption('--instance <id>', 'instance id')
    .option('--version <v>', 'service version', '')
    .option('--label <k=v>', 'upload label (repeatable)', collectLabel, {});
  typeOptions(cmd, 'kind of every file (default: from the content, else the file name)', UPLOAD_KINDS, false)
    .option('--start <time>', "capture start (default: the profile's own time, else the file mtime; gctrace logs: the process start, required)", isoTime)
    .option('--concurrency <n>', 'parallel uploads', positiveInt, 4)
    .option('--max-attempts <n>', 'attempts per request (SDK standard retry)', positiveInt, 5)
    .option('--keep-twins', 'upload both heap.pb.gz and heap.debug1.txt of a capture (default: the text twin is skipped)')
    .argument('<paths...>', 'files or directories; - reads one input from stdin')
    .action(action('upload', runUpload));
}

export async function runUpload(paths: string[], o: UploadOptions): Promise<number> {
  o = { ...o, type: resolveType(o, 'upload'), kind: undefined };
  try {
    parseSourceMeta({ service: o.service, instance: o.instance, version: o.version, labels: o.label, source: '-', sourceId: '-' });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  let files = await expandPaths(paths).catch((e: Error) => {
    throw e instanceof CliError ? e : new CliError(e.message);
  });
  if (files.length === 0) throw new CliError(`no files under ${paths.join(' ')}`);
  let skipped = 0;
  if (!o.keepTwins) {
    const twins = await findTwins(files.filter((f) => f !== STDIO));
    const drop = new Set(twins.map((t) => t.skipped));
    for (const t of twins) process.stderr.write(`${t.skipped}: skipped, the text twin of ${path.basename(t.kept)} (same kind and capture; --keep-twins uploads both)\n`);
    files = files.filter((f) => !drop.has(f));
    skipped = drop.size;
  }
  // The SDK's Node 20 end-of-support notice is not the user's upload problem.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // The AWS SDK is loaded only by the commands that talk to AWS (~0.5 s of start-up otherwise).
  const [{ PutObjectCommand }, { makeS3Client }] = await Promise.all([import('@aws-sdk/client-s3'), import('../../lib/aws/clients')]);
  const s3 = makeS3Client({ maxAttempts: o.maxAttempts });
  const metadata = uploadMetadata({ version: o.version, labels: o.label });
  const bar = progress('upload', files.length);
  const t0 = Date.now();
  let ok = 0;
  let failed = 0;
  let refused = 0;
  let badMembers = 0;
  let bytesOut = 0;
  const queue = [...files];
  const worker = async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      try {
        const [bytes, mtimeMs] = file === STDIO ? [await readStdin(), Date.now()] : await Promise.all([fs.readFile(file), fs.stat(file).then((st) => st.mtimeMs)]);
        const plan = planUpload(file === STDIO ? 'stdin' : file, bytes, mtimeMs, o);
        // The key must pass the same contract check the ingest Lambda applies.
        uploadSourceMeta({ bucket: o.bucket, key: plan.key, etag: 'check', metadata });
        await s3.send(new PutObjectCommand({ Bucket: o.bucket, Key: plan.key, Body: bytes, Metadata: metadata }));
        ok++;
        for (const n of plan.notes ?? []) bar.note(`${file}: note: ${n}`);
        for (const p of plan.memberProblems ?? []) bar.note(`${file}!${p} (uploaded with its bundle; ingest will quarantine this member)`);
        badMembers += plan.memberProblems?.length ?? 0;
        bytesOut += bytes.length;
        process.stdout.write(`s3://${o.bucket}/${plan.key}\n`);
      } catch (e) {
        failed++;
        if (e instanceof WouldQuarantine || isDecodeError(e)) refused++;
        bar.note(`${file}: ${(e as Error).message}`);
      }
      bar.update(ok + failed, path.basename(file));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 4) }, worker));
  } finally {
    bar.stop();
    s3.destroy();
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(2);
  const notes = [`${failed} failed`];
  if (refused > 0) notes.push(`${refused} of them refused: ingest would quarantine them`);
  if (badMembers > 0) notes.push(`${badMembers} bundle member(s) uploaded that ingest will quarantine`);
  if (skipped > 0) notes.push(`${skipped} text twin(s) skipped`);
  notes.push(`${bytesOut} bytes`);
  process.stderr.write(`uploaded ${ok} of ${files.length} files (${notes.join(', ')}) to s3://${o.bucket}/raw/${o.service}/${o.instance}/ in ${secs}s\n`);
  return failed === 0 && badMembers === 0 ? EXIT.ok : EXIT.failed;
}
