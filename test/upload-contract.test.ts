// The upload contract (docs/upload-contract.md): key grammar and metadata -> SourceMeta, S3 event
// parsing, poison/transient classification.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DecodeError } from '../lib/decode/errors';
import { classifyFailure, isKnownTransient, ObjectTooLargeError } from '../lib/aws/classify';
import { parseS3Message } from '../lib/aws/events';
import { formatLabels, formatStart, parseLabels, parseStart, parseUploadKey, uploadKey, uploadSourceMeta, UploadContractError } from '../lib/model/upload-key';

const T = Date.UTC(2026, 10, 21, 10, 45, 0, 123);

test('key round trip and the documented example', () => {
  expect(formatStart(T)).toBe('20261121T104500.123Z');
  const key = uploadKey({ service: 'checkout', instance: 'pod-7', startMs: T, kind: 'cpu', ext: 'pb.gz' });
  expect(key).toBe('raw/checkout/pod-7/20261121T104500.123Z_cpu.pb.gz');
  expect(parseUploadKey(key)).toMatchObject({ service: 'checkout', instance: 'pod-7', startMs: T, kind: 'cpu', ext: 'pb.gz' });
  expect(parseUploadKey('raw/a/b/20261121T104500Z_gctrace_abc-1.log.gz')).toMatchObject({ kind: 'gctrace', tag: 'abc-1', ext: 'log.gz', startMs: Date.UTC(2026, 10, 21, 10, 45) });
  expect(parseStart('20261131T000000Z')).toBeNull();
  expect(parseStart('20261121T250000Z')).toBeNull();
});

test('metadata -> SourceMeta with sourceId s3://bucket/key#etag', () => {
  const labels = { region: 'eu-west-1', 'team.name': 'a,b=c d' };
  const m = uploadSourceMeta({ bucket: 'b', key: 'raw/svc/i1/20261121T104500.123Z_mutex.pb', etag: '"abc"', metadata: { version: 'v1.2', labels: formatLabels(labels) } });
  expect(m).toMatchObject({ service: 'svc', instance: 'i1', version: 'v1.2', labels, kind: 'mutex', startUs: T * 1000, sourceId: 's3://b/raw/svc/i1/20261121T104500.123Z_mutex.pb#abc' });
  expect(uploadSourceMeta({ bucket: 'b', key: 'raw/svc/i1/20261121T104500.123Z_metrics.json', etag: 'e' }).kind).toBeUndefined();
  expect(parseLabels('a=1,b=%2C')).toEqual({ a: '1', b: ',' });
});

test.each([
  ['other/svc/i1/20261121T104500Z_cpu.pb.gz', /must start with "raw\/"/],
  ['raw/svc/20261121T104500Z_cpu.pb.gz', /path segment/],
  ['raw/svc/i1/x/20261121T104500Z_cpu.pb.gz', /path segment/],
  ['raw/svc/i1/20261121T104500Z_cpu.exe', /does not end in one of/],
  ['raw/svc/i1/2026-11-21_cpu.pb.gz', /capture start/],
  ['raw/svc/i1/20261121T104500Z_heapz.pb.gz', /kind "heapz"/],
  ['raw/-svc/i1/20261121T104500Z_cpu.pb.gz', /service must be/],
  ['raw/svc/i 1/20261121T104500Z_cpu.pb.gz', /instance must be/],
  ['raw/svc/i1/20261121T104500Z_cpu_bad!tag.pb.gz', /tag must be/],
  ['raw/svc/i1/20261121T104500Z.pb.gz', /<start>_<kind>/],
])('contract violation: %s', (key, reason) => {
  let err: unknown;
  try {
    uploadSourceMeta({ bucket: 'b', key, etag: 'e' });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UploadContractError);
  expect((err as Error).message).toContain(key);
  expect((err as Error).message).toMatch(reason);
  expect(classifyFailure(err)).toBe('poison');
});

test('bad metadata is a contract violation', () => {
  expect(() => uploadSourceMeta({ bucket: 'b', key: 'raw/s/i/20261121T104500Z_cpu.pb', etag: 'e', metadata: { labels: 'novalue' } })).toThrow(/x-amz-meta-labels/);
  expect(() => uploadSourceMeta({ bucket: 'b', key: 'raw/s/i/20261121T104500Z_cpu.pb', etag: 'e', metadata: { version: 'a b' } })).toThrow(/version must be at most 128 characters of \[A-Za-z0-9._\+-\]/);
  expect(() => uploadSourceMeta({ bucket: 'b', key: 'raw/s/i/20261121T104500Z_cpu.pb', etag: 'e', metadata: { labels: '1bad=x' } })).toThrow(UploadContractError);
});

test('S3 event messages: test event, URL-encoded keys with +, invalid bodies', () => {
  expect(parseS3Message(JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent' }))).toEqual({ kind: 'test-event' });
  const m = parseS3Message(JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'b' }, object: { key: 'raw%2Fsvc%3Dapi%2Fhost+a%2Bb%2Fcpu+1.pb.gz', size: 3, eTag: 'x' } } }] }));
  expect(m).toEqual({ kind: 'records', records: [{ eventName: 'ObjectCreated:Put', bucket: 'b', key: 'raw/svc=api/host a+b/cpu 1.pb.gz', size: 3, etag: 'x' }] });
  expect(parseS3Message('nope').kind).toBe('invalid');
  expect(parseS3Message('{"Records":[{}]}').kind).toBe('invalid');
});

test('poison vs transient', () => {
  expect(classifyFailure(new DecodeError('malformed', 'x'))).toBe('poison');
  expect(classifyFailure(new ObjectTooLargeError(10, 5))).toBe('poison');
  const throttled = Object.assign(new Error('slow down'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
  expect(classifyFailure(throttled)).toBe('transient');
  expect(isKnownTransient(throttled)).toBe(true);
  expect(isKnownTransient(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 500 } }))).toBe(true);
  expect(isKnownTransient(Object.assign(new Error('socket'), { code: 'ECONNRESET' }))).toBe(true);
  expect(isKnownTransient(new TypeError('bug'))).toBe(false);
  expect(classifyFailure(new TypeError('bug'))).toBe('transient'); // unknown: retried, then the DLQ
});

describe('the version grammar (test/contract/versions.json, shared with agent/internal/contract/contract.go)', () => {
  const c = JSON.parse(readFileSync(path.join(__dirname, 'contract/versions.json'), 'utf8')) as { valid: string[]; invalid: string[] };
  const meta = (version: string) => () => uploadSourceMeta({ bucket: 'b', key: 'raw/s/i/20261121T104500Z_cpu.pb', etag: 'e', metadata: { version } });
  test.each(c.valid)('accepts %j', (v) => expect(meta(v)()).toMatchObject({ version: v }));
  test.each(c.invalid)('refuses %j', (v) => expect(meta(v)).toThrow(/version must be/));
});

// The key vectors shared with the Go agent (agent/internal/contract/contract_test.go).
describe('test/contract/upload-keys.json (shared with the Go agent)', () => {
  const v = JSON.parse(readFileSync(path.join(__dirname, 'contract/upload-keys.json'), 'utf8')) as {
    valid: { key: string; service: string; instance: string; start: string; kind: string; tag: string; ext: string }[];
    invalid: { key: string; why: string }[];
    labels: { labels: Record<string, string>; formatted: string }[];
  };
  test.each(v.valid.map((c) => [c.key, c]))('valid %s', (_k, c) => {
    const parts = { service: c.service, instance: c.instance, startMs: Date.parse(c.start), kind: c.kind, ext: c.ext, ...(c.tag ? { tag: c.tag } : {}) };
    expect(parseUploadKey(c.key)).toEqual({ key: c.key, ...parts });
    expect(uploadKey(parts as Parameters<typeof uploadKey>[0])).toBe(c.key);
  });
  test.each(v.invalid.map((c) => [c.key, c.why]))('invalid %s (%s)', (key) => {
    expect(() => parseUploadKey(key)).toThrow(UploadContractError);
  });
  test.each(v.labels.map((c) => [c.formatted, c]))('labels %s', (_f, c) => {
    expect(formatLabels(c.labels)).toBe(c.formatted);
    expect(parseLabels(c.formatted)).toEqual(c.labels);
  });
});
