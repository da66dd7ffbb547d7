import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ingestUpload, type IngestContext } from '../ingest';
import { uploadSourceMeta, UPLOAD_PREFIX } from '../model/upload-key';
import type { Store } from '../store/store';
import { isNoSuchKey, stripEtag } from './s3-store';
import { classifyFailure, isKnownTransient, ObjectTooLargeError, poisonReason, type FailurePhase } from './classify';
import { isObjectCreated, parseS3Message, type S3ObjectEvent, type SQSBatchResponse, type SQSRecord } from './events';
import { quarantineMember, quarantineObject } from './quarantine';

// What the ingest Lambda does per SQS message, kept out of the handler so it is testable and the
// handler stays a few lines: parse the S3 event, fetch the object, apply the upload contract, run
// the core's ingestUpload (one input, or a bundle's members), and sort failures into poison (quarantine + ack) or transient (retry).

export interface IngestObjectDeps {
  s3: S3Client;
  /** The core's context for the bucket holding the tables (S3Store + ParquetWriter). */
  context: (bucket: string) => IngestContext;
  maxObjectBytes: number;
  maxDecompressedBytes?: number;
  log: (entry: Record<string, unknown>) => void;
  /** Each object's outcome as it happens (metrics); `retried` for a transient failure. */
  onOutcome?: (outcome: ObjectOutcome['status'] | 'retried', ms: number) => void;
}

/** A bundle member quarantined while the rest of its bundle was ingested. */
export interface MemberQuarantine {
  member: string;
  code: string;
  reason: string;
  quarantineKey: string;
}

export type ObjectOutcome =
  | {
      status: 'ingested';
      key: string;
      /** The input kind, or 'bundle'. */
      input: string;
      rows: number;
      files: number;
      /** Bundles: members ingested, and the members quarantined (each on its own). */
      members?: number;
      quarantinedMembers?: MemberQuarantine[];
    }
  | { status: 'quarantined'; key: string; code: string; reason: string; quarantineKey: string; quarantinedMembers?: MemberQuarantine[] }
  | { status: 'skipped'; key: string; reason: string };

export async function ingestObject(deps: IngestObjectDeps, ev: S3ObjectEvent): Promise<ObjectOutcome> {
  const { s3 } = deps;
  if (!isObjectCreated(ev.eventName)) return { status: 'skipped', key: ev.key, reason: `event ${ev.eventName}` };
  if (!ev.key.startsWith(UPLOAD_PREFIX)) return { status: 'skipped', key: ev.key, reason: `not under ${UPLOAD_PREFIX}` };
  let etag = ev.etag;
  // 'input' while the bytes are decoded and written locally; store calls in that phase are 'io'.
  let phase: FailurePhase = 'io';
  const ioErrors = new WeakSet<object>();
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: ev.bucket, Key: ev.key }));
    etag = stripEtag(head.ETag ?? ev.etag ?? '');
    const meta = uploadSourceMeta({ bucket: ev.bucket, key: ev.key, etag, metadata: head.Metadata });
    const size = head.ContentLength ?? 0;
    if (size > deps.maxObjectBytes) throw new ObjectTooLargeError(size, deps.maxObjectBytes);
    // IfMatch: the bytes are exactly the version the sourceId names.
    const obj = await s3.send(new GetObjectCommand({ Bucket: ev.bucket, Key: ev.key, IfMatch: `"${etag}"` }));
    const bytes = await obj.Body!.transformToByteArray();
    const ctx = deps.context(ev.bucket);
    phase = 'input';
    const store = markFailures(ctx.store, ioErrors);
    const up = await ingestUpload(bytes, meta, { ...ctx, store, decode: { ...ctx.decode, maxDecompressedBytes: deps.maxDecompressedBytes } });
    let rows = 0;
    let files = 0;
    let ingested = 0;
    let input = 'bundle';
    const bad: Extract<(typeof up.inputs)[number], { ok: false }>[] = [];
    for (const r of up.inputs) {
      if (r.ok) {
        ingested++;
        input = up.container === 'bundle' ? 'bundle' : r.result.input;
        rows += Object.values(r.result.rows).reduce<number>((a, n) => a + (n ?? 0), 0);
        files += r.result.keys.length;
        continue;
      }
      // A member's failure talking to S3, or of the machine, is not the member's: retry the bundle
      // (redelivery replaces the members already published, never duplicates them).
      const failedIn: FailurePhase = typeof r.error === 'object' && r.error !== null && ioErrors.has(r.error) ? 'io' : 'input';
      if (classifyFailure(r.error, failedIn) === 'transient') throw r.error;
      bad.push(r);
    }
    if (up.container === 'single') return { status: 'ingested', key: ev.key, input, rows, files };
    const at = new Date().toISOString();
    const quarantined: MemberQuarantine[] = [];
    for (const r of bad) {
      const { code, reason } = poisonReason(r.error);
      const why = `bundle member "${r.member}": ${reason}`;
      const q = await quarantineMember(s3, { bucket: ev.bucket, key: ev.key, etag, member: r.member, code, reason: why, at }, r.bytes);
      quarantined.push({ member: r.member, code, reason: why, quarantineKey: q.copy });
    }
    if (ingested === 0 && quarantined.length > 0) {
      const first = quarantined[0];
      const reason = quarantined.length === 1 ? first.reason : `all ${quarantined.length} members quarantined; first: ${first.reason}`;
      return { status: 'quarantined', key: ev.key, code: first.code, reason, quarantineKey: first.quarantineKey, quarantinedMembers: quarantined };
    }
    return { status: 'ingested', key: ev.key, input, rows, files, members: ingested, ...(quarantined.length > 0 ? { quarantinedMembers: quarantined } : {}) };
  } catch (e) {
    if (isNoSuchKey(e)) return { status: 'skipped', key: ev.key, reason: 'object no longer exists' };
    const failedIn: FailurePhase = typeof e === 'object' && e !== null && ioErrors.has(e) ? 'io' : phase;
    if (classifyFailure(e, failedIn) === 'transient') throw e;
    const { code, reason } = poisonReason(e);
    const q = await quarantineObject(s3, { bucket: ev.bucket, key: ev.key, etag, code, reason, at: new Date().toISOString() });
    return { status: 'quarantined', key: ev.key, code, reason, quarantineKey: q.copy };
  }
}

/** The store with every error it throws remembered in `marks` (they are S3's, not the input's). */
function markFailures(store: Store, marks: WeakSet<object>): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const mark = (e: unknown) => {
          if (typeof e === 'object' && e !== null) marks.add(e);
          throw e;
        };
        try {
          const out = (v as (...a: unknown[]) => unknown).apply(target, args);
          return out instanceof Promise ? out.catch(mark) : out;
        } catch (e) {
          return mark(e);
        }
      };
    },
  });
}

/**
 * A whole SQS batch, one record at a time (one DuckDB writer). Powertools' batch processor
 * (@aws-lambda-powertools/batch) was considered: it runs records in parallel unless told not to,
 * throws on a full-batch failure unless told not to, and would still need this function's
 * per-record body (test events, invalid bodies, several S3 records per message); the loop below
 * is the part it would replace, so it stays hand-written. A record whose object failed
 * transiently is reported in batchItemFailures; everything else is acknowledged.
 */
export async function ingestSqsBatch(deps: IngestObjectDeps, records: readonly SQSRecord[]): Promise<SQSBatchResponse> {
  const failures: { itemIdentifier: string }[] = [];
  for (const rec of records) {
    const parsed = parseS3Message(rec.body);
    if (parsed.kind === 'test-event') {
      deps.log({ level: 'INFO', msg: 'skipped s3:TestEvent', messageId: rec.messageId });
      continue;
    }
    if (parsed.kind === 'invalid') {
      // Nothing to quarantine (no object); retrying cannot fix the body.
      deps.log({ level: 'ERROR', msg: 'invalid message dropped', messageId: rec.messageId, reason: parsed.reason, body: rec.body.slice(0, 1024) });
      continue;
    }
    for (const ev of parsed.records) {
      const t0 = Date.now();
      try {
        const out = await ingestObject(deps, ev);
        deps.onOutcome?.(out.status, Date.now() - t0);
        deps.log({ level: out.status === 'quarantined' ? 'WARN' : 'INFO', msg: out.status, messageId: rec.messageId, bucket: ev.bucket, ...out, ms: Date.now() - t0 });
      } catch (e) {
        deps.onOutcome?.('retried', Date.now() - t0);
        deps.log({
          level: 'ERROR',
          msg: 'transient failure, will retry',
          messageId: rec.messageId,
          key: ev.key,
          error: (e as Error).name,
          reason: (e as Error).message,
          knownTransient: isKnownTransient(e),
          receiveCount: rec.attributes?.ApproximateReceiveCount,
        });
        failures.push({ itemIdentifier: rec.messageId });
        break;
      }
    }
  }
  return { batchItemFailures: failures };
}
