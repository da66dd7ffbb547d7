import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { ApiRequest, ApiResponse } from './router';

// The router's request/response shapes to and from node:http (`fleetprof serve`, the local
// stack); the Lambda Function URL twin is lib/aws/function-url.ts.

export async function fromNodeRequest(req: IncomingMessage, maxBodyBytes = 1024 * 1024): Promise<ApiRequest> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > maxBodyBytes) break;
    chunks.push(c as Buffer);
  }
  return { method: req.method ?? 'GET', path: url.pathname, query: url.search.replace(/^\?/, ''), body: Buffer.concat(chunks).toString('utf8') };
}

/**
 * Writes the response; text bodies (JSON, HTML, the UI's script) of 8 KiB or more are gzipped when
 * the client accepts it (`acceptEncoding`): a 60k-node flame graph's JSON is ~4.6 MB, ~0.35 MB gzipped.
 */
export function writeNodeResponse(res: ServerResponse, r: ApiResponse, acceptEncoding?: string): void {
  const body = typeof r.body === 'string' ? Buffer.from(r.body) : Buffer.from(r.body);
  const text = /^(application\/json|text\/)/.test(r.headers['content-type'] ?? '');
  if (text && body.length >= 8192 && /\bgzip\b/.test(acceptEncoding ?? '')) {
    res.writeHead(r.status, { ...r.headers, 'content-encoding': 'gzip', vary: 'accept-encoding' });
    res.end(gzipSync(body, { level: 4 }));
    return;
  }
  res.writeHead(r.status, r.headers);
  res.end(body);
}
