import type { IncomingMessage, ServerResponse } from 'node:http';
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

export function writeNodeResponse(res: ServerResponse, r: ApiResponse): void {
  res.writeHead(r.status, r.headers);
  res.end(typeof r.body === 'string' ? r.body : Buffer.from(r.body));
}
