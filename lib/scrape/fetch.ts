// One profile request: GET with a deadline that covers the whole body, a size cap, and a failure
// reason short enough for one `<target> <profile>: <reason>` line.

export class ScrapeError extends Error {
  constructor(
    message: string,
    /** The stop signal fired (SIGINT/SIGTERM), not the target's fault. */
    readonly interrupted = false,
    /** Nothing listens at the target (connection refused): it may be restarting. */
    readonly refused = false,
  ) {
    super(message);
    this.name = 'ScrapeError';
  }
}

export interface FetchProfileOptions {
  /** Deadline for the whole request (connect, headers and body), ms. */
  readonly timeoutMs: number;
  /** Refuse a body larger than this (bytes). */
  readonly maxBytes: number;
  /** Aborts the request when the scraper is told to stop. */
  readonly signal?: AbortSignal;
}

const NET_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed by the server',
};

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

function reasonOf(e: unknown): string {
  const err = e as Error & { cause?: Error & { code?: string } };
  const cause = err?.cause;
  if (cause && typeof cause === 'object') {
    const what = (cause.code && NET_CODES[cause.code]) || undefined;
    return what ? `${what} (${cause.message})` : cause.message || err.message;
  }
  return err?.message ?? String(e);
}

export async function fetchProfile(url: string, o: FetchProfileOptions): Promise<Uint8Array> {
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([timeout, o.signal]) : timeout;
  const fail = (e: unknown): never => {
    if (o.signal?.aborted) throw new ScrapeError('interrupted', true);
    if (timeout.aborted) throw new ScrapeError(`timed out after ${seconds(o.timeoutMs)}`);
    if (e instanceof ScrapeError) throw e;
    const code = (e as { cause?: { code?: string } } | undefined)?.cause?.code;
    throw new ScrapeError(reasonOf(e), false, code === 'ECONNREFUSED');
  };
  try {
    const res = await fetch(url, { signal, redirect: 'follow', headers: { accept: 'application/octet-stream, */*' } });
    if (res.status !== 200) {
      let body = '';
      try {
        body = (await res.text()).trim().split('\n')[0].slice(0, 200);
      } catch {
        /* the status says enough */
      }
      throw new ScrapeError(`HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}${body ? ': ' + body : ''}`);
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > o.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new ScrapeError(`response of ${declared} bytes is over the ${o.maxBytes}-byte limit`);
    }
    const chunks: Uint8Array[] = [];
    let n = 0;
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        n += chunk.length;
        if (n > o.maxBytes) throw new ScrapeError(`response is over the ${o.maxBytes}-byte limit`);
        chunks.push(chunk);
      }
    }
    if (n === 0) throw new ScrapeError('empty response');
    return Buffer.concat(chunks, n);
  } catch (e) {
    return fail(e);
  }
}
