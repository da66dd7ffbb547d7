import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpEventV2, HttpResultV2 } from '../aws/events';
import type { ApiRequest, ApiResponse } from './router';

// The router's request/response shapes to and from a Lambda Function URL event (payload 2.0)
// and node:http.

export function fromLambdaEvent(ev: HttpEventV2): ApiRequest {
  const body = ev.body === undefined ? undefined : ev.isBase64Encoded ? Buffer.from(ev.body, 'base64').toString('utf8') : ev.body;
  return { method: ev.requestContext?.http?.method ?? 'GET', path: ev.rawPath ?? '/', query: ev.rawQueryString ?? '', body };
}

export function toLambdaResult(r: ApiResponse): HttpResultV2 {
  if (typeof r.body === 'string') return { statusCode: r.status, headers: r.headers, body: r.body, isBase64Encoded: false };
  return { statusCode: r.status, headers: r.headers, body: Buffer.from(r.body).toString('base64'), isBase64Encoded: true };
}

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
