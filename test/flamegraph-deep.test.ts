// Deep stacks: nothing that builds, serializes or draws a flame graph recurses per frame. Before,
// ~2,000 frames failed with "Maximum call stack size exceeded" (freeze(), JSON.stringify, and the
// page's depth()/lay()/find()). A 100k-frame stack is built, embedded, parsed back and drawn by
// the page's own script against a minimal DOM, then zoomed into.
import * as vm from 'node:vm';
import { flameTree, type FlameGraph, type FlameNode } from '../lib/query/flamegraph';
import { flameDataFromHtml, flameGraphJson, renderFlameHtml } from '../lib/render/flamegraph';

const DEPTH = 100_000;

function deepGraph(differential: boolean): FlameGraph {
  const frames = Array.from({ length: DEPTH }, (_, i) => `pkg.f${i}`); // leaf first
  const other = ['pkg.leaf', 'pkg.f1', 'main.main'];
  const tree = flameTree(
    [
      { frames, value: 5n },
      { frames: other, value: 3n },
    ],
    differential ? [{ frames, value: 7n }] : undefined,
  );
  return { type: 'cpu', sampleType: 'cpu', unit: 'nanoseconds', title: 'deep', differential, ...tree };
}

function chainDepth(root: FlameNode): number {
  let d = 0;
  for (let n: FlameNode | undefined = root; n; n = n.c?.find((c) => c.n.startsWith('pkg.f'))) d++;
  return d;
}

/** Just enough DOM for the page script: elements are plain objects; appended cells are counted. */
function fakeDom(json: string) {
  const cells: { textContent?: string; onclick?: () => void; style: { cssText?: string } }[] = [];
  const el = (id: string) => ({
    id,
    style: {} as Record<string, string>,
    clientWidth: 1200,
    textContent: id === 'flame-data' ? json : '',
    innerHTML: '',
    appendChild: (c: (typeof cells)[number]) => cells.push(c),
  });
  const byId = new Map(['flame-data', 'flame', 'tip', 'info', 'reset', 'search'].map((id) => [id, el(id)]));
  const document = {
    getElementById: (id: string) => byId.get(id),
    createElement: () => ({ style: {} }),
  };
  return { cells, byId, context: vm.createContext({ document, window: {}, JSON, Map, Math, String }) };
}

test.each([['plain', false], ['differential', true]])('%s: a 100k-frame stack builds, embeds and round-trips', (_name, differential) => {
  const g = deepGraph(differential);
  expect(g.total).toBe(8);
  expect(chainDepth(g.root)).toBe(DEPTH + 1);
  // Same text JSON.stringify gives on a shallow graph.
  const shallow: FlameGraph = { ...g, ...flameTree([{ frames: ['a', 'b'], value: 1n }, { frames: ['c'], value: 2n }], differential ? [] : undefined) };
  expect(flameGraphJson(shallow)).toBe(JSON.stringify(shallow));
  const back = flameDataFromHtml(renderFlameHtml(g));
  expect(back.total).toBe(8);
  expect(chainDepth(back.root)).toBe(DEPTH + 1);
  if (differential) expect(back.root.b).toBe(7);
});

test('the page script draws a 100k-frame stack and zooms into its deepest frame', () => {
  const html = renderFlameHtml(deepGraph(false));
  const json = /<script type="application\/json" id="flame-data">([\s\S]*?)<\/script>/.exec(html)![1];
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1];
  const dom = fakeDom(json);
  vm.runInContext(script, dom.context, { timeout: 60_000 });
  // root + the 100k-frame chain + the 3-frame stack (its first frame shares no node).
  expect(dom.cells.length).toBe(1 + DEPTH + 3);
  expect(dom.byId.get('info')!.textContent).toContain('showing root');
  const leaf = dom.cells.find((c) => c.textContent === 'pkg.f0')!;
  expect(leaf).toBeDefined();
  dom.cells.length = 0;
  leaf.onclick!();
  // Zoomed: the path above the leaf (root + 99,999 frames) drawn faded, then the leaf itself.
  expect(dom.cells.length).toBe(DEPTH + 1);
  expect(dom.byId.get('info')!.textContent).toContain('showing pkg.f0');
});
