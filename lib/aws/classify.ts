import { isDecodeError } from '../decode/errors';
import { isUploadContractError } from '../model/upload-key';

// Poison or transient: what the ingest Lambda does with a failed object. Poison (the bytes or the
// key are bad; retrying can never help) is quarantined and acknowledged. Transient (throttling,
// 5xx, timeouts, network) goes back to SQS through batchItemFailures.
//
// The line is drawn by where the failure happened, not by recognizing every message: while the
// object's bytes are decoded, normalized and written to local Parquet, nothing but the bytes is
// involved, so whatever fails there (a DecodeError, and equally DuckDB refusing a value, a
// RangeError from a string or stack the input made too big) is poison: retrying the same bytes
// fails the same way, and the DLQ would only collect them. The exceptions are failures of the
// machine itself (disk full, out of file descriptors). Failures talking to S3 (fetching the
// object, publishing files) are transient unless recognized as the object's fault; an
// unrecognized one is retried and ends in the DLQ, where a human looks at it.

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

/** Where a failure happened: `input` = decoding/normalizing/writing the bytes locally; `io` = S3. */
export type FailurePhase = 'input' | 'io';

export function classifyFailure(e: unknown, phase: FailurePhase = 'io'): FailureClass {
  if (isDecodeError(e) || isUploadContractError(e) || e instanceof ObjectTooLargeError) return 'poison';
  if (phase === 'input' && !isLocalResourceFailure(e)) return 'poison';
  return 'transient';
}

const LOCAL_RESOURCE_CODES = new Set(['ENOSPC', 'EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN', 'EIO']);

/** The machine, not the input: full disk, no file descriptors (another container may be fine). */
export function isLocalResourceFailure(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  if (!err || typeof err !== 'object') return false;
  if (err.code && LOCAL_RESOURCE_CODES.has(err.code)) return true;
  return typeof err.message === 'string' && /No space left on device|Too many open files/i.test(err.message);
}

/**
 * A failure the input caused, as a reason for the quarantine record and the log: what went wrong
 * in words, without DuckDB's SQL context, internal names or temp paths (the reason is stored next
 * to the object and shown to whoever uploaded it).
 */
export function poisonReason(e: unknown): { code: string; reason: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const msg = err.message ?? '';
  if (isDecodeError(e)) return { code: e.code, reason: clip(msg, 1000) };
  if (isUploadContractError(e)) return { code: 'contract', reason: clip(msg, 1000) };
  if (e instanceof ObjectTooLargeError) return { code: 'too-large', reason: msg };
  if (/Maximum call stack size exceeded/.test(msg)) {
    return { code: 'too-deep', reason: 'the input nests too deeply to process (maximum call stack size exceeded)' };
  }
  if (err instanceof RangeError || /Invalid string length|Invalid array length|Array buffer allocation failed|Cannot create a string longer/.test(msg)) {
    return { code: 'too-large', reason: `the input makes a value too large to process (${clip(scrub(msg), 120)})` };
  }
  // DuckDB errors read "<Type> Error: <what>\n<SQL context>"; keep the type and the first line.
  const duck = /^([A-Z][A-Za-z ]*) Error: ([^\n]*)/.exec(msg);
  if (duck) {
    const what = duck[2].replace(/\s*(?:LINE \d+:|when reading|while reading|in file|at file).*$/i, '');
    const kind = duck[1] === 'Out of Memory' ? 'too-large' : 'unprocessable';
    return { code: kind, reason: `a value of the input cannot be stored (${duck[1].toLowerCase()} error: ${clip(scrub(what))})` };
  }
  return { code: 'unprocessable', reason: `the input could not be processed (${err.name}: ${clip(scrub(msg))})` };
}

/** Absolute paths (temp files, the scratch directory) and SQL context out of a message. */
function scrub(s: string): string {
  return s
    .split('\n')[0]
    .replace(/(?<![\w.@-])(?:[A-Za-z]:)?[\\/](?:[^\s'"\\/:]+[\\/])+[^\s'"\\/:]*/g, '<file>')
    .trim();
}

function clip(s: string, n = 300): string {
  return s.length > n ? s.slice(0, n) + '…' : s;
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
