import type { FlameGraph, FlameNode } from '../query/flamegraph';
import { webFile } from './assets';
import { esc, escapeScriptJson } from './html';

// The flame graph page: the tree lib/query/flamegraph.ts built, embedded as JSON in a
// self-contained HTML page with the web UI's flame panel inlined (zoom, regex search, top table,
// sandwich view, package colours, differential scale): one file, nothing loaded from elsewhere.

/**
 * FlameGraph -> JSON text, without recursion (JSON.stringify recurses per nesting level and
 * throws on deep stacks). Same text JSON.stringify would produce.
 */
export function flameGraphJson(g: FlameGraph): string {
  const { root, ...head } = g;
  const parts: string[] = [JSON.stringify(head).slice(0, -1), ',"root":'];
  // Work items: a node to open, or literal text to emit (closing brackets, separators).
  const todo: (FlameNode | string)[] = [root];
  for (let item = todo.pop(); item !== undefined; item = todo.pop()) {
    if (typeof item === 'string') {
      parts.push(item);
      continue;
    }
    const { c, ...own } = item;
    const fields = JSON.stringify(own);
    if (!c || c.length === 0) {
      parts.push(c ? fields.slice(0, -1) + ',"c":[]}' : fields);
      continue;
    }
    parts.push(fields.slice(0, -1), ',"c":[');
    todo.push(']}');
    for (let i = c.length - 1; i >= 0; i--) {
      todo.push(c[i]);
      if (i > 0) todo.push(',');
    }
  }
  parts.push('}');
  return parts.join('');
}

/** Inline script text: a `</script` inside it would end the element early. */
const inlineScript = (js: string) => js.replace(/<\/script/gi, '<\\/script');

export function renderFlameHtml(g: FlameGraph): string {
  // The same panel as the web UI (web/flame-panel.ts), bundled into dist/web/flame.js.
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(g.title)}</title>
<style>${webFile('app.css').toString('utf8')}</style></head><body class="standalone">
<h1>${esc(g.title)}</h1>
<div id="app"></div>
<script type="application/json" id="flame-data">${escapeScriptJson(flameGraphJson(g))}</script>
<script>${inlineScript(webFile('flame.js').toString('utf8'))}</script></body></html>
`;
}

/** The embedded graph back out of a rendered page (tests, tooling). */
export function flameDataFromHtml(html: string): FlameGraph {
  const m = /<script type="application\/json" id="flame-data">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('no flame-data block');
  return JSON.parse(m[1]) as FlameGraph;
}
