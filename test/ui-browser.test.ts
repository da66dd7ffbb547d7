// The web UI (`fleetprof serve`, GET /) in a real browser: playwright-core driving Debian's
// Chromium (/usr/bin/chromium; .ci/run installs it, and this file skips, saying so, only when it
// is absent). Real fixture data: the Go sample profiles and gctrace logs of `fleetprof demo`
// (svc-a, versions v1 and v2) and the detector scenarios for checkout (a CPU regression in v2)
// and search (a GC regression), with the digest of the scenario window archived by
// `fleetprof digest --archive`. Every wait is for a selector or a URL, never a fixed sleep.
// FLEETPROF_SCREENSHOTS=docs/ui writes the tour's screenshots (docs/ui.md).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { formatValue } from '../lib/model/units';
import { flameTree } from '../lib/query/flamegraph';
import { renderFlameHtml } from '../lib/render/flamegraph';
import { ingestScenarios, scenarioManifest } from './helpers/scenarios';

const CHROMIUM = '/usr/bin/chromium';
const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
const SHOTS = process.env.FLEETPROF_SCREENSHOTS;
const have = existsSync(CHROMIUM);
if (!have) process.stderr.write(`ui-browser.test.ts: SKIPPED: ${CHROMIUM} is not installed (apt-get install chromium; .ci/run does)\n`);

let data: string;
let server: ChildProcess;
let base: string;
let browser: Browser;
let page: Page;

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fleetprof ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

async function shot(name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/** Opens a view and waits until it has rendered (the app sets body[data-ready=true]). */
async function open(hash: string): Promise<void> {
  await page.goto(`${base}/${hash}`);
  await page.waitForSelector('body[data-ready=true]');
}

const hashParams = () => new URLSearchParams(new URL(page.url()).hash.replace(/^#\/[a-z]+\??/, ''));

(have ? describe : describe.skip)('web UI in Chromium', () => {
  beforeAll(async () => {
    data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-ui-'));
    cli('demo', '--data', data);
    const m = await ingestScenarios(data, (r) => r.service === 'checkout' || r.service === 'search');
    const secs = (a: string, b: string) => `${(Date.parse(b) - Date.parse(a)) / 1000}s`;
    spawnSync(process.execPath, [CLI, 'digest', '--data', data, '--to', m.window.to, '--window', secs(m.window.from, m.window.to), '--baseline', secs(m.baseline.from, m.window.from), '--archive', '--json'], { encoding: 'utf8' });
    server = spawn(process.execPath, [CLI, 'serve', '--data', data, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    base = await new Promise<string>((resolve, reject) => {
      let err = '';
      server.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const mm = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
        if (mm) resolve(`http://127.0.0.1:${mm[1]}`);
      });
      server.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(30_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
    (globalThis as { uiErrors?: string[] }).uiErrors = errors;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const done = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await done;
    }
    rmSync(data, { recursive: true, force: true });
  });

  afterEach(() => {
    // No script error and no failed request on any page.
    expect((globalThis as { uiErrors?: string[] }).uiErrors).toEqual([]);
  });

  test('timeline: pickers filled from /services and /labels, charts drawn, brushing selects a span', async () => {
    await open('');
    // The first service is chosen and written into the URL (shareable from the first page).
    await page.waitForURL(/#\/timeline\?service=/);
    const services = await page.$$eval('#pick-service option', (os) => os.map((o) => o.getAttribute('value')));
    expect(services).toEqual(['checkout', 'search', 'svc-a']);
    await page.selectOption('#pick-service', 'svc-a');
    await page.waitForURL(/service=svc-a/);
    await page.waitForSelector('body[data-ready=true] #chart-cpu canvas');
    expect(await page.$$eval('#pick-version option', (os) => os.map((o) => o.getAttribute('value')))).toEqual(['', 'v1', 'v2']);
    // Upload labels and pprof sample labels of the fixture (pprof.Do in the Go program).
    const labels = await page.$$eval('#pick-label option', (os) => os.map((o) => o.textContent));
    expect(labels).toContain('handler=search (sample)');
    // Charts with data draw a canvas; GC has one line per version.
    for (const id of ['chart-cpu', 'chart-heap', 'chart-goroutines', 'chart-gc-pause', 'chart-gc-cpu']) expect(await page.$(`#${id} canvas`)).not.toBeNull();
    expect(await page.$$eval('#chart-gc-cpu .u-legend .u-series', (s) => s.length)).toBe(3); // Time, v1, v2
    await shot('timeline');
    // Drag across the CPU chart: the selection becomes from/to in the URL.
    const over = (await page.$('#chart-cpu .u-over'))!;
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.1, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForURL(/from=2026/);
    const p = hashParams();
    const [from, to] = [Date.parse(p.get('from')!), Date.parse(p.get('to')!)];
    expect(to).toBeGreaterThan(from);
    expect(from).toBeGreaterThanOrEqual(Date.parse('2026-11-21T20:54:00Z'));
    expect(to).toBeLessThanOrEqual(Date.parse('2026-11-21T20:55:00Z'));
    await page.waitForSelector('body[data-ready=true] #chart-cpu');
    // Relative ranges: the fixtures are older than 24 h, so the charts say there is nothing.
    await page.click('#range-24h');
    await page.waitForURL(/from=now-24h/);
    await page.waitForSelector('body[data-ready=true] #chart-cpu .no-data');
    // Absolute range typed into the pickers (UTC).
    await page.fill('#abs-from', '2026-11-21T20:54:00');
    await page.fill('#abs-to', '2026-11-21T20:55:00');
    await page.click('#abs-apply');
    await page.waitForURL(/to=2026/);
    expect([hashParams().get('from'), hashParams().get('to')]).toEqual(['2026-11-21T20:54:00Z', '2026-11-21T20:55:00Z']);
    await page.waitForSelector('body[data-ready=true] #chart-cpu canvas');
    expect(await page.textContent('#selection')).toContain('1s buckets');
    // A click on a point selects its bucket (1 s here): a CPU profile's capture second.
    const cpuBox = (await (await page.$('#chart-cpu .u-over'))!.boundingBox())!;
    await page.mouse.click(cpuBox.x + cpuBox.width * 0.3, cpuBox.y + cpuBox.height / 2);
    await page.waitForURL((u) => /from=[^&]*\.000Z/.test(decodeURIComponent(u.hash)));
    const [bf, bt] = [Date.parse(hashParams().get('from')!), Date.parse(hashParams().get('to')!)];
    expect(bt - bf).toBe(1000);
    const cpuTimes = JSON.parse(cli('sql', '--data', data, "SELECT epoch_ms(time) AS t FROM profiles WHERE service = 'svc-a' AND kind = 'cpu'", '--json')) as { rows: [number][] };
    const ts = cpuTimes.rows.map((r) => Math.floor(Number(r[0]) / 1000) * 1000);
    expect(ts).toContain(bf);
  });

  test('flame graph: the table beside it is fleetprof top; search is case-insensitive and regex; sandwich view; tooltip', async () => {
    await open('#/flame?service=svc-a&type=cpu');
    await page.waitForSelector('#top-table tbody tr');
    const top = JSON.parse(cli('top', '--data', data, '--type', 'cpu', '--service', 'svc-a', '--json')) as { unit: string; total: number; functions: { name: string; flat: number; cum: number }[] };
    // Same functions, same flat and cum (formatted by the same lib/model/units.ts), flat order.
    const rows = await page.$$eval('#top-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    expect(rows.length).toBe(top.functions.length);
    for (const f of top.functions.slice(0, 10)) {
      const r = rows.find((x) => x[3] === f.name)!;
      expect([r[0], r[1]]).toEqual([formatValue(f.flat, top.unit), formatValue(f.cum, top.unit)]);
    }
    expect(rows[0][3]).toBe(top.functions[0].name);
    await page.click('#top-table th[data-sort=cum]');
    await page.waitForURL(/sort=cum/);
    const byCum = [...top.functions].sort((a, b) => b.cum - a.cum);
    expect(await page.$eval('#top-table tbody tr td:nth-child(4)', (td) => td.textContent)).toBe(byCum[0].name);
    // Search: upper case finds lower case; the info line sums the matched frames (= cum of the one match).
    await page.fill('#flame-search', 'HASHITEMS');
    await page.waitForURL(/search=HASHITEMS/);
    const hash = top.functions.find((f) => f.name === 'main.hashItems')!;
    expect(await page.textContent('#flame-info')).toContain(`${formatValue(hash.cum, top.unit)} (`);
    expect(await page.$$eval('#top-table tbody tr td:nth-child(4)', (tds) => tds.map((t) => t.textContent))).toEqual(['main.hashItems']);
    await page.fill('#flame-search', '^main\\.(mix|fib)$');
    await page.waitForFunction('document.querySelectorAll("#top-table tbody tr").length === 2');
    expect((await page.$$eval('#top-table tbody tr td:nth-child(4)', (tds) => tds.map((t) => t.textContent))).sort()).toEqual(['main.fib', 'main.mix']);
    await shot('flame-search');
    // Sandwich: a function from the table; the URL carries it, so a reload shows it again.
    await page.fill('#flame-search', '');
    await page.click('#top-table td.fn >> text="main.hashItems"');
    await page.waitForSelector('#sandwich-callers canvas');
    await page.waitForURL(/fn=main\.hashItems/);
    await page.reload();
    await page.waitForSelector('body[data-ready=true] #sandwich-callees canvas');
    expect(await page.textContent('#sandwich')).toContain('Sandwich: main.hashItems');
    await shot('sandwich');
    // Hover: full name, package, file:line of the definition, self and total.
    const c = (await (await page.$('#flame canvas'))!.boundingBox())!;
    await page.mouse.move(c.x + c.width / 2, c.y + 18 + 9);
    await page.waitForSelector('#flame .flame-tip', { state: 'visible' });
    const tip = (await page.textContent('#flame .flame-tip'))!;
    expect(tip).toMatch(/^main\.serveRequests\.func1\npackage main\n\S+\.go:\d+\nself .*\ntotal .* \(\d+\.\d\d%\)/);
  });

  test('labels: a sample label narrows the flame graph to what fleetprof top --label says', async () => {
    await open('#/flame?service=svc-a&type=cpu');
    const all = await page.textContent('#flame-info');
    await page.selectOption('#pick-label', 'handler=search');
    await page.waitForURL(/label=handler%3Dsearch/);
    await page.waitForSelector('body[data-ready=true] #top-table tbody tr');
    expect(await page.textContent('.chip')).toContain('handler=search');
    expect(await page.textContent('#flame-info')).not.toBe(all);
    // pprof -tagfocus keeps the profile total ("of N total"); the functions are narrowed.
    const top = JSON.parse(cli('top', '--data', data, '--type', 'cpu', '--service', 'svc-a', '--label', 'handler=search', '--json')) as { unit: string; functions: { name: string; flat: number; cum: number }[] };
    const rows = await page.$$eval('#top-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    expect(rows.map((r) => r[3]).sort()).toEqual(top.functions.map((f) => f.name).sort());
    for (const f of top.functions) expect(rows.find((r) => r[3] === f.name)!.slice(0, 2)).toEqual([formatValue(f.flat, top.unit), formatValue(f.cum, top.unit)]);
  });

  test('compare: two versions, legend says what is compared, new and vanished functions, diff table with significance', async () => {
    await open('#/compare?service=checkout&type=cpu');
    // The two newest versions by default.
    await page.waitForURL(/base-version=v1/);
    await page.waitForSelector('body[data-ready=true] #diff-table tbody tr');
    expect(await page.textContent('#compare-what')).toBe('Comparing version v2 against the baseline version v1 (cpu).');
    expect(await page.textContent('#flame-legend')).toMatch(/pts.*vanished.*new/s);
    const row = await page.$eval('#diff-table', (t) => [...t.querySelectorAll('tbody tr')].map((tr) => tr.textContent ?? '').find((x) => x.includes('main.applyDiscountRules')));
    expect(row).toMatch(/main\.applyDiscountRulesnew/);
    expect(await page.$$eval('#diff-table thead th', (th) => th.map((h) => h.textContent))).toContain('significant');
    // The injected function is significant (Welch over the five and three runs).
    const d = JSON.parse(cli('diff', '--data', data, '--type', 'cpu', '--service', 'checkout', '--base-version', 'v1', '--version', 'v2', '--json')) as { functions: { name: string; significant: boolean }[] };
    const sig = d.functions.find((f) => f.name === 'main.applyDiscountRules')!.significant;
    expect(await page.$eval('#diff-table', (t, n) => [...t.querySelectorAll('tbody tr')].find((tr) => tr.textContent!.includes(n))!.lastElementChild!.textContent, 'main.applyDiscountRules')).toBe(sig ? 'yes' : 'no');
    await shot('compare');
    // The other way round: the function vanished, and is still drawn and listed.
    await open('#/compare?service=checkout&type=cpu&base-version=v2&version=v1');
    await page.waitForSelector('#top-table tbody tr');
    expect(await page.$eval('#diff-table', (t) => [...t.querySelectorAll('tbody tr')].map((tr) => tr.textContent).find((x) => x!.includes('main.applyDiscountRules')))).toMatch(/vanished/);
    await page.fill('#flame-search', 'applyDiscount');
    await page.waitForFunction('document.querySelectorAll("#top-table tbody tr").length === 1');
    expect(await page.textContent('#top-table tbody tr')).toContain('vanished');
  });

  test('GC trends with diagnostics; archived digests link into the cohort view', async () => {
    await open('#/gc?service=search');
    await page.waitForSelector('#gc-pause canvas');
    expect(await page.$('#gc-diagnostics')).not.toBeNull();
    await shot('gc');
    await open('#/digests');
    await page.waitForSelector('#digests .card');
    const cards = await page.$$eval('#digests .card', (cs) => cs.map((c) => ({ text: c.textContent ?? '', href: c.getAttribute('href') ?? '' })));
    const cpu = cards.find((c) => c.text.startsWith('checkout · cpu'))!;
    expect(cpu).toBeDefined();
    await shot('digests');
    const m = scenarioManifest();
    await page.click(`#digests .card[href="${cpu.href}"]`);
    await page.waitForURL(/#\/compare\?/);
    await page.waitForSelector('body[data-ready=true] #diff-table');
    const p = hashParams();
    expect([p.get('service'), p.get('type'), p.get('from'), p.get('to')]).toEqual(['checkout', 'cpu', new Date(Date.parse(m.window.from)).toISOString(), new Date(Date.parse(m.window.to)).toISOString()]);
    expect(await page.textContent('#compare-what')).toContain(new Date(Date.parse(m.window.from)).toISOString());
  });

  test('fleetprof flamegraph writes one self-contained page with the same panel', async () => {
    const out = path.join(data, 'fg.html');
    cli('flamegraph', '--data', data, '--type', 'cpu', '--service', 'svc-a', '--out', out);
    const html = readFileSync(out, 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    await page.route('**/*', (r) => (r.request().url().startsWith('file:') ? r.continue() : r.abort()));
    await page.goto('file://' + out + '#search=mix');
    await page.waitForSelector('body[data-ready=true] #top-table tbody tr');
    expect(await page.$$eval('#top-table tbody tr td:nth-child(4)', (tds) => tds.map((t) => t.textContent))).toContain('main.mix');
    expect(await page.inputValue('#flame-search')).toBe('mix');
    await page.unroute('**/*');
  });

  test('a 100k-frame stack: the page draws within the canvas limit and the sandwich of the deepest frame shows its callers', async () => {
    const frames = Array.from({ length: 100_000 }, (_, i) => `pkg.f${i}`); // leaf first
    const tree = flameTree([
      { frames, value: 5n },
      { frames: ['pkg.leaf', 'pkg.f1', 'main.main'], value: 3n },
    ]);
    const out = path.join(data, 'deep.html');
    writeFileSync(out, renderFlameHtml({ type: 'cpu', sampleType: 'cpu', unit: 'nanoseconds', title: 'deep', differential: false, ...tree }));
    await page.goto('file://' + out);
    await page.waitForSelector('body[data-ready=true] #top-table tbody tr');
    // Chromium refuses canvases over 32,767 px: the drawing stops at 1,500 rows (zoom in for more).
    expect(await page.$eval('#flame canvas', (c) => c.getAttribute('height'))).toBe(String(1500 * 18));
    await page.click('#top-table td.fn >> text="pkg.f0"');
    await page.waitForSelector('#sandwich-callers canvas');
    expect(Number(await page.$eval('#sandwich-callers canvas', (c) => c.getAttribute('height')))).toBeLessThanOrEqual(1500 * 18);
    expect(await page.textContent('#sandwich')).toContain('Sandwich: pkg.f0');
  });
});
