// Who may talk to fleetprof serve / fleetprof local (lib/api/http-guard.ts), decided from headers.
import { allowedHosts, checkHttpRequest, isLoopback } from '../lib/api/http-guard';

const loop = { bindAddress: '127.0.0.1', port: 8787 };

test('loopback: Host must be 127.0.0.1, localhost or [::1] with the port', () => {
  for (const host of ['127.0.0.1:8787', 'localhost:8787', 'LOCALHOST:8787', '[::1]:8787']) expect(checkHttpRequest({ host }, loop)).toBeUndefined();
  for (const host of ['evil.example:8787', 'evil.example', '127.0.0.1:8788', '127.0.0.1', 'localhost.evil.example:8787', '']) {
    expect(checkHttpRequest({ host }, loop)).toMatchObject({ status: 403, error: expect.stringMatching(/DNS rebinding/) });
  }
  expect(checkHttpRequest({}, loop)?.status).toBe(403);
});

test('a specific non-loopback address answers only to itself; a wildcard bind to any Host', () => {
  expect(allowedHosts('10.0.0.5', 80)).toEqual(new Set(['10.0.0.5:80', '10.0.0.5']));
  expect(checkHttpRequest({ host: '10.0.0.5:9000' }, { bindAddress: '10.0.0.5', port: 9000, token: 't' })?.status).toBe(401);
  expect(checkHttpRequest({ host: 'localhost:9000' }, { bindAddress: '10.0.0.5', port: 9000, token: 't' })?.status).toBe(403);
  expect(allowedHosts('0.0.0.0', 9000)).toBeUndefined();
  expect(checkHttpRequest({ host: 'anything:1', authorization: 'Bearer t' }, { bindAddress: '0.0.0.0', port: 9000, token: 't' })).toBeUndefined();
  expect(isLoopback('127.0.0.2') && isLoopback('::1') && !isLoopback('0.0.0.0') && !isLoopback('10.0.0.5')).toBe(true);
});

test('foreign Origin and cross-site fetches are refused; same origin and no origin pass', () => {
  const host = '127.0.0.1:8787';
  expect(checkHttpRequest({ host, origin: 'http://evil.example' }, loop)).toMatchObject({ status: 403, error: expect.stringMatching(/cross-origin/) });
  expect(checkHttpRequest({ host, origin: 'null' }, loop)?.status).toBe(403);
  expect(checkHttpRequest({ host, origin: 'https://127.0.0.1:8787' }, loop)?.status).toBe(403);
  expect(checkHttpRequest({ host, 'sec-fetch-site': 'cross-site' }, loop)?.status).toBe(403);
  expect(checkHttpRequest({ host, 'sec-fetch-site': 'same-site' }, loop)?.status).toBe(403);
  expect(checkHttpRequest({ host, origin: 'http://127.0.0.1:8787', 'sec-fetch-site': 'same-origin' }, loop)).toBeUndefined();
  expect(checkHttpRequest({ host, 'sec-fetch-site': 'none' }, loop)).toBeUndefined();
});

test('token: Bearer, exact, compared whole', () => {
  const o = { ...loop, token: 's3cret' };
  const host = '127.0.0.1:8787';
  expect(checkHttpRequest({ host }, o)?.status).toBe(401);
  for (const authorization of ['s3cret', 'Bearer s3cre', 'Bearer s3cret2', 'bearer s3cret', 'Basic czNjcmV0']) expect(checkHttpRequest({ host, authorization }, o)?.status).toBe(401);
  expect(checkHttpRequest({ host, authorization: 'Bearer s3cret' }, o)).toBeUndefined();
});

test('the web UI: its static files need no token and open from a cross-site link; data routes keep every check', () => {
  const host = '10.0.0.5:9000';
  const o = { bindAddress: '10.0.0.5', port: 9000, token: 's3cret' };
  for (const p of ['/', '/ui/app.js', '/ui/app.css']) expect(checkHttpRequest({ host }, o, p)).toBeUndefined();
  for (const p of ['/top', '/services', '/flamegraph', '/ui/other.js', '/sql']) expect(checkHttpRequest({ host }, o, p)?.status).toBe(401);
  // A link clicked in another site's page: a top-level navigation to the page itself is fine...
  const nav = { host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' };
  expect(checkHttpRequest(nav, o, '/')).toBeUndefined();
  // ...but not to data (even with the token), nor a cross-site fetch or frame of the page.
  expect(checkHttpRequest({ ...nav, authorization: 'Bearer s3cret' }, o, '/top')?.status).toBe(403);
  expect(checkHttpRequest({ host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' }, o, '/')?.status).toBe(403);
  expect(checkHttpRequest({ ...nav, 'sec-fetch-dest': 'iframe' }, o, '/')?.status).toBe(403);
  expect(checkHttpRequest({ host, origin: 'http://evil.example' }, o, '/')?.status).toBe(403);
  // DNS rebinding: a foreign Host is refused for the page too.
  expect(checkHttpRequest({ host: 'evil.example:9000' }, o, '/')?.status).toBe(403);
});
