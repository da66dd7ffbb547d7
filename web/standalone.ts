import { FlamePanel } from './flame-panel';
import type { FlameGraph } from './flame-model';

// The page `fleetprof flamegraph` writes (lib/render/flamegraph.ts): the graph is embedded as JSON
// in the page; this script (inlined into it) mounts the same panel as the web UI. The search and
// the sandwich function live in the URL hash, so a saved page opens where it was left.

const g = JSON.parse(document.getElementById('flame-data')!.textContent!) as FlameGraph;
const hash = new URLSearchParams(location.hash.slice(1));
const panel = new FlamePanel({
  onState: (s) => {
    const h = new URLSearchParams();
    if (s.search) h.set('search', s.search);
    if (s.fn) h.set('fn', s.fn);
    history.replaceState(null, '', h.toString() ? '#' + h.toString() : location.pathname + location.search);
  },
});
document.getElementById('app')!.append(panel.root);
panel.setData(g, { search: hash.get('search') ?? '', fn: hash.get('fn') ?? '' });
document.body.dataset.ready = 'true';
