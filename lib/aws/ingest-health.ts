import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Span } from '../detect/context';
import type { IngestSignals } from '../detect/health';
import { QUARANTINE_PREFIX } from '../model/upload-key';

// What the digest Lambda measures about ingestion before it says "all quiet" (lib/detect/health.ts):
// uploads quarantined during the window (quarantine/<key>.reason.json, written by
// lib/aws/quarantine.ts) and the ingest dead-letter queue's message count. The digest may list:
// quarantine/ holds only refused uploads (few, and expired by the bucket's lifecycle), never the
// data; the listing stops after MAX_LISTED keys and says so.

export const MAX_LISTED = 10_000;
const EXAMPLES = 3;

export function makeSqsClient(): SQSClient {
  return new SQSClient({ region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1', maxAttempts: 3 });
}

export async function quarantineSignal(s3: S3Client, bucket: string, window: Span): Promise<NonNullable<IngestSignals['quarantined']>> {
  let token: string | undefined;
  let listed = 0;
  let inWindow = 0;
  let newest: Date | undefined;
  const recent: string[] = [];
  let truncated = false;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: QUARANTINE_PREFIX, ContinuationToken: token }));
    for (const o of r.Contents ?? []) {
      listed++;
      if (!o.Key?.endsWith('.reason.json') || !o.LastModified) continue;
      const us = o.LastModified.getTime() * 1000;
      // Quarantined during the window, or since (a digest re-run later still sees them).
      if (us < window.fromUs) continue;
      inWindow++;
      if (!newest || o.LastModified > newest) newest = o.LastModified;
      if (recent.length < EXAMPLES) recent.push(o.Key);
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
    if (token && listed >= MAX_LISTED) {
      truncated = true;
      token = undefined;
    }
  } while (token);
  const examples: { key: string; reason: string }[] = [];
  for (const key of recent) {
    try {
      const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString();
      const j = JSON.parse(body ?? '{}') as { key?: string; reason?: string };
      examples.push({ key: j.key ?? key.slice(QUARANTINE_PREFIX.length, -'.reason.json'.length), reason: String(j.reason ?? '').slice(0, 300) });
    } catch {
      // An unreadable reason file still counts; the example just has none.
      examples.push({ key: key.slice(QUARANTINE_PREFIX.length, -'.reason.json'.length), reason: '(reason not readable)' });
    }
  }
  return { inWindow, truncated, newest: newest?.toISOString(), examples, prefix: `s3://${bucket}/${QUARANTINE_PREFIX}` };
}

export async function dlqSignal(sqs: SQSClient, queueUrl: string): Promise<NonNullable<IngestSignals['dlq']>> {
  const r = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  const a = r.Attributes ?? {};
  return { messages: Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0), queue: queueUrl };
}
