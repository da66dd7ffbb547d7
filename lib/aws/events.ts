// The Lambda event shapes this project handles (a subset of @types/aws-lambda, which is not a
// dependency), and the S3 event notification carried in an SQS message body.

export interface SQSRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: Record<string, string>;
  messageAttributes: Record<string, unknown>;
  md5OfBody: string;
  eventSource: string;
  eventSourceARN: string;
  awsRegion: string;
}

export interface SQSEvent {
  Records: SQSRecord[];
}

export interface SQSBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** Lambda Function URL / HTTP API payload format 2.0 (the fields used here). */
export interface HttpEventV2 {
  version?: string;
  rawPath: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: { http: { method: string; path?: string } };
}

export interface HttpResultV2 {
  statusCode: number;
  headers?: Record<string, string>;
  body: string;
  isBase64Encoded?: boolean;
}

/** One object an S3 event notification is about. Keys are already URL-decoded. */
export interface S3ObjectEvent {
  eventName: string;
  bucket: string;
  key: string;
  size?: number;
  etag?: string;
}

export type ParsedS3Message =
  | { kind: 'test-event' }
  | { kind: 'records'; records: S3ObjectEvent[] }
  | { kind: 'invalid'; reason: string };

/** S3 URL-encodes keys in notifications, with `+` for spaces (moto encodes `/` too). */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/**
 * The body of an SQS message from an S3 bucket notification. `s3:TestEvent` (sent when a
 * notification is configured) has no Records. Fields real S3 sends but moto does not
 * (sequencer, versionId, userIdentity) are not required.
 */
export function parseS3Message(body: string): ParsedS3Message {
  let msg: unknown;
  try {
    msg = JSON.parse(body);
  } catch {
    return { kind: 'invalid', reason: 'message body is not JSON' };
  }
  if (typeof msg !== 'object' || msg === null) return { kind: 'invalid', reason: 'message body is not a JSON object' };
  const m = msg as { Event?: string; Records?: unknown };
  if (m.Event === 's3:TestEvent') return { kind: 'test-event' };
  if (!Array.isArray(m.Records)) return { kind: 'invalid', reason: 'no Records in the message (not an S3 event notification)' };
  const records: S3ObjectEvent[] = [];
  for (const r of m.Records as unknown[]) {
    const rec = r as { eventName?: unknown; s3?: { bucket?: { name?: unknown }; object?: { key?: unknown; size?: unknown; eTag?: unknown } } };
    const bucket = rec.s3?.bucket?.name;
    const key = rec.s3?.object?.key;
    if (typeof bucket !== 'string' || typeof key !== 'string' || typeof rec.eventName !== 'string') {
      return { kind: 'invalid', reason: 'a record has no eventName, s3.bucket.name or s3.object.key' };
    }
    let decoded: string;
    try {
      decoded = decodeS3Key(key);
    } catch {
      return { kind: 'invalid', reason: `object key "${key}" is not valid URL encoding` };
    }
    records.push({
      eventName: rec.eventName,
      bucket,
      key: decoded,
      size: typeof rec.s3?.object?.size === 'number' ? rec.s3.object.size : undefined,
      etag: typeof rec.s3?.object?.eTag === 'string' ? rec.s3.object.eTag : undefined,
    });
  }
  return { kind: 'records', records };
}

/** Whether an event name is an object creation (`ObjectCreated:Put`, `s3:ObjectCreated:Copy`...). */
export function isObjectCreated(eventName: string): boolean {
  return /^(s3:)?ObjectCreated:/.test(eventName);
}

/** The fields of the Lambda runtime's context object that the handlers pass on (to the logger). */
export interface LambdaContext {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  getRemainingTimeInMillis(): number;
}
