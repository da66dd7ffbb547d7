// The API routes the web UI picks from and plots (GET /services, /labels, /timeline, /digests,
// /flamegraph?format=json), answered by the router over real fixtures and checked against the
// CLI: the timeline's gauges are what `fleetprof top` says for the same bucket (per-instance mean,
// summed), its counter rates are the increase `top` reports between two snapshots (= go tool
// pprof -base, test/window.test.ts) divided by the time between them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { handleApiRequest, type ApiDeps } from '../lib/api/router';
import { openEngine } from '../lib/query/open';
import { LocalStore } from '../lib/store/local';

const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
const CUM = path.join(__dirname, 'fixtures/cumulative/run1');
let data: string;
let deps: ApiDeps;

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fleetprof ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

async function get<T>(p: string, q: string): Promise<T> {
  const r = await handleApiRequest({ method: 'GET', path: p, query: q }, deps);
  if (r.status !== 200) throw new Error(`${p}?${q}: ${r.status} ${String(r.body)}`);
  return JSON.parse(String(r.body)) as T;
}

beforeAll(() => {
  data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-ui-api-'));
  cli('demo', '--data', data);
  cli('ingest', '--data', data, '--service', 'cum', '--instance', 'i1', '--process', 'run1', '--label', 'env=staging', CUM);
  const store = new LocalStore(data);
  deps = { openEngine: (f) => openEngine(store, f, [data]), digests: store };
}, 120_000);

afterAll(() => rmSync(data, { recursive: true, force: true }));

test('GET /services: versions, instances, kinds with sample types, data span', async () => {
  const { services } = await get<{ services: { service: string; versions: string[]; instances: string[]; types: { type: string; sampleTypes: string[] }[]; first: string; last: string; gcCycles: number }[] }>('/services', '');
  expect(services.map((s) => s.service)).toEqual(['cum', 'svc-a']);
  const a = services[1];
  expect([a.versions, a.instances]).toEqual([
    ['v1', 'v2'],
    ['i1', 'i2'],
  ]);
  expect(a.types.find((t) => t.type === 'cpu')!.sampleTypes).toEqual(['cpu', 'samples']);
  expect(a.gcCycles).toBeGreaterThan(0);
  expect(Date.parse(a.first)).toBeLessThan(Date.parse(a.last));
  // The filter applies: only v2.
  const v2 = await get<{ services: { versions: string[] }[] }>('/services', 'service=svc-a&version=v2');
  expect(v2.services.map((s) => s.versions)).toEqual([['v2']]);
  expect((await handleApiRequest({ method: 'GET', path: '/services', query: 'kind=cpu' }, deps)).status).toBe(400);
});

test('GET /labels: upload labels and pprof sample labels with their values', async () => {
  const cum = await get<{ labels: { key: string; source: string; values: { value: string }[] }[] }>('/labels', 'service=cum');
  expect(cum.labels.map((l) => [l.source, l.key, l.values.map((v) => v.value)])).toEqual([['upload', 'env', ['staging']]]);
  const { labels } = await get<{ labels: { key: string; source: string; values: { value: string; rows: number }[] }[] }>('/labels', 'service=svc-a');
  const handler = labels.find((l) => l.key === 'handler')!;
  expect(handler.source).toBe('sample');
  expect(handler.values.map((v) => v.value).sort()).toEqual(['checkout', 'search']);
  // Every value offered selects samples: top with it is not empty.
  const top = JSON.parse(cli('top', '--data', data, '--type', 'cpu', '--service', 'svc-a', '--label', 'handler=checkout', '--json')) as { functions: unknown[] };
  expect(top.functions.length).toBeGreaterThan(0);
});

test('GET /timeline: gauges are fleetprof top per bucket (per-instance mean, summed over instances)', async () => {
  const t = await get<{ times: string[]; series: Record<string, (number | null)[]> }>('/timeline', 'service=svc-a&bucket=1d');
  expect(t.times.length).toBe(1);
  for (const [type, series] of [
    ['heap', 'inuse_heap_bytes'],
    ['goroutine', 'goroutines'],
  ]) {
    const top = JSON.parse(cli('top', '--data', data, '--type', type, '--service', 'svc-a', '--json')) as { total: number };
    // top rounds each instance's mean to an integer before summing (2 instances).
    expect(Math.abs(t.series[series][0]! - top.total)).toBeLessThanOrEqual(1);
  }
  // CPU cores: each profile's cpu over its duration; per instance the mean, summed.
  const prof = JSON.parse(
    String((await handleApiRequest({ method: 'POST', path: '/sql', query: '', body: JSON.stringify({ sql: "SELECT instance, version, duration_ns FROM profiles WHERE service = 'svc-a' AND kind = 'cpu'" }) }, deps)).body),
  ) as { rows: [string, string, number][] };
  const perInstance = new Map<string, number[]>();
  for (const [instance, version, ns] of prof.rows) {
    const top = JSON.parse(cli('top', '--data', data, '--type', 'cpu', '--service', 'svc-a', '--instance', instance, '--version', version, '--json')) as { total: number };
    perInstance.set(instance, [...(perInstance.get(instance) ?? []), top.total / Number(ns)]);
  }
  const cores = [...perInstance.values()].reduce((s, xs) => s + xs.reduce((a, b) => a + b, 0) / xs.length, 0);
  expect(t.series.cpu_cores[0]).toBeCloseTo(cores, 9);
});

test('GET /timeline: counter rates are the increase between snapshots (top over that window) per second', async () => {
  // 1 ms buckets: one snapshot each; the first of a series has no rate (nothing before it).
  const t = await get<{ times: string[]; series: Record<string, (number | null)[]> }>('/timeline', 'service=cum&bucket=1ms');
  const at = (us: number, s: string) => {
    const i = t.times.indexOf(new Date(Math.floor(us / 1000)).toISOString());
    return i < 0 ? null : t.series[s][i];
  };
  for (const [kind, series, scale] of [
    ['allocs', 'alloc_bytes_per_s', 1],
    ['mutex', 'mutex_wait_s_per_s', 1e-9],
    ['block', 'block_wait_s_per_s', 1e-9],
  ] as const) {
    const sql = `SELECT epoch_us(time) AS t FROM profiles WHERE service = 'cum' AND kind = '${kind}' ORDER BY t`;
    const res = await handleApiRequest({ method: 'POST', path: '/sql', query: '', body: JSON.stringify({ sql }) }, deps);
    const times = (JSON.parse(String(res.body)) as { rows: [number][] }).rows.map((r) => Number(r[0]));
    expect(times.length).toBeGreaterThanOrEqual(4);
    expect(at(times[0], series)).toBeNull();
    for (const k of [1, times.length - 1]) {
      const after = (us: number) => new Date(Math.floor(us / 1000) + 1).toISOString();
      const top = JSON.parse(cli('top', '--data', data, '--type', kind, '--service', 'cum', '--from', after(times[k - 1]), '--to', after(times[k]), '--json')) as { total: number };
      const dt = (times[k] - times[k - 1]) / 1e6;
      expect(at(times[k], series)).toBeCloseTo((top.total * scale) / dt, kind === 'allocs' ? 6 : 12);
    }
  }
});

test('GET /flamegraph?format=json: the tree whose root is the top total; GET /digests lists the archive', async () => {
  const g = await get<{ total: number; root: { v: number }; differential: boolean }>('/flamegraph', 'type=cpu&service=svc-a&format=json');
  const top = JSON.parse(cli('top', '--data', data, '--type', 'cpu', '--service', 'svc-a', '--json')) as { total: number };
  expect([g.total, g.root.v, g.differential]).toEqual([top.total, top.total, false]);
  const d = await get<{ baseLabel: string; targetLabel: string }>('/flamegraph', 'type=cpu&service=svc-a&format=json&base-version=v1&version=v2');
  expect([d.baseLabel, d.targetLabel]).toEqual(['version v1', 'version v2']);
  expect(await get('/digests', '')).toEqual({ digests: [], more: false });
  cli('digest', '--data', data, '--service', 'svc-a', '--to', '2026-11-21T21:00:00Z', '--archive', '--json');
  const { digests } = await get<{ digests: { key: string; window: { to: string }; quiet: boolean }[] }>('/digests', '');
  expect(digests.map((x) => [x.key, x.window.to])).toEqual([['digests/2026-11-21/20261121T210000Z/digest.json', '2026-11-21T21:00:00.000Z']]);
});
