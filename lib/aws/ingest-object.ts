import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { FreshBatch, prepareUpload, prepareUploadSource, publishEntries, type IngestContext, type PreparedInput } from '../ingest';
import type { BatchLimits } from '../store/publish';
import { uploadSourceMeta, UPLOAD_PREFIX } from '../model/upload-key';
import type { Store } from '../store/store';
import { isNoSuchKey, stripEtag } from './s3-store';
import { classifyFailure, isKnownTransient, ObjectTooLargeError, poisonReason, type FailurePhase } from './classify';
import { isObjectCreated, parseS3Message, type S3ObjectEvent, type SQSBatchResponse, type SQSRecord } from './events';
import { quarantineMember, quarantineObject } from './quarantine';
import { readObjectBody, type ObjectBody } from './object-body';

// What the ingest Lambda does with an SQS batch, kept out of the handler so it is testable and the
// handler stays a few lines: per message, parse the S3 event, fetch the object, apply the upload
// contract, decode and normalize it (the core's prepareUpload: one input, or a bundle's members),
// and sort failures into poison (quarantine + ack) or transient (retry); then write the whole
// batch's rows as ONE file per table per UTC hour (lib/store/publish.ts FreshBatch), flushing early
// when the batch holds too many rows.

export interface IngestObjectDeps {
  s3: S3Client;
  /** The core's context for the bucket holding the tables (S3Store + ParquetWriter). */
  context: (bucket: string) => IngestContext;
  maxObjectBytes: number;
  maxDecompressedBytes?: number;
  log: (entry: Record<string, unknown>) => void;
  /** Each object's outcome as it happens (metrics); `retried` for a transient failure. */
  onOutcome?: (outcome: ObjectOutcome['status'] | 'retried', ms: number) => void;
  /** Rows a batch file holds before it is flushed early (memory bound); default DEFAULT_BATCH_LIMITS. */
  batchLimits?: BatchLimits;
  /** Messages fetched and decoded at once; default DEFAULT_FETCH_CONCURRENCY. */
  fetchConcurrency?: number;
  /**
   * Where large objects are spooled (lib/aws/object-body.ts); ingestSqsBatch sets a directory of
   * its own under the system temp directory and removes it once the batch is written.
   */
  spoolDir?: () => string;
  /** Objects and inputs up to this size are read whole (default WHOLE_BYTES; smaller in tests). */
  wholeBytes?: number;
}

/**
 * Messages whose objects are fetched at once. S3 answers a GET in ~10-30 ms of waiting,
 * not work: fetched one after another they were half of a batch's time (docs/performance.md). 8
 * keeps a batch of 10 nearly all in flight while bounding the objects held beside the batch
 * (each at most maxObjectBytes).
 */
export const DEFAULT_FETCH_CONCURRENCY = 8;

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

/** A fetched and decoded object whose rows wait in the batch. */
interface Ready {
  readonly ev: S3ObjectEvent;
  readonly etag: string;
  readonly container: 'bundle' | 'single';
  /** The inputs (a bundle's good members) whose rows go into the batch. */
  readonly inputs: readonly Extract<PreparedInput, { ok: true }>[];
  /** Bundle members already quarantined (each on its own). */
  readonly quarantined: MemberQuarantine[];
}

/**
 * Fetches and decodes one object (no table store access): its rows ready for the batch, or its
 * final outcome (skipped, quarantined). Throws on a transient failure.
 */
export async function prepareObject(deps: IngestObjectDeps, ev: S3ObjectEvent): Promise<Ready | ObjectOutcome> {
  const { s3 } = deps;
  if (!isObjectCreated(ev.eventName)) return { status: 'skipped', key: ev.key, reason: `event ${ev.eventName}` };
  if (!ev.key.startsWith(UPLOAD_PREFIX)) return { status: 'skipped', key: ev.key, reason: `not under ${UPLOAD_PREFIX}` };
  let etag = ev.etag;
  // 'input' while the bytes are decoded and normalized; S3 calls are 'io'.
  let phase: FailurePhase = 'io';
  try {
    // One GET: its response's ETag, metadata and length come with the bytes (the same version, so
    // the sourceId names exactly these bytes), and the body is read only once they pass. A HEAD
    // before it was a second round trip per object for the same answers.
    const obj = await s3.send(new GetObjectCommand({ Bucket: ev.bucket, Key: ev.key }));
    let body: ObjectBody;
    let meta: ReturnType<typeof uploadSourceMeta>;
    try {
      etag = stripEtag(obj.ETag ?? ev.etag ?? '');
      const size = obj.ContentLength ?? 0;
      if (size > deps.maxObjectBytes) throw new ObjectTooLargeError(size, deps.maxObjectBytes);
      meta = uploadSourceMeta({ bucket: ev.bucket, key: ev.key, etag, metadata: obj.Metadata });
      // Whole when small; a large object is streamed (spooled, a gzip bomb refused while it
      // arrives) and decoded from a source where its format can (lib/aws/object-body.ts).
      body = await readObjectBody(obj.Body as Parameters<typeof readObjectBody>[0], size, {
        maxObjectBytes: deps.maxObjectBytes,
        maxDecompressedBytes: deps.maxDecompressedBytes,
        spoolDir: deps.spoolDir ?? (() => os.tmpdir()),
        wholeBytes: deps.wholeBytes,
      });
    } catch (e) {
      (obj.Body as { destroy?: () => void } | undefined)?.destroy?.();
      throw e;
    }
    phase = 'input';
    const ctx = deps.context(ev.bucket);
    const decode = { ...ctx.decode, maxDecompressedBytes: deps.maxDecompressedBytes };
    const up =
      body.kind === 'bytes' ? prepareUpload(body.bytes, meta, decode) : (prepareUploadSource(body.source, meta, decode) ?? prepareUpload(body.stored(), meta, decode));
    phase = 'io';
    const at = new Date().toISOString();
    const quarantined: MemberQuarantine[] = [];
    for (const r of up.inputs) {
      if (r.ok) continue;
      if (classifyFailure(r.error, 'input') === 'transient') throw r.error; // the machine's, not the member's
      quarantined.push(await quarantineBundleMember(deps, ev, etag ?? '', r.member, r.bytes, r.error, at));
    }
    const inputs = up.inputs.filter((i): i is Extract<PreparedInput, { ok: true }> => i.ok);
    if (inputs.length === 0 && quarantined.length > 0) return allMembersQuarantined(ev, quarantined);
    return { ev, etag: etag ?? '', container: up.container, inputs, quarantined };
  } catch (e) {
    if (isNoSuchKey(e)) return { status: 'skipped', key: ev.key, reason: 'object no longer exists' };
    if (classifyFailure(e, phase) === 'transient') throw e;
    return quarantine(deps, ev, etag, e);
  }
}

async function quarantine(deps: IngestObjectDeps, ev: S3ObjectEvent, etag: string | undefined, e: unknown): Promise<ObjectOutcome> {
  const { code, reason } = poisonReason(e);
  const q = await quarantineObject(deps.s3, { bucket: ev.bucket, key: ev.key, etag, code, reason, at: new Date().toISOString() });
  return { status: 'quarantined', key: ev.key, code, reason, quarantineKey: q.copy };
}

async function quarantineBundleMember(deps: IngestObjectDeps, ev: S3ObjectEvent, etag: string, member: string, bytes: Uint8Array, e: unknown, at: string): Promise<MemberQuarantine> {
  const { code, reason } = poisonReason(e);
  const why = `bundle member "${member}": ${reason}`;
  const q = await quarantineMember(deps.s3, { bucket: ev.bucket, key: ev.key, etag, member, code, reason: why, at }, bytes);
  return { member, code, reason: why, quarantineKey: q.copy };
}

function allMembersQuarantined(ev: S3ObjectEvent, quarantined: MemberQuarantine[]): ObjectOutcome {
  const first = quarantined[0];
  const reason = quarantined.length === 1 ? first.reason : `all ${quarantined.length} members quarantined; first: ${first.reason}`;
  return { status: 'quarantined', key: ev.key, code: first.code, reason, quarantineKey: first.quarantineKey, quarantinedMembers: quarantined };
}

function isReady(x: Ready | ObjectOutcome): x is Ready {
  return 'inputs' in x;
}

function entriesOf(r: Ready) {
  return r.inputs.flatMap((i) => i.prepared.entries);
}

function ingestedOutcome(r: Ready, files: number): ObjectOutcome {
  const rows = r.inputs.reduce((s, i) => s + Object.values(i.prepared.result.rows).reduce<number>((a, n) => a + (n ?? 0), 0), 0);
  const input = r.container === 'bundle' ? 'bundle' : (r.inputs[0]?.prepared.result.input ?? 'bundle');
  if (r.container === 'single') return { status: 'ingested', key: r.ev.key, input, rows, files };
  return { status: 'ingested', key: r.ev.key, input, rows, files, members: r.inputs.length, ...(r.quarantined.length > 0 ? { quarantinedMembers: r.quarantined } : {}) };
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

/** The rows of a batch waiting to be written, with the messages they came from. */
interface Pending {
  readonly batch: FreshBatch;
  readonly ctx: IngestContext;
  items: { messageId: string; ready: Ready; t0: number }[];
}

/**
 * A whole SQS batch: objects fetched and decoded a few messages at a time (inOrder,
 * fetchConcurrency), consumed in message order, their rows written together (one DuckDB writer).
 * Powertools' batch processor (@aws-lambda-powertools/batch) was considered: it runs records one
 * by one through a handler, which is the per-object publishing this replaces, and would still need
 * this function's per-record body (test events, invalid bodies, several S3 records per message);
 * so it stays hand-written. Outcomes:
 * - poison object: quarantined, acknowledged; the rest of the batch is unaffected;
 * - transient failure fetching an object: only its message is retried (batchItemFailures), its
 *   rows never join the batch;
 * - transient failure writing the batch: every message whose rows were in it is retried (files a
 *   partial publish left are harmless: the retry's copy and they dedupe by profile_id);
 * - a batch file the writer refuses (a value of some object DuckDB rejects): the batch is written
 *   again object by object, so only the guilty object is quarantined.
 */
export async function ingestSqsBatch(deps: IngestObjectDeps, records: readonly SQSRecord[]): Promise<SQSBatchResponse> {
  // The batch's spool directory (large objects, lib/aws/object-body.ts): its files are read again
  // when the batch is written, so it lives as long as the batch, and goes with it.
  let dir: string | undefined;
  const spoolDir = () => (dir ??= mkdtempSync(path.join(deps.spoolDir?.() ?? os.tmpdir(), 'fleetprof-spool-')));
  try {
    return await ingestBatch({ ...deps, spoolDir }, records);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

async function ingestBatch(deps: IngestObjectDeps, records: readonly SQSRecord[]): Promise<SQSBatchResponse> {
  const failures = new Set<string>();
  const pending = new Map<string, Pending>();
  const retry = (messageId: string, key: string, e: unknown, t0: number) => {
    deps.onOutcome?.('retried', Date.now() - t0);
    deps.log({
      level: 'ERROR',
      msg: 'transient failure, will retry',
      messageId,
      key,
      error: (e as Error).name,
      reason: (e as Error).message,
      knownTransient: isKnownTransient(e),
    });
    failures.add(messageId);
  };
  const done = (messageId: string, bucket: string, out: ObjectOutcome, t0: number) => {
    deps.onOutcome?.(out.status, Date.now() - t0);
    deps.log({ level: out.status === 'quarantined' ? 'WARN' : 'INFO', msg: out.status, messageId, bucket, ...out, ms: Date.now() - t0 });
  };
  const flush = async (p: Pending) => {
    const items = p.items;
    p.items = [];
    if (items.length === 0) return;
    const live = items.filter((i) => !failures.has(i.messageId));
    const ioErrors = new WeakSet<object>();
    const target = { ...p.ctx, store: markFailures(p.ctx.store, ioErrors) };
    try {
      const b = new FreshBatch(target, { maxRows: Infinity });
      for (const i of live) b.add(entriesOf(i.ready));
      const keys = await b.publish();
      for (const i of live) done(i.messageId, i.ready.ev.bucket, ingestedOutcome(i.ready, keys.length), i.t0);
    } catch (e) {
      if (isIoFailure(e, ioErrors)) {
        for (const i of live) retry(i.messageId, i.ready.ev.key, e, i.t0);
        return;
      }
      // The writer refused the batch: find the object (or bundle member) it refuses.
      for (const i of live) {
        try {
          done(i.messageId, i.ready.ev.bucket, await publishAlone(deps, target, i.ready, ioErrors), i.t0);
        } catch (e2) {
          retry(i.messageId, i.ready.ev.key, e2, i.t0);
        }
      }
    }
  };

  // Messages are fetched and decoded up to `fetchConcurrency` at a time (their S3 GET round
  // trips overlap; decoding is synchronous, so one runs at a time), and consumed in order: each
  // message's outcome is still its own, and at most that many prepared messages wait beside the batch.
  const concurrency = Math.max(1, deps.fetchConcurrency ?? DEFAULT_FETCH_CONCURRENCY);
  const inBatch = new Set<string>();
  for await (const { rec, steps } of inOrder(records, concurrency, (rec) => prepareMessage(deps, rec))) {
    for (const s of steps) {
      if ('error' in s) {
        retry(rec.messageId, s.ev.key, s.error, s.t0);
        break;
      }
      const r = s.out;
      if (!isReady(r)) {
        done(rec.messageId, s.ev.bucket, r, s.t0);
        continue;
      }
      // S3 may notify the same PUT twice, and two PUTs of one key read the same bytes: a second
      // copy in THIS batch would land in the same file as the first, where the dedupe rule (per
      // file: lib/store/dedupe.ts) cannot tell them apart, so it is acknowledged and not added.
      const id = `${s.ev.bucket}/${s.ev.key}@${r.etag}`;
      if (inBatch.has(id)) {
        done(rec.messageId, s.ev.bucket, { status: 'skipped', key: s.ev.key, reason: 'the same object (key and ETag) is already in this batch; its rows are written once' }, s.t0);
        continue;
      }
      inBatch.add(id);
      let p = pending.get(s.ev.bucket);
      if (!p) {
        const ctx = deps.context(s.ev.bucket);
        pending.set(s.ev.bucket, (p = { ctx, batch: new FreshBatch(ctx, deps.batchLimits), items: [] }));
      }
      p.items.push({ messageId: rec.messageId, ready: r, t0: s.t0 });
      p.batch.add(entriesOf(r));
      if (p.batch.full) {
        // Early flush: the rows held so far get a file of their own; memory stays bounded.
        await flush(p);
        pending.delete(s.ev.bucket);
      }
    }
  }
  for (const p of pending.values()) await flush(p);
  return { batchItemFailures: [...failures].map((itemIdentifier) => ({ itemIdentifier })) };
}

/**
 * One object's rows on their own, after the writer refused a batch: a single input it refuses is
 * quarantined; a bundle's members are tried one by one and the refused ones quarantined alone.
 * Throws on a transient (store) failure.
 */
async function publishAlone(deps: IngestObjectDeps, target: IngestContext, r: Ready, ioErrors: WeakSet<object>): Promise<ObjectOutcome> {
  const poison = (e: unknown) => !isIoFailure(e, ioErrors) && classifyFailure(e, 'input') === 'poison';
  try {
    return ingestedOutcome(r, (await publishEntries(target, entriesOf(r))).length);
  } catch (e) {
    if (!poison(e)) throw e;
    if (r.container === 'single') return quarantine(deps, r.ev, r.etag, e);
  }
  const kept: Extract<PreparedInput, { ok: true }>[] = [];
  const quarantined = [...r.quarantined];
  let files = 0;
  for (const m of r.inputs) {
    try {
      files += (await publishEntries(target, m.prepared.entries)).length;
      kept.push(m);
    } catch (e) {
      if (!poison(e)) throw e;
      quarantined.push(await quarantineBundleMember(deps, r.ev, r.etag, m.member ?? '', m.bytes, e, new Date().toISOString()));
    }
  }
  if (kept.length === 0) return allMembersQuarantined(r.ev, quarantined);
  return ingestedOutcome({ ...r, inputs: kept, quarantined }, files);
}

function isIoFailure(e: unknown, marks: WeakSet<object>): boolean {
  return typeof e === 'object' && e !== null && marks.has(e);
}

/** One object of a message: prepared (or its final outcome), or the transient failure that retries the message. */
type Step = { readonly ev: S3ObjectEvent; readonly t0: number; readonly out: Ready | ObjectOutcome } | { readonly ev: S3ObjectEvent; readonly t0: number; readonly error: unknown };

/**
 * One SQS message's S3 objects, fetched and decoded one after another. A transient failure ends
 * the message (it is retried whole, so its later objects would be fetched for nothing).
 */
async function prepareMessage(deps: IngestObjectDeps, rec: SQSRecord): Promise<{ rec: SQSRecord; steps: Step[] }> {
  const parsed = parseS3Message(rec.body);
  if (parsed.kind === 'test-event') {
    deps.log({ level: 'INFO', msg: 'skipped s3:TestEvent', messageId: rec.messageId });
    return { rec, steps: [] };
  }
  if (parsed.kind === 'invalid') {
    // Nothing to quarantine (no object); retrying cannot fix the body.
    deps.log({ level: 'ERROR', msg: 'invalid message dropped', messageId: rec.messageId, reason: parsed.reason, body: rec.body.slice(0, 1024) });
    return { rec, steps: [] };
  }
  const steps: Step[] = [];
  for (const ev of parsed.records) {
    const t0 = Date.now();
    try {
      steps.push({ ev, t0, out: await prepareObject(deps, ev) });
    } catch (error) {
      steps.push({ ev, t0, error });
      break;
    }
  }
  return { rec, steps };
}

/**
 * `fn` over `items` with at most `limit` calls started and not yet consumed, results yielded in
 * the items' order. (p-limit and friends are ESM-only and unordered; this is the ten lines we need.)
 * A rejection reaches the consumer when it gets to that item (never unhandled before).
 */
export async function* inOrder<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const started: Promise<R>[] = [];
  let next = 0;
  const fill = (upTo: number) => {
    while (next < items.length && next < upTo) {
      const p = fn(items[next++]);
      p.catch(() => undefined);
      started.push(p);
    }
  };
  for (let i = 0; i < items.length; i++) {
    fill(i + limit);
    yield await started[i];
    delete started[i];
  }
}
