// fleetprof diff on the scenario suite's real profiles: each side's flat/cum equal `fleetprof top`
// for that cohort (to the integer), shares and normalized values follow from them, noise is not
// significant, an injected new function is, and the JSON has the documented shape.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ingestScenarios, type ScenarioManifest } from './helpers/scenarios';

const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface Side {
  flat: number;
  cum: number;
  flat_share: number;
  cum_share: number;
  flat_norm: number;
  cum_norm: number;
}
interface Diff {
  type: string;
  sampleType: string;
  unit: string;
  measure: string;
  base: { profiles: number; total: number; duration_s: number; norm: string; total_norm: number; versions: string[] };
  target: { profiles: number; total: number; duration_s: number; norm: string; total_norm: number; versions: string[] };
  functions: { name: string; base: Side; target: Side; delta_cum_share: number; p_value: number | null; significant: boolean }[];
}
type Top = { total: number; functions: { name: string; flat: number; cum: number }[] };

let data: string;
let m: ScenarioManifest;
beforeAll(async () => {
  data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-diff-'));
  m = await ingestScenarios(data, (r) => r.service === 'noise' || r.service === 'checkout' || r.service === 'sessions');
}, 120_000);
afterAll(() => rmSync(data, { recursive: true, force: true }));

const spans = () => ['--base-from', m.baseline.from, '--base-to', m.baseline.to, '--from', m.window.from, '--to', m.window.to];
const runDiff = (service: string, kind: string, extra: string[] = []) => {
  const r = cli(['diff', '--data', data, '--type', kind, '--service', service, ...spans(), ...extra, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Diff;
};
const topOf = (service: string, kind: string, from: string, to: string) =>
  JSON.parse(cli(['top', '--data', data, '--type', kind, '--service', service, '--from', from, '--to', to, '--json']).stdout) as Top;

test.each([
  ['checkout', 'cpu'],
  ['sessions', 'heap'],
])('%s %s: both sides equal fleetprof top of the cohort, shares and norms follow', (service, kind) => {
  const d = runDiff(service, kind);
  const base = topOf(service, kind, m.baseline.from, m.baseline.to);
  const target = topOf(service, kind, m.window.from, m.window.to);
  expect(d.base.total).toBe(base.total);
  expect(d.target.total).toBe(target.total);
  expect(d.base.profiles).toBe(m.runs.filter((r) => r.service === service && r.phase === 'baseline').length);
  const byName = new Map(d.functions.map((f) => [f.name, f]));
  for (const [side, top] of [['base', base], ['target', target]] as const) {
    for (const f of top.functions) {
      const row = byName.get(f.name)![side];
      expect([row.flat, row.cum]).toEqual([f.flat, f.cum]);
      expect(row.cum_share).toBeCloseTo(f.cum / top.total, 12);
      const norm = kind === 'cpu' ? f.cum / d[side].duration_s : f.cum / d[side].profiles;
      expect(row.cum_norm).toBeCloseTo(norm, 6);
    }
  }
  expect(d.base.norm).toBe(kind === 'cpu' ? 'per_second' : 'per_profile');
  // Significant first, then by |delta|.
  const sig = d.functions.map((f) => f.significant);
  expect(sig).toEqual([...sig].sort((a, b) => Number(b) - Number(a)));
});

test('noise (the same workload re-run): nothing is significant, in any kind', () => {
  for (const kind of ['cpu', 'heap', 'allocs', 'goroutine', 'block', 'mutex']) {
    const d = runDiff('noise', kind);
    expect(d.functions.filter((f) => f.significant).map((f) => f.name)).toEqual([]);
    expect(d.base.versions).toEqual(['v1']);
  }
});

test('an injected new function is the first significant change, with a small p-value', () => {
  const d = runDiff('checkout', 'cpu');
  const f = d.functions[0];
  expect(f.name).toBe('main.applyDiscountRules');
  expect(f.significant).toBe(true);
  expect(f.base.cum).toBe(0);
  expect(f.delta_cum_share).toBeGreaterThan(0.2);
  expect(f.p_value!).toBeLessThan(0.01);
  expect(d.target.versions).toEqual(['v2']);
});

test('version cohorts and absolute measure: the leak grows in bytes per profile', () => {
  const r = cli(['diff', '--data', data, '--type', 'heap', '--service', 'sessions', '--base-version', 'v1', '--version', 'v2', '--measure', 'norm', '--json']);
  const d = JSON.parse(r.stdout) as Diff;
  expect(d.measure).toBe('norm');
  const leak = d.functions.find((f) => f.name === 'main.rememberRequest')!;
  expect(leak.significant).toBe(true);
  expect(leak.target.cum_norm).toBeGreaterThan(10 * 1048576);
});

test('one profile on a side: no p-value, nothing significant; text output', () => {
  const one = m.runs.find((r) => r.service === 'checkout' && r.phase === 'window')!;
  const to = new Date(Date.parse(one.endTime) + 1).toISOString();
  const r = cli(['diff', '--data', data, '--type', 'cpu', '--service', 'checkout', '--base-from', m.baseline.from, '--base-to', m.baseline.to, '--from', one.startTime, '--to', to, '--json']);
  const d = JSON.parse(r.stdout) as Diff;
  expect(d.target.profiles).toBe(1);
  expect(d.functions.every((f) => f.p_value === null && !f.significant)).toBe(true);
  const t = cli(['diff', '--data', data, '--type', 'cpu', '--service', 'checkout', ...spans(), '--limit', '5']);
  expect(t.stdout).toMatch(/main\.applyDiscountRules/);
  expect(t.stdout).toMatch(/significant change/);
});
