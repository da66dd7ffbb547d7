// A flame graph as the API returns it and the page embeds it: the one shape shared by the query
// that builds it (lib/query/flamegraph.ts), the HTML renderer and the browser bundle (web/).
//
// Node values: `v` = sum of the values of the stacks passing through the node (target), `b` = the
// same for the baseline. The root's value is the cohort total that `fleetprof top` prints, and a
// node's own value (v minus its children's) summed over the nodes of a function is that
// function's flat.

export interface FlameNode {
  /** Function name. */
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
  /** Differential: what each side is (version, time span), for the page's legend. */
  baseLabel?: string;
  targetLabel?: string;
  /** function name -> `file:start_line` where it is defined (lib/query/locations.ts). */
  locations?: Record<string, string>;
  root: FlameNode;
}
