import type { ApiRequest, ApiResponse } from '../api/router';
import type { HttpEventV2, HttpResultV2 } from './events';

// The router's request/response shapes to and from a Lambda Function URL event (payload 2.0); the
// node:http twin is lib/api/adapters.ts. Here, not in lib/api, so the API knows nothing of AWS.

export function fromLambdaEvent(ev: HttpEventV2): ApiRequest {
  const body = ev.body === undefined ? undefined : ev.isBase64Encoded ? Buffer.from(ev.body, 'base64').toString('utf8') : ev.body;
  return { method: ev.requestContext?.http?.method ?? 'GET', path: ev.rawPath ?? '/', query: ev.rawQueryString ?? '', body };
}

export function toLambdaResult(r: ApiResponse): HttpResultV2 {
  if (typeof r.body === 'string') return { statusCode: r.status, headers: r.headers, body: r.body, isBase64Encoded: false };
  return { statusCode: r.status, headers: r.headers, body: Buffer.from(r.body).toString('base64'), isBase64Encoded: true };
}
