// One error type for every way an input can be bad, so callers (CLI, ingest Lambda) can tell
// "this object is poison, quarantine it" from "something transient failed, retry".
export type DecodeErrorCode =
  | 'empty'
  | 'too-large'
  | 'bad-gzip'
  | 'malformed'
  | 'unsupported'
  /** A capture time outside the accepted range (lib/model/limits.ts). */
  | 'out-of-range'
  /** Over one of the per-input limits (lib/model/limits.ts): frames, samples, label sets, names. */
  | 'limit';

export class DecodeError extends Error {
  constructor(
    readonly code: DecodeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}

export function isDecodeError(e: unknown): e is DecodeError {
  return e instanceof DecodeError;
}

/** An input over one of the per-input limits (lib/model/limits.ts), in one wording everywhere. */
export function overLimit(what: string, n: number, limit: number): DecodeError {
  return new DecodeError('limit', `${what}: ${n.toLocaleString('en-US')} is over the limit of ${limit.toLocaleString('en-US')} (docs/upload-contract.md)`);
}
