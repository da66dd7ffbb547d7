import { cohortWhere, DEFAULT_SAMPLE_TYPE, selectedProfilesSql, type Cohort, type SqlParams } from '../query/cohort';
import type { QueryEngine } from '../query/engine';
import { esc, escapeScriptJson } from './html';

// Flame graphs from the stacks table (frames leaf first): the cohort's stacks merged into one
// call tree, root first, embedded as JSON in a self-contained HTML page with a small inline script
// (click to zoom, search, hover for values). A differential flame graph has the target cohort's
// tree, each node also carrying the baseline's value, coloured by the change of its share of the
// total (red grew, blue shrank).
//
// Node values: `v` = sum of the values of the stacks passing through the node (target), `b` = the
// same for the baseline. The root's value is the cohort total that `fleetprof top` prints, and a
// node's own value (v minus its children's) summed over the nodes of a function is that
// function's flat.

export interface FlameNode {
  n: string;
  v: number;
  b?: number;
  c?: FlameNode[];
}

export interface FlameGraph {
  type: string;
  sampleType: string;
  unit: string;
  title: string;
  differential: boolean;
  /** Totals of the two cohorts (base 0 unless differential). */
  total: number;
  baseTotal: number;
  root: FlameNode;
}

export async function cohortStacks(engine: QueryEngine, c: Cohort, sampleType: string): Promise<{ unit: string; stacks: { frames: string[]; value: bigint }[] }> {
  const params: SqlParams = { st: sampleType };
  const sel = selectedProfilesSql(c, params);
  const rows = await engine.rows(
    `WITH sel AS (${sel})
     SELECT frames, SUM(value)::HUGEINT AS value, MIN(unit) AS unit FROM stacks s
     WHERE ${cohortWhere(c, params, 's')} AND s.sample_type = $st AND s.profile_id IN (SELECT profile_id FROM sel)
     GROUP BY frames`,
    params,
  );
  return { unit: (rows[0]?.unit as string) ?? '', stacks: rows.map((r) => ({ frames: r.frames as string[], value: BigInt(r.value as bigint) })) };
}

interface Building {
  n: string;
  v: bigint;
  b: bigint;
  kids: Map<string, Building>;
}

function add(root: Building, framesLeafFirst: string[], value: bigint, base: boolean): void {
  const abs = value < 0n ? -value : value;
  let node = root;
  if (base) node.b += abs;
  else node.v += abs;
  for (let i = framesLeafFirst.length - 1; i >= 0; i--) {
    const name = framesLeafFirst[i] || '<unknown>';
    let k = node.kids.get(name);
    if (!k) {
      k = { n: name, v: 0n, b: 0n, kids: new Map() };
      node.kids.set(name, k);
    }
    if (base) k.b += abs;
    else k.v += abs;
    node = k;
  }
}

/**
 * The built tree -> FlameNodes, children sorted by name. Iterative (an explicit stack): a stack
 * is as deep as the input says, and recursion here failed with "Maximum call stack size exceeded"
 * at ~2,000 frames.
 */
function freeze(root: Building, differential: boolean): FlameNode {
  const make = (b: Building): FlameNode => {
    const out: FlameNode = { n: b.n, v: Number(b.v) };
    if (differential) out.b = Number(b.b);
    return out;
  };
  const top = make(root);
  const todo: [Building, FlameNode][] = [[root, top]];
  for (let item = todo.pop(); item; item = todo.pop()) {
    const [b, out] = item;
    const kids = [...b.kids.values()].filter((k) => k.v > 0n || (differential && k.b > 0n)).sort((x, y) => (x.n < y.n ? -1 : x.n > y.n ? 1 : 0));
    if (kids.length === 0) continue;
    out.c = kids.map(make);
    kids.forEach((k, i) => todo.push([k, out.c![i]]));
  }
  return top;
}

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

export interface FlameQuery extends Cohort {
  sampleType?: string;
  /** Differential: the baseline cohort (same kind and sample type). */
  base?: Cohort;
  title?: string;
}

/** The partition filter that covers the cohort and, for a differential graph, its baseline. */
export function flamePartitionFilter(q: FlameQuery): { service?: string; fromUs?: number; toUs?: number } {
  const sides = q.base ? [q, q.base] : [q];
  const froms = sides.map((c) => c.fromUs);
  const tos = sides.map((c) => c.toUs);
  return {
    service: q.service,
    fromUs: froms.some((x) => x === undefined) ? undefined : Math.min(...(froms as number[])),
    toUs: tos.some((x) => x === undefined) ? undefined : Math.max(...(tos as number[])),
  };
}

export async function flameGraph(engine: QueryEngine, q: FlameQuery): Promise<FlameGraph> {
  const sampleType = q.sampleType ?? DEFAULT_SAMPLE_TYPE[q.kind];
  const t = await cohortStacks(engine, q, sampleType);
  const b = q.base ? await cohortStacks(engine, { ...q.base, kind: q.kind }, sampleType) : undefined;
  const tree = flameTree(t.stacks, b?.stacks);
  return {
    type: q.kind,
    sampleType,
    unit: t.unit || b?.unit || '',
    title: q.title ?? `${q.kind} (${sampleType})${q.service ? ' ' + q.service : ''}`,
    differential: b !== undefined,
    ...tree,
  };
}

type FlameStack = { frames: string[]; value: bigint };

/** Stacks (frames leaf first) -> the merged call tree and its totals; `base` makes it differential. */
export function flameTree(target: readonly FlameStack[], base?: readonly FlameStack[]): { total: number; baseTotal: number; root: FlameNode } {
  const root: Building = { n: 'root', v: 0n, b: 0n, kids: new Map() };
  for (const s of target) add(root, s.frames, s.value, false);
  for (const s of base ?? []) add(root, s.frames, s.value, true);
  return { total: Number(root.v), baseTotal: Number(root.b), root: freeze(root, base !== undefined) };
}

const SCRIPT = String.raw`
(function(){
var G=JSON.parse(document.getElementById('flame-data').textContent);
var box=document.getElementById('flame'),tip=document.getElementById('tip'),info=document.getElementById('info');
var ROW=18,focus=G.root,query='',path=[G.root];
function fmt(v){var u=G.unit,a=Math.abs(v);
 if(u==='nanoseconds'){return a>=1e9?(v/1e9).toFixed(2)+'s':a>=1e6?(v/1e6).toFixed(2)+'ms':a>=1e3?(v/1e3).toFixed(1)+'us':v+'ns';}
 if(u==='bytes'){return a>=1048576?(v/1048576).toFixed(2)+'MiB':a>=1024?(v/1024).toFixed(1)+'KiB':v+'B';}
 return String(v);}
function pct(v,t){return t?(100*v/t).toFixed(2)+'%':'-';}
function hue(s){var h=0;for(var i=0;i<s.length;i++)h=(h*31+s.charCodeAt(i))>>>0;return h;}
function color(n){
 if(G.differential){var d=(G.total?n.v/G.total:0)-(G.baseTotal?n.b/G.baseTotal:0);var k=Math.min(1,Math.abs(d)*5);
  var c=Math.round(235-120*k);return d>=0?'rgb(240,'+c+','+c+')':'rgb('+c+','+c+',240)';}
 var h=hue(n.n);return 'hsl('+(10+h%40)+','+(60+h%30)+'%,'+(55+h%15)+'%)';}
// No recursion anywhere below: a tree is as deep as the deepest stack (100k frames is a test).
var up=new Map();(function(){var t=[G.root];while(t.length){var n=t.pop();if(n.c)for(var i=0;i<n.c.length;i++){up.set(n.c[i],n);t.push(n.c[i]);}}})();
function depth(n){var d=0,t=[[n,1]];while(t.length){var e=t.pop();if(e[1]>d)d=e[1];var c=e[0].c;if(c)for(var i=0;i<c.length;i++)t.push([c[i],e[1]+1]);}return d;}
function render(){
 box.innerHTML='';var W=box.clientWidth||1000;var D=depth(focus)+path.length-1;box.style.height=(D*ROW+4)+'px';
 var matched=0;
 for(var i=0;i<path.length-1;i++)cell(path[i],0,W,i,false);
 var t=[[focus,0,W,path.length-1]];
 while(t.length){var e=t.pop(),n=e[0],x=e[1],w=e[2],d=e[3];if(w<0.5)continue;if(cell(n,x,w,d,true))matched+=n.v;if(!n.c)continue;var cx=x;
  for(var j=0;j<n.c.length;j++){var c=n.c[j];var cw=n.v?w*c.v/n.v:0;t.push([c,cx,cw,d+1]);cx+=cw;}}
 function cell(n,x,w,d,live){var e=document.createElement('div');e.className='f';
  var m=query&&n.n.indexOf(query)>=0;e.style.cssText='left:'+x+'px;width:'+Math.max(0,w-1)+'px;top:'+(d*ROW)+'px;background:'+(m?'#ffeb3b':color(n))+(live?'':';opacity:.55');
  if(w>30)e.textContent=n.n;e.onclick=function(){zoom(n);};
  e.onmousemove=function(ev){tip.style.display='block';tip.style.left=(ev.pageX+12)+'px';tip.style.top=(ev.pageY+12)+'px';
   var s=n.n+'\n'+fmt(n.v)+' ('+pct(n.v,G.total)+' of total)';if(G.differential)s+='\nbaseline '+fmt(n.b)+' ('+pct(n.b,G.baseTotal)+')';tip.textContent=s;};
  e.onmouseout=function(){tip.style.display='none';};box.appendChild(e);return m;}
 info.textContent=(query?'search "'+query+'": '+fmt(matched)+' ('+pct(matched,G.total)+') matched; ':'')+'showing '+focus.n+': '+fmt(focus.v)+' of '+fmt(G.total);
}
function find(n,t,p){var r=[];for(var x=t;x;x=up.get(x))r.push(x);return r[r.length-1]===n?r.reverse():null;}
function zoom(n){path=find(G.root,n,[])||[G.root];focus=n;render();}
document.getElementById('reset').onclick=function(){zoom(G.root);};
document.getElementById('search').oninput=function(e){query=e.target.value;render();};
window.onresize=render;render();
})();`;

export function renderFlameHtml(g: FlameGraph): string {
  const css = `body{font:13px system-ui,sans-serif;margin:16px;color:#222}#flame{position:relative;width:100%;overflow:hidden}
.f{position:absolute;height:17px;line-height:17px;font-size:11px;overflow:hidden;white-space:nowrap;padding-left:2px;box-sizing:border-box;cursor:pointer;border-radius:2px}
.f:hover{outline:1px solid #000}#tip{position:absolute;display:none;background:#fff;border:1px solid #999;padding:4px 6px;white-space:pre;font-size:12px;pointer-events:none;z-index:9}
.bar{margin:8px 0}`;
  const legend = g.differential ? ' Differential: red = larger share of the total than in the baseline, blue = smaller.' : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(g.title)}</title><style>${css}</style></head><body>
<h1 style="font-size:18px">${esc(g.title)}</h1><p>Click a frame to zoom, "reset" to go back; search highlights matching frames.${esc(legend)}</p>
<div class="bar"><button id="reset">reset</button> <input id="search" placeholder="search function"> <span id="info"></span></div>
<div id="flame"></div><div id="tip"></div>
<script type="application/json" id="flame-data">${escapeScriptJson(flameGraphJson(g))}</script>
<script>${SCRIPT}</script></body></html>
`;
}

/** The embedded graph back out of a rendered page (tests, tooling). */
export function flameDataFromHtml(html: string): FlameGraph {
  const m = /<script type="application\/json" id="flame-data">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('no flame-data block');
  return JSON.parse(m[1]) as FlameGraph;
}
