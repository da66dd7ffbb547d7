// Deep stacks: nothing that builds, serializes or draws a flame graph recurses per frame. Before,
// ~2,000 frames failed with "Maximum call stack size exceeded" (freeze(), JSON.stringify, and the
// page's depth()/lay()/find()). A 100k-frame stack is built, embedded and parsed back here;
// test/ui-browser.test.ts draws the page in Chromium and zooms into its deepest frame.
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
