import { diffColor, FlameChart, fmtShare, fmtValue } from './flame-chart';
import { searchRegExp, type FlameGraph } from './flame-model';
import { el } from './dom';

// The flame graph with its top table beside it, a search (case-insensitive, regex-capable) that
// greys out everything else, and the sandwich view of one function (its callers above, its
// callees below). The same panel is the web UI's flame and comparison views and the whole page
// `fleetprof flamegraph` writes (web/standalone.ts).

export interface PanelState {
  search: string;
  /** The function shown in the sandwich view ('' = none). */
  fn: string;
  sort: 'flat' | 'cum' | 'delta';
}

export interface FlamePanelOptions {
  onState?: (s: PanelState) => void;
  locate?: (name: string) => string | undefined;
}

type Row = ReturnType<FlameChart['model']['topTable']>[number];

export class FlamePanel {
  readonly root: HTMLElement;
  private readonly chart: FlameChart;
  private readonly tableBody: HTMLElement;
  private readonly info: HTMLElement;
  private readonly searchBox: HTMLInputElement;
  private readonly legend: HTMLElement;
  private readonly sandwichBox: HTMLElement;
  private rows: Row[] = [];
  private shareHead!: HTMLElement;
  private g!: FlameGraph;
  state: PanelState = { search: '', fn: '', sort: 'flat' };

  constructor(private readonly opts: FlamePanelOptions = {}) {
    this.searchBox = el('input', { type: 'search', id: 'flame-search', placeholder: 'search functions (regex, any case)', spellcheck: 'false' }) as HTMLInputElement;
    this.searchBox.addEventListener('input', () => this.update({ search: this.searchBox.value }));
    const reset = el('button', { id: 'flame-reset', type: 'button' }, 'reset zoom');
    reset.addEventListener('click', () => this.chart.resetZoom());
    this.info = el('span', { class: 'flame-info', id: 'flame-info' });
    this.legend = el('div', { class: 'flame-legend', id: 'flame-legend' });
    this.tableBody = el('tbody');
    const th = (key: PanelState['sort'] | '', label: string, title: string) => {
      const h = el('th', { title, 'data-sort': key }, label);
      if (key) h.addEventListener('click', () => this.update({ sort: key }));
      return h;
    };
    const table = el('table', { class: 'top-table', id: 'top-table' }, el('thead', {}, el('tr', {}, th('flat', 'flat', 'own value: sort'), th('cum', 'cum', 'value with callees: sort'), (this.shareHead = th('delta', 'share', 'cum share of the total; in a comparison its change in points: sort')), th('', 'function', 'click: sandwich view'))), this.tableBody);
    const flameBox = el('div', { class: 'flame-box', id: 'flame' });
    this.sandwichBox = el('div', { class: 'sandwich', id: 'sandwich' });
    this.chart = new FlameChart(flameBox, { locate: (n) => this.locate(n), onFrame: () => undefined });
    this.root = el(
      'div',
      { class: 'flame-panel' },
      el('div', { class: 'toolbar' }, this.searchBox, reset, this.info),
      this.legend,
      el('div', { class: 'flame-split' }, el('div', { class: 'table-box' }, table), el('div', { class: 'flame-right' }, this.sandwichBox, flameBox)),
    );
  }

  private locate(name: string): string | undefined {
    return this.opts.locate?.(name) ?? this.g?.locations?.[name];
  }

  setData(g: FlameGraph, state: Partial<PanelState> = {}): void {
    this.g = g;
    this.chart.setData(g);
    this.rows = this.chart.model.topTable();
    this.state = { ...this.state, ...state };
    this.searchBox.value = this.state.search;
    this.shareHead.textContent = g.differential ? 'Δ points' : 'share';
    this.renderLegend();
    this.apply();
  }

  update(s: Partial<PanelState>): void {
    this.state = { ...this.state, ...s };
    this.apply();
    this.opts.onState?.(this.state);
  }

  /** The draw time of the main chart, ms. */
  get drawMs(): number {
    return this.chart.lastDrawMs;
  }

  private apply(): void {
    const re = searchRegExp(this.state.search);
    this.chart.setSearch(re);
    const g = this.g;
    this.info.textContent =
      (re ? `"${this.state.search}": ${fmtValue(this.chart.matched, g.unit)} (${fmtShare(this.chart.matched, g.total)}) matched · ` : '') +
      `total ${fmtValue(g.total, g.unit)}` +
      (g.differential ? ` · baseline ${fmtValue(g.baseTotal, g.unit)}` : '');
    this.renderTable(re);
    this.renderSandwich();
  }

  private renderLegend(): void {
    const g = this.g;
    this.legend.replaceChildren();
    if (!g.differential) {
      this.legend.append(el('span', {}, `${g.title} · colour: package · width: ${g.sampleType} · click a frame to zoom, a function in the table for its sandwich view`));
      return;
    }
    const max = this.chart.scaleMax;
    const stops = [-1, -0.5, 0, 0.5, 1].map((k) => diffColor(k * max, max));
    this.legend.append(
      el('div', { class: 'compare-what', id: 'compare-what' }, `Comparing ${g.targetLabel ?? 'the target'} against the baseline ${g.baseLabel ?? ''} (${g.sampleType}).`),
      el(
        'div',
        { class: 'scale' },
        el('span', {}, `−${(max * 100).toFixed(1)} pts`),
        el('span', { class: 'gradient', style: `background:linear-gradient(to right,${stops.join(',')})` }),
        el('span', {}, `+${(max * 100).toFixed(1)} pts`),
        el('span', { class: 'swatch', style: 'background:#4a5fc1' }),
        el('span', {}, 'vanished'),
        el('span', { class: 'swatch', style: 'background:#c62828' }),
        el('span', {}, 'new'),
      ),
      el('div', { class: 'hint' }, 'Colour: change of the share of the total (red: larger in the target, blue: smaller). Width: mean of both shares, so vanished frames stay visible.'),
    );
  }

  private renderTable(re: RegExp | null): void {
    const g = this.g;
    const m = this.chart.model;
    const share = (r: Row) => (m.total ? r.cum / m.total : 0) - (m.baseTotal ? r.baseCum / m.baseTotal : 0);
    const key = this.state.sort;
    const rows = [...this.rows].sort((a, b) => (key === 'delta' ? Math.abs(share(b)) - Math.abs(share(a)) : b[key] - a[key] || b.cum - a.cum) || (a.name < b.name ? -1 : 1));
    const shown = re ? rows.filter((r) => re.test(r.name)) : rows;
    const frag = document.createDocumentFragment();
    for (const r of shown.slice(0, 500)) {
      const d = share(r);
      const loc = this.locate(r.name);
      const name = el('td', { class: 'fn', title: loc ? `${r.name}\n${loc}` : r.name }, r.name);
      if (g.differential && r.cum === 0 && r.baseCum > 0) name.append(el('span', { class: 'tag vanished' }, 'vanished'));
      name.addEventListener('click', () => this.update({ fn: this.state.fn === r.name ? '' : r.name }));
      frag.append(
        el(
          'tr',
          { class: r.name === this.state.fn ? 'selected' : '' },
          el('td', { class: 'num' }, fmtValue(r.flat, g.unit)),
          el('td', { class: 'num' }, fmtValue(r.cum, g.unit)),
          el('td', { class: 'num' }, g.differential ? `${d >= 0 ? '+' : ''}${(d * 100).toFixed(2)}` : fmtShare(r.cum, g.total)),
          name,
        ),
      );
    }
    this.tableBody.replaceChildren(frag);
    this.tableBody.parentElement!.querySelectorAll('th').forEach((h) => h.classList.toggle('sorted', h.dataset.sort === key));
  }

  private renderSandwich(): void {
    const fn = this.state.fn;
    this.sandwichBox.replaceChildren();
    if (!fn || !this.chart.model.nameIds.has(fn)) return;
    const { callers, callees } = this.chart.model.sandwich(fn);
    const g = this.g;
    const close = el('button', { type: 'button', id: 'sandwich-close' }, 'close');
    close.addEventListener('click', () => this.update({ fn: '' }));
    const up = el('div', { class: 'flame-box', id: 'sandwich-callers' });
    const down = el('div', { class: 'flame-box', id: 'sandwich-callees' });
    this.sandwichBox.append(el('div', { class: 'sandwich-head' }, el('b', {}, `Sandwich: ${fn}`), ' · callers above, callees below ', close), up, down);
    const re = searchRegExp(this.state.search);
    for (const [box, root, inverted] of [
      [up, callers, true],
      [down, callees, false],
    ] as const) {
      const c = new FlameChart(box, { inverted, locate: (n) => this.locate(n), onFrame: (name) => name !== fn && this.update({ fn: name }) });
      c.setData({ ...g, root, total: g.total, baseTotal: g.baseTotal });
      c.setSearch(re);
    }
  }
}
