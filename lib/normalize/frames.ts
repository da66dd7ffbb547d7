import type { Location, Profile } from '../model/profile';

// Frames as `go tool pprof` sees them: one frame per Line of a Location (line[0] innermost, the
// lines before the last are inlined into the next), named by the function; a Location without
// lines (or a function without a name) is named by its mapping's file, `[binary]`, else
// `<unknown>`.
//
// Two identities, because pprof has two:
// - a *node* is a function name: `go tool pprof -top` (functions granularity) clears file names
//   before it builds its graph, so same-named functions from different files are one row there
//   (internal/driver aggregate -> Profile.Aggregate, internal/graph nodeInfo);
// - a *function* is (name, file, start line), pprof's Function identity when it merges profiles
//   (profile.Merge's functionKey): `-lines` and `-filefunctions` keep them apart, so the stacks
//   table stores each frame's file and start line and an export writes one Function per
//   distinct triple.

export interface FrameFunction {
  readonly name: string;
  readonly file: string;
  readonly startLine: number;
}

export interface FrameTable {
  /** Distinct frame names; a name's index is its node id. */
  readonly names: string[];
  /** Node ids of location i, leaf (innermost inlined) first. */
  readonly nodesOf: Int32Array[];
  /** Distinct functions (name, file, start line); an entry's index is its function id. */
  readonly functions: FrameFunction[];
  /** Function ids of location i, parallel to nodesOf. */
  readonly functionsOf: Int32Array[];
  /** Source line of each frame of location i (0 when unknown). Frames k < length-1 are inlined. */
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
  const functions: FrameFunction[] = [];
  const fnIds = new Map<string, number>();
  const fnId = (name: string, file: string, startLine: number): number => {
    const key = `${startLine}\u0000${file}\u0000${name}`;
    let i = fnIds.get(key);
    if (i === undefined) {
      i = functions.length;
      functions.push({ name, file, startLine });
      fnIds.set(key, i);
    }
    return i;
  };
  // Node and function ids of each named pprof Function, found once: locations share functions, and
  // the string key per line was the largest part of this step (measured).
  const nodeOfFn = new Int32Array(p.functions.length).fill(-1);
  const fnOfFn = new Int32Array(p.functions.length);
  const nodesOf: Int32Array[] = [];
  const functionsOf: Int32Array[] = [];
  const linesOf: Int32Array[] = [];
  for (const loc of p.locations) {
    if (loc.lines.length === 0) {
      const name = unsymbolizedName(p, loc);
      nodesOf.push(Int32Array.of(id(name)));
      functionsOf.push(Int32Array.of(fnId(name, '', 0)));
      linesOf.push(Int32Array.of(0));
      continue;
    }
    const nodes = new Int32Array(loc.lines.length);
    const fns = new Int32Array(loc.lines.length);
    const lines = new Int32Array(loc.lines.length);
    for (let k = 0; k < loc.lines.length; k++) {
      const ln = loc.lines[k];
      const f = p.functions[ln.fn];
      if (f.name === '') {
        // Named by the location's mapping: per location, not per function.
        const name = unsymbolizedName(p, loc);
        nodes[k] = id(name);
        fns[k] = fnId(name, f.filename, f.startLine);
      } else {
        if (nodeOfFn[ln.fn] < 0) {
          nodeOfFn[ln.fn] = id(f.name);
          fnOfFn[ln.fn] = fnId(f.name, f.filename, f.startLine);
        }
        nodes[k] = nodeOfFn[ln.fn];
        fns[k] = fnOfFn[ln.fn];
      }
      lines[k] = ln.line;
    }
    nodesOf.push(nodes);
    functionsOf.push(fns);
    linesOf.push(lines);
  }
  return { names, nodesOf, functions, functionsOf, linesOf };
}

function unsymbolizedName(p: Profile, loc: Location): string {
  const file = loc.mapping >= 0 ? p.mappings[loc.mapping].filename : '';
  if (file === '') return '<unknown>';
  const base = file.slice(file.lastIndexOf('/') + 1);
  return `[${base}]`;
}
