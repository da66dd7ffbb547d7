import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Span } from '../detect/context';
import { quarantineExample, quarantineInWindow, type IngestSignals, type QuarantineListing } from '../detect/health';
import { QUARANTINE_PREFIX } from '../model/upload-key';

// What the digest Lambda measures about ingestion before it says "all quiet" (lib/detect/health.ts):
// uploads quarantined during the window (quarantine/<key>.reason.json, written by
// lib/aws/quarantine.ts) and the ingest dead-letter queue's message count. The digest may list:
// quarantine/ holds only refused uploads (few, and expired by the bucket's lifecycle), never the
// data; the listing stops after MAX_LISTED keys and says so.

export const MAX_LISTED = 10_000;

export function makeSqsClient(): SQSClient {
  return new SQSClient({ region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1', maxAttempts: 3 });
}

export async function quarantineSignal(s3: S3Client, bucket: string, window: Span): Promise<NonNullable<IngestSignals['quarantined']>> {
  let token: string | undefined;
  const listing: QuarantineListing[] = [];
  let truncated = false;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: QUARANTINE_PREFIX, ContinuationToken: token }));
    for (const o of r.Contents ?? []) if (o.Key && o.LastModified) listing.push({ key: o.Key, modifiedUs: o.LastModified.getTime() * 1000 });
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
    if (token && listing.length >= MAX_LISTED) {
      truncated = true;
      token = undefined;
    }
  } while (token);
  const { inWindow, newestUs, examples: recent } = quarantineInWindow(listing, window);
  const examples: { key: string; reason: string }[] = [];
  for (const key of recent) {
    let body: string | undefined;
    try {
      body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString();
    } catch {
      body = undefined;
    }
    examples.push(quarantineExample(key, QUARANTINE_PREFIX, body));
  }
  return { inWindow, truncated, newest: newestUs === undefined ? undefined : new Date(newestUs / 1000).toISOString(), examples, prefix: `s3://${bucket}/${QUARANTINE_PREFIX}` };
}

export async function dlqSignal(sqs: SQSClient, queueUrl: string): Promise<NonNullable<IngestSignals['dlq']>> {
  const r = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  const a = r.Attributes ?? {};
  return { messages: Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0), queue: queueUrl };
}

/**
 * Quarantine and dead-letter queue, as the digest Lambda and `fleetprof digest --bucket` read them;
 * a signal that cannot be read is logged, not guessed.
 */
export async function readIngestSignals(
  o: { s3: S3Client; bucket: string; dlqUrl?: string; sqs?: SQSClient; log?: (entry: Record<string, unknown>) => void },
  window: Span,
): Promise<IngestSignals> {
  const out: IngestSignals = {};
  try {
    out.quarantined = await quarantineSignal(o.s3, o.bucket, window);
  } catch (e) {
    o.log?.({ level: 'WARN', msg: 'digest: cannot list the quarantine', error: (e as Error).name, reason: (e as Error).message });
  }
  if (o.dlqUrl) {
    const sqs = o.sqs ?? makeSqsClient();
    try {
      out.dlq = await dlqSignal(sqs, o.dlqUrl);
    } catch (e) {
      o.log?.({ level: 'WARN', msg: 'digest: cannot read the dead-letter queue', error: (e as Error).name, reason: (e as Error).message });
    } finally {
      if (!o.sqs) sqs.destroy();
    }
  }
  return out;
}
