import { isDecodeError } from '../decode/errors';
import { isUploadContractError } from '../model/upload-key';

// Poison or transient: what the ingest Lambda does with a failed object. Poison (the bytes or the
// key are bad; retrying can never help) is quarantined and acknowledged. Transient (throttling,
// 5xx, timeouts, network) goes back to SQS through batchItemFailures. Anything unrecognized is
// treated as transient: after maxReceiveCount receives the message lands in the DLQ, where a
// human looks at it, instead of an object being quarantined for a bug of ours.

export type FailureClass = 'poison' | 'transient';

/** The object is bigger than the ingest limit. */
export class ObjectTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`object is ${size} bytes, over the ${limit}-byte ingest limit`);
    this.name = 'ObjectTooLargeError';
  }
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'TransactionInProgressException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'LimitExceededException',
  'RequestThrottled',
  'SlowDown',
  'PriorRequestNotComplete',
  'EC2ThrottledException',
]);

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNABORTED']);

export function classifyFailure(e: unknown): FailureClass {
  if (isDecodeError(e) || isUploadContractError(e) || e instanceof ObjectTooLargeError) return 'poison';
  return 'transient';
}

/** Whether an error is a recognized transient failure (for logs; unknown errors are retried too). */
export function isKnownTransient(e: unknown, depth = 0): boolean {
  const err = e as { name?: string; code?: string; message?: string; cause?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (!err || typeof err !== 'object' || depth > 3) return false;
  if (err.cause && isKnownTransient(err.cause, depth + 1)) return true;
  // The SDK wraps network errors of body-less responses (HeadObject): "AWS SDK error wrapper for Error: connect ECONNREFUSED".
  if (typeof err.message === 'string' && /\b(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|socket hang up)\b/.test(err.message)) return true;
  if (err.$retryable) return true;
  if (err.name && (THROTTLING.has(err.name) || err.name === 'TimeoutError' || err.name === 'RequestTimeout' || err.name === 'AbortError')) return true;
  if (err.code && NETWORK_CODES.has(err.code)) return true;
  const status = err.$metadata?.httpStatusCode;
  return status !== undefined && (status >= 500 || status === 429);
}
