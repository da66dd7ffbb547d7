// Flame graphs: the data embedded in the HTML adds up to exactly what `fleetprof top` prints for the
// same cohort (root = total, a function's own values summed over its nodes = its flat), for every
// kind of the real Go fixtures; the differential graph carries the baseline's totals too; and the
// page is self-contained.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROFILE_KINDS, type ProfileKind } from '../lib/model/profile';
import type { FlameNode } from '../lib/query/flamegraph';
import { flameDataFromHtml } from '../lib/render/flamegraph';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const FIXTURES = path.join(__dirname, 'fixtures/go');
const manifest = JSON.parse(readFileSync(path.join(FIXTURES, 'MANIFEST.json'), 'utf8')) as {
  runs: { run: string; service: string; instance: string; version: string }[];
};

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let data: string;
beforeAll(() => {
  data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-flame-'));
  for (const r of manifest.runs) {
    const files = PROFILE_KINDS.map((k) => path.join(FIXTURES, r.run, `${k}.pb.gz`));
    const res = cli(['ingest', '--data', data, '--service', r.service, '--instance', r.instance, '--version', r.version, ...files]);
    expect(res.code).toBe(0);
  }
}, 120_000);
afterAll(() => rmSync(data, { recursive: true, force: true }));

function ownByFunction(root: FlameNode): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (n: FlameNode, isRoot: boolean) => {
    const kids = n.c ?? [];
    const own = n.v - kids.reduce((a, c) => a + c.v, 0);
    expect(own).toBeGreaterThanOrEqual(0);
    if (!isRoot && own !== 0) out.set(n.n, (out.get(n.n) ?? 0) + own);
    for (const c of kids) walk(c, false);
  };
  walk(root, true);
  return out;
}

type Top = { total: number; functions: { name: string; flat: number; cum: number }[] };

test.each(PROFILE_KINDS.map((k) => [k]))('%s: embedded data sums equal fleetprof top (total and every flat)', (kind: ProfileKind) => {
  const out = path.join(data, `${kind}.html`);
  // Gauges of one instance's snapshots average per stack in a flame graph and per function in top
  // (each rounded: docs/cli.md); the exact aggregate `last` makes both the same snapshots' values.
  const agg = ['--aggregate', 'last'];
  const r = cli(['flamegraph', '--data', data, '--type', kind, '--service', 'svc-a', ...agg, '--out', out]);
  expect(r.code).toBe(0);
  const g = flameDataFromHtml(readFileSync(out, 'utf8'));
  const top = JSON.parse(cli(['top', '--data', data, '--type', kind, '--service', 'svc-a', ...agg, '--json']).stdout) as Top;
  expect(g.total).toBe(top.total);
  expect(g.root.v).toBe(top.total);
  const own = ownByFunction(g.root);
  const flats = new Map(top.functions.filter((f) => f.flat !== 0).map((f) => [f.name || '<unknown>', f.flat]));
  expect(own).toEqual(flats);
});

test('differential: target tree with the baseline values, totals equal top of each cohort', () => {
  const out = path.join(data, 'diff.html');
  const r = cli(['flamegraph', '--data', data, '--type', 'cpu', '--version', 'v2', '--base-version', 'v1', '--out', out]);
  expect(r.code).toBe(0);
  const html = readFileSync(out, 'utf8');
  const g = flameDataFromHtml(html);
  const topOf = (v: string) => (JSON.parse(cli(['top', '--data', data, '--type', 'cpu', '--version', v, '--json']).stdout) as Top).total;
  expect(g.differential).toBe(true);
  expect(g.total).toBe(topOf('v2'));
  expect(g.baseTotal).toBe(topOf('v1'));
  expect(g.root.b).toBe(g.baseTotal);
  // validateCoupon exists only in v2: present with no baseline value.
  const find = (n: FlameNode, name: string): FlameNode[] => (n.n === name ? [n] : []).concat(...(n.c ?? []).map((c) => find(c, name)));
  const vc = find(g.root, 'main.validateCoupon');
  expect(vc.length).toBeGreaterThan(0);
  for (const n of vc) expect(n.b).toBe(0);
});

test('the page is self-contained and interactive', () => {
  const out = path.join(data, 'cpu.html');
  const html = readFileSync(out, 'utf8');
  expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
  expect(html).not.toMatch(/https?:\/\//);
  // The web UI's flame panel (web/flame-panel.ts) inlined; test/ui-browser.test.ts drives it in Chromium.
  expect(html).toMatch(/flame-search/);
  expect(html).toMatch(/addEventListener\("mousemove"/);
  expect(html).toMatch(/sandwich/);
});
