import type { FlameGraph } from '../../lib/query/flamegraph';
import { formatWithTable, UNIT_TYPES } from '../../lib/model/units';
import { esc, escapeScriptJson } from '../../lib/render/html';
import { flameGraphJson } from '../../lib/render/flamegraph';

// The peer of bench/ui.ts: the flame graph page as fleetprof wrote it before the web UI (one
// absolutely positioned <div> per frame, rebuilt on every search keystroke), kept verbatim so the
// benchmark measures the new canvas panel against it in the same run. Not product code.

const formatterScript = () => `var UNIT_TYPES=${JSON.stringify(UNIT_TYPES)};\n${formatWithTable.toString()}\n`;

// The value formatter is lib/model/units.ts's own function source, not a copy.
const SCRIPT = String.raw`
(function(){
${formatterScript()}var G=JSON.parse(document.getElementById('flame-data').textContent);
var box=document.getElementById('flame'),tip=document.getElementById('tip'),info=document.getElementById('info');
var ROW=18,focus=G.root,query='',path=[G.root];
function fmt(v){return formatWithTable(UNIT_TYPES,v,G.unit);}
function pct(v,t){return formatWithTable(UNIT_TYPES,t?v/t:null,'fraction',2);}
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

export function renderFlameHtmlDom(g: FlameGraph): string {
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

