// `npm run bench:ui`: the flame graph page on a profile of ~60k nodes, side by side with its peer
// in one run: the page fleetprof wrote before the web UI (a <div> per frame, bench/peers/), and the
// canvas panel that `fleetprof flamegraph` and the web UI share now. Page weight (bytes, gzip),
// time to the first drawn graph (navigation start to DOMContentLoaded: both draw synchronously in
// their inline script), the DOM size then, a search keystroke (input event to redrawn graph and
// table) and a zoom. Headless Chromium (/usr/bin/chromium) through playwright-core. Prints
// numbers; asserts nothing (docs/performance.md).
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { flameTree, type FlameGraph, type FlameNode } from '../lib/query/flamegraph';
import { renderFlameHtml } from '../lib/render/flamegraph';
import { webFile } from '../lib/render/assets';
import { renderFlameHtmlDom } from './peers/flamegraph-dom';
import { mulberry32 } from './replay';

const CHROMIUM = '/usr/bin/chromium';
const TARGET_NODES = Number(process.argv[2] ?? 60_000);
const RUNS = Number(process.argv[3] ?? 3);

function countNodes(root: FlameNode): number {
  let n = 0;
  const todo = [root];
  for (let x = todo.pop(); x; x = todo.pop()) {
    n++;
    if (x.c) todo.push(...x.c);
  }
  return n;
}

/** A Go-like profile: 80 packages x 40 functions, stacks from main through a call graph. */
function syntheticGraph(target: number, differential: boolean): FlameGraph {
  const rnd = mulberry32(42);
  const pkgs = Array.from({ length: 80 }, (_, i) => (i < 20 ? `runtime${i ? i : ''}` : `github.com/acme/svc/internal/pkg${i}`));
  const fns = pkgs.flatMap((p) => Array.from({ length: 40 }, (_, j) => `${p}.(*T${j % 7}).Method${j}`));
  // Each function calls a few others: stacks are walks through this graph, so subtrees repeat.
  const callees = fns.map(() => Array.from({ length: 4 }, () => fns[Math.floor(rnd() * fns.length)]));
  const index = new Map(fns.map((f, i) => [f, i]));
  const stacks: { frames: string[]; value: bigint }[] = [];
  const base: { frames: string[]; value: bigint }[] = [];
  let g: FlameGraph | undefined;
  for (let batch = 0; batch < 200; batch++) {
    for (let s = 0; s < 2000; s++) {
      const frames = ['main.main'];
      let f = fns[Math.floor(rnd() * 200)];
      const depth = 4 + Math.floor(rnd() * 30);
      for (let d = 0; d < depth; d++) {
        frames.push(f);
        f = callees[index.get(f)!][Math.floor(rnd() * 4)];
      }
      const st = { frames: frames.reverse(), value: BigInt(1 + Math.floor(rnd() * 100)) * 10_000_000n };
      stacks.push(st);
      if (differential && rnd() < 0.8) base.push({ ...st, value: st.value + BigInt(Math.floor(rnd() * 5)) * 10_000_000n });
    }
    const tree = flameTree(stacks, differential ? base : undefined);
    g = { type: 'cpu', sampleType: 'cpu', unit: 'nanoseconds', title: `synthetic ${differential ? 'differential ' : ''}profile`, differential, ...tree };
    if (countNodes(tree.root) >= target) break;
  }
  return g!;
}

interface Measure {
  htmlBytes: number;
  gzipBytes: number;
  firstDrawMs: number;
  searchMs: number;
  zoomMs: number;
  domNodes: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Page scripts as text: this file is compiled for Node (no DOM types).
const FIRST_DRAW = `performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd`;
const SEARCH = (id: string) => `(() => {
  const input = document.querySelector('${id}');
  input.value = 'Method1';
  const t0 = performance.now();
  input.dispatchEvent(new Event('input'));
  return performance.now() - t0;
})()`;
const ZOOM = (kind: string) => `(() => {
  const t0 = performance.now();
  if ('${kind}' === 'dom') {
    const cells = document.querySelectorAll('#flame .f');
    cells[Math.min(3, cells.length - 1)].click();
  } else {
    const c = document.querySelector('#flame canvas');
    const r = c.getBoundingClientRect();
    c.dispatchEvent(new MouseEvent('click', { clientX: r.left + r.width / 3, clientY: r.top + 18 * 2 + 9, bubbles: true }));
  }
  return performance.now() - t0;
})()`;

async function measure(page: import('playwright-core').Page, file: string, kind: 'canvas' | 'dom'): Promise<Omit<Measure, 'htmlBytes' | 'gzipBytes'>> {
  await page.goto('file://' + file, { waitUntil: 'domcontentloaded', timeout: 600_000 });
  const firstDrawMs = (await page.evaluate(FIRST_DRAW)) as number;
  const domNodes = (await page.evaluate(`document.getElementsByTagName('*').length`)) as number;
  // One keystroke's work: the input handler redraws synchronously in both pages.
  const searchMs = (await page.evaluate(SEARCH(kind === 'canvas' ? '#flame-search' : '#search'))) as number;
  const zoomMs = (await page.evaluate(ZOOM(kind))) as number;
  return { firstDrawMs, searchMs, zoomMs, domNodes };
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    console.log(`bench:ui: ${CHROMIUM} is not installed; nothing measured`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bench-ui-'));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    console.log(`bench:ui: web UI bundle app.js ${webFile('app.js').length} B (gzip ${gzipSync(webFile('app.js')).length} B), app.css ${webFile('app.css').length} B, flame.js ${webFile('flame.js').length} B (gzip ${gzipSync(webFile('flame.js')).length} B)`);
    for (const differential of [false, true]) {
      const g = syntheticGraph(TARGET_NODES, differential);
      const nodes = countNodes(g.root);
      const pages = { dom: renderFlameHtmlDom(g), canvas: renderFlameHtml(g) };
      const rows: Record<string, Measure> = {};
      for (const [kind, html] of Object.entries(pages) as ['dom' | 'canvas', string][]) {
        const file = path.join(dir, `${kind}-${differential}.html`);
        writeFileSync(file, html);
        const runs: Omit<Measure, 'htmlBytes' | 'gzipBytes'>[] = [];
        for (let i = 0; i < RUNS; i++) {
          const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
          runs.push(await measure(page, file, kind));
          await page.close();
        }
        rows[kind] = {
          htmlBytes: statSync(file).size,
          gzipBytes: gzipSync(html).length,
          firstDrawMs: median(runs.map((r) => r.firstDrawMs)),
          searchMs: median(runs.map((r) => r.searchMs)),
          zoomMs: median(runs.map((r) => r.zoomMs)),
          domNodes: median(runs.map((r) => r.domNodes)),
        };
      }
      console.log(`\n${differential ? 'differential' : 'plain'} flame graph, ${nodes} nodes, median of ${RUNS} page loads (load average ${os.loadavg()[0].toFixed(1)})`);
      console.log('renderer                 html bytes   gzip bytes  first draw ms  search ms   zoom ms  DOM nodes');
      for (const [k, m] of Object.entries(rows)) {
        const name = k === 'dom' ? 'before: <div> per frame' : 'now: canvas panel';
        console.log(
          `${name.padEnd(24)} ${String(m.htmlBytes).padStart(10)} ${String(m.gzipBytes).padStart(12)} ${m.firstDrawMs.toFixed(0).padStart(14)} ${m.searchMs.toFixed(1).padStart(10)} ${m.zoomMs.toFixed(1).padStart(9)} ${String(m.domNodes).padStart(10)}`,
        );
      }
      const r = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) + 'x' : '-');
      console.log(`ratio before/now: first draw ${r(rows.dom.firstDrawMs, rows.canvas.firstDrawMs)}, search ${r(rows.dom.searchMs, rows.canvas.searchMs)}, zoom ${r(rows.dom.zoomMs, rows.canvas.zoomMs)}, html bytes ${r(rows.dom.htmlBytes, rows.canvas.htmlBytes)}`);
    }
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
