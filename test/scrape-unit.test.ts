// fleetprof scrape's pure parts (URLs, instances, durations, schedule) and its request and round
// logic against an in-process node:http server: deadlines, size caps, error reasons, isolation.
import { parseDurationMs } from '../lib/model/time';
import { createServer, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import { encodeProfile, StringTable } from './helpers/pprof-builder';
import type { AddressInfo } from 'node:net';
import {
  defaultInstance,
  fetchProfile,
  nextRoundAt,
  parseProfiles,
  pprofBase,
  ProcessIds,
  profileUrl,
  requestTimeoutMs,
  resolveTargets,
  scrapeRound,
  type Capture,
} from '../lib/scrape';

describe('targets and URLs', () => {
  test.each([
    ['http://127.0.0.1:6060', 'http://127.0.0.1:6060/debug/pprof/'],
    ['127.0.0.1:6060', 'http://127.0.0.1:6060/debug/pprof/'],
    ['http://svc:6060/', 'http://svc:6060/debug/pprof/'],
    ['http://svc:6060/debug/pprof', 'http://svc:6060/debug/pprof/'],
    ['http://svc:6060/debug/pprof/', 'http://svc:6060/debug/pprof/'],
    ['https://gw.example.com/svc-a', 'https://gw.example.com/svc-a/debug/pprof/'],
    ['http://[::1]:6060', 'http://[::1]:6060/debug/pprof/'],
  ])('pprofBase(%s)', (t, base) => expect(pprofBase(t)).toBe(base));

  test.each(['ftp://h:1', 'http://h:1/?x=1', 'http://h:1/#f', 'http://u:p@h:1', 'http://'])('pprofBase refuses %s', (t) => {
    expect(() => pprofBase(t)).toThrow(/target/);
  });

  test('profile URLs are the net/http/pprof ones, protobuf (no debug=)', () => {
    const b = pprofBase('h:1');
    expect(profileUrl(b, 'cpu', 7)).toBe('http://h:1/debug/pprof/profile?seconds=7');
    for (const k of ['heap', 'allocs', 'goroutine', 'block', 'mutex', 'threadcreate'] as const) {
      expect(profileUrl(b, k, 7)).toBe(`http://h:1/debug/pprof/${k}`);
    }
    // Counter kinds as ?seconds=N deltas; gauges stay snapshots; 0 is the plain snapshot.
    for (const k of ['heap', 'allocs', 'block', 'mutex'] as const) expect(profileUrl(b, k, 7, 3)).toBe(`http://h:1/debug/pprof/${k}?seconds=3`);
    for (const k of ['goroutine', 'threadcreate'] as const) expect(profileUrl(b, k, 7, 3)).toBe(`http://h:1/debug/pprof/${k}`);
    expect(profileUrl(b, 'heap', 7, 0)).toBe('http://h:1/debug/pprof/heap');
  });

  test('process identity: one per target, a new one after allocation totals go down or refused connections', () => {
    const p = new ProcessIds('abc');
    expect(p.current('i1')).toBe('scrape:abc.0');
    p.observeTotal('i1', 100n);
    p.observeTotal('i1', 150n);
    expect(p.current('i1')).toBe('scrape:abc.0');
    p.observeTotal('i1', 20n); // restarted
    expect(p.current('i1')).toBe('scrape:abc.1');
    expect(p.current('i2')).toBe('scrape:abc.0');
    p.observeGone('i1');
    expect(p.current('i1')).toBe('scrape:abc.1'); // decided when it answers again
    p.observeTotal('i1', 500n);
    expect(p.current('i1')).toBe('scrape:abc.2');
  });

  test('default instance is host_port, valid under the upload contract', () => {
    expect(defaultInstance(pprofBase('127.0.0.1:6060'))).toBe('127.0.0.1_6060');
    expect(defaultInstance(pprofBase('http://svc-a.ns.svc'))).toBe('svc-a.ns.svc_80');
    expect(defaultInstance(pprofBase('https://gw/x'))).toBe('gw_443');
    expect(defaultInstance(pprofBase('http://[::1]:6060'))).toBe('1_6060');
  });

  test('--instance: none, once per target, or an error', () => {
    expect(resolveTargets(['a:1', 'b:2']).map((t) => t.instance)).toEqual(['a_1', 'b_2']);
    expect(resolveTargets(['a:1', 'b:2'], ['i1', 'i2']).map((t) => t.instance)).toEqual(['i1', 'i2']);
    expect(() => resolveTargets(['a:1', 'b:2'], ['i1'])).toThrow(/once per target/);
    expect(() => resolveTargets([])).toThrow(/--target/);
    expect(() => resolveTargets(['a:1', 'http://a:1/'])).toThrow(/twice/);
  });

  test('profiles and durations', () => {
    expect(parseProfiles('cpu, heap,cpu,mutex')).toEqual(['cpu', 'heap', 'mutex']);
    expect(() => parseProfiles('cpu,trace')).toThrow(/unknown profile "trace"/);
    expect(() => parseProfiles(',')).toThrow();
    expect(parseDurationMs('60s')).toBe(60_000);
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs('1.5m')).toBe(90_000);
    expect(parseDurationMs('2h')).toBe(7_200_000);
    expect(parseDurationMs('10')).toBe(10_000);
    for (const bad of ['0s', '-1s', '1w', 'soon', '']) expect(() => parseDurationMs(bad)).toThrow();
    expect(requestTimeoutMs('cpu', { cpuSeconds: 10, timeoutMs: 30_000 })).toBe(40_000);
    expect(requestTimeoutMs('heap', { cpuSeconds: 10, timeoutMs: 30_000 })).toBe(30_000);
    expect(requestTimeoutMs('heap', { cpuSeconds: 10, deltaSeconds: 5, timeoutMs: 30_000 })).toBe(35_000);
    expect(requestTimeoutMs('goroutine', { cpuSeconds: 10, deltaSeconds: 5, timeoutMs: 30_000 })).toBe(30_000);
  });
});

describe('schedule', () => {
  test('rounds sit on a fixed grid and do not drift by their own duration', () => {
    expect(nextRoundAt(0, 0, 12_000, 60_000)).toBe(60_000);
    expect(nextRoundAt(0, 60_000, 71_000, 60_000)).toBe(120_000);
  });
  test('an overrun skips the missed slots (no catch-up burst)', () => {
    expect(nextRoundAt(0, 0, 130_000, 60_000)).toBe(180_000);
    expect(nextRoundAt(0, 0, 120_000, 60_000)).toBe(120_000);
  });
});

describe('requests and rounds', () => {
  let server: Server;
  let base: string;
  const hung: Array<() => void> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const p = req.url ?? '';
      if (p.endsWith('/heap')) res.end(Buffer.from([0x1f, 0x8b, 1, 2, 3]));
      else if (p.endsWith('/allocs')) res.writeHead(500).end('boom\nsecond line');
      else if (p.endsWith('/goroutine')) hung.push(() => res.destroy()); // never answers
      else if (p.endsWith('/block')) res.end(Buffer.alloc(5000, 7));
      else if (p.endsWith('/mutex')) res.end();
      else if (p.startsWith('/debug/pprof/profile')) res.end(Buffer.from('cpu-bytes'));
      else res.writeHead(404).end('404 page not found');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debug/pprof/`;
  });
  afterAll(async () => {
    for (const h of hung) h();
    await new Promise((r) => server.close(r));
  });

  test('fetchProfile: bytes, HTTP errors with the first body line, size cap, empty body, deadline', async () => {
    const o = { timeoutMs: 2000, maxBytes: 1000 };
    expect([...(await fetchProfile(base + 'heap', o))]).toEqual([0x1f, 0x8b, 1, 2, 3]);
    await expect(fetchProfile(base + 'allocs', o)).rejects.toThrow(/^HTTP 500 Internal Server Error: boom$/);
    await expect(fetchProfile(base + 'block', o)).rejects.toThrow(/over the 1000-byte limit/);
    await expect(fetchProfile(base + 'mutex', o)).rejects.toThrow('empty response');
    const t0 = Date.now();
    await expect(fetchProfile(base + 'goroutine', { timeoutMs: 300, maxBytes: 1000 })).rejects.toThrow('timed out after 0.3s');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  test('fetchProfile: connection refused is named', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    await expect(fetchProfile(`http://127.0.0.1:${port}/debug/pprof/heap`, { timeoutMs: 2000, maxBytes: 10 })).rejects.toThrow(/^connection refused/);
  });

  test('a round isolates failures per target and profile, sink failures included; stop interrupts', async () => {
    const targets = resolveTargets([base, 'http://127.0.0.1:9/']);
    const put: Capture[] = [];
    const sink = {
      async put(c: Capture) {
        if (c.kind === 'cpu') throw new Error('sink says no');
        put.push(c);
        return `stored ${c.kind}`;
      },
    };
    const t0 = Date.now();
    const seen: string[] = [];
    const results = await scrapeRound(targets, { kinds: ['cpu', 'heap', 'allocs', 'goroutine'], cpuSeconds: 1, timeoutMs: 300, maxBytes: 1000, concurrency: 4, onResult: (r) => seen.push(r.kind) }, sink);
    expect(Date.now() - t0).toBeLessThan(1500); // the hung goroutine request was cut at 300 ms
    expect(seen).toHaveLength(8);
    expect(results.map((r) => [r.target.instance, r.kind, r.ok, r.where ?? r.reason])).toEqual([
      ['127.0.0.1_' + new URL(base).port, 'cpu', false, 'sink says no'],
      ['127.0.0.1_' + new URL(base).port, 'heap', true, 'stored heap'],
      ['127.0.0.1_' + new URL(base).port, 'allocs', false, 'HTTP 500 Internal Server Error: boom'],
      ['127.0.0.1_' + new URL(base).port, 'goroutine', false, 'timed out after 0.3s'],
      ...['cpu', 'heap', 'allocs', 'goroutine'].map((k) => ['127.0.0.1_9', k, false, expect.any(String)]),
    ]);
    expect(put.map((c) => c.kind)).toEqual(['heap']);
    expect(put[0].startMs).toBeGreaterThanOrEqual(t0);
    expect(put[0].url).toBe(base + 'heap');

    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    const r2 = await scrapeRound(targets.slice(0, 1), { kinds: ['goroutine'], cpuSeconds: 1, timeoutMs: 10_000, maxBytes: 1000, concurrency: 1, signal: stop.signal }, sink);
    expect(r2[0]).toMatchObject({ ok: false, interrupted: true, reason: 'interrupted' });
  });

  /** A plain heap/allocs snapshot whose alloc_objects sum to `total`. */
  function memProfile(total: number): Uint8Array {
    const s = new StringTable();
    const types = ['alloc_objects/count', 'alloc_space/bytes', 'inuse_objects/count', 'inuse_space/bytes'].map((t) => t.split('/'));
    return gzipSync(
      encodeProfile({
        sampleTypes: types.map(([type, unit]) => ({ type: s.id(type), unit: s.id(unit) })),
        functions: [{ id: 1, name: s.id('main.work') }],
        locations: [{ id: 1, lines: [{ functionId: 1 }] }],
        samples: [{ locationIds: [1], values: [total, total * 4096, 0, 0] }],
        stringTable: s.strings,
      }),
    );
  }

  test('one process, one identity: heap and allocs read in the target\'s order even when it answers the earlier read last', async () => {
    // One process whose allocation counter grows between reads (a GC published more): the read
    // that arrives first sees 100 and is answered late (a loaded target), the next sees 200 and
    // is answered at once. Out of order, 200 then 100 looked like a restart.
    let reads = 0;
    const target = createServer((_req, res) => {
      const total = ++reads * 100;
      const body = memProfile(total);
      if (total === 100) setTimeout(() => res.end(body), 300);
      else res.end(body);
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`;
      const processes = new ProcessIds('abc');
      const put: Capture[] = [];
      const sink = { put: async (c: Capture) => (put.push(c), 'ok') };
      for (let round = 0; round < 2; round++) {
        const r = await scrapeRound(resolveTargets([url]), { kinds: ['heap', 'allocs'], cpuSeconds: 1, timeoutMs: 5000, maxBytes: 1 << 20, concurrency: 1, processes }, sink);
        expect(r.map((x) => x.ok)).toEqual([true, true]);
      }
      expect(reads).toBe(4);
      expect(put.map((c) => c.process)).toEqual(Array(4).fill('scrape:abc.0'));
    } finally {
      await new Promise((r) => target.close(r));
    }
  });
});
