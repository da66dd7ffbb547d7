import type { Location, Profile } from '../model/profile';

// Frames at function granularity, as `go tool pprof` names graph nodes: one frame per Line of a
// Location (line[0] innermost), named by the function; a Location without lines (or a function
// without a name) is named by its mapping's file, `[binary]`, else `<unknown>`.

export interface FrameTable {
  /** Distinct frame names; a name's index is its node id. */
  readonly names: string[];
  /** Node ids of location i, leaf (innermost inlined) first. */
  readonly nodesOf: Int32Array[];
  /** Source line of each of those nodes (0 when unknown). */
  readonly linesOf: Int32Array[];
}

export function buildFrameTable(p: Profile): FrameTable {
  const names: string[] = [];
  const ids = new Map<string, number>();
  const id = (name: string): number => {
    let i = ids.get(name);
    if (i === undefined) {
      i = names.length;
      names.push(name);
      ids.set(name, i);
    }
    return i;
  };
  const nodesOf: Int32Array[] = [];
  const linesOf: Int32Array[] = [];
  for (const loc of p.locations) {
    if (loc.lines.length === 0) {
      nodesOf.push(Int32Array.of(id(unsymbolizedName(p, loc))));
      linesOf.push(Int32Array.of(0));
      continue;
    }
    const nodes = new Int32Array(loc.lines.length);
    const lines = new Int32Array(loc.lines.length);
    for (let k = 0; k < loc.lines.length; k++) {
      const ln = loc.lines[k];
      const name = p.functions[ln.fn].name;
      nodes[k] = id(name !== '' ? name : unsymbolizedName(p, loc));
      lines[k] = ln.line;
    }
    nodesOf.push(nodes);
    linesOf.push(lines);
  }
  return { names, nodesOf, linesOf };
}

function unsymbolizedName(p: Profile, loc: Location): string {
  const file = loc.mapping >= 0 ? p.mappings[loc.mapping].filename : '';
  if (file === '') return '<unknown>';
  const base = file.slice(file.lastIndexOf('/') + 1);
  return `[${base}]`;
}
