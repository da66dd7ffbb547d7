// One error type for every way an input can be bad, so callers (CLI, ingest Lambda) can tell
// "this object is poison, quarantine it" from "something transient failed, retry".
export type DecodeErrorCode =
  | 'empty'
  | 'too-large'
  | 'bad-gzip'
  | 'malformed'
  | 'unsupported';

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
