import { writeFileSync } from 'node:fs';
import { flameGraph, flamePartitionFilter, type FlameQuery } from '../../lib/query/flamegraph';
import { renderFlameHtml } from '../../lib/render/flamegraph';
import { cohortQuery, type CohortOptions } from './top';
import { openLocalEngine } from './local';

export interface FlameOptions extends CohortOptions {
  out: string;
  baseFrom?: number;
  baseTo?: number;
  baseVersion?: string;
}

export async function runFlamegraph(o: FlameOptions): Promise<number> {
  const target = cohortQuery(o);
  const differential = o.baseFrom !== undefined || o.baseTo !== undefined || o.baseVersion !== undefined;
  const q: FlameQuery = { ...target, sampleType: o.sampleType };
  if (differential) q.base = { ...target, fromUs: o.baseFrom, toUs: o.baseTo, version: o.baseVersion ?? target.version };
  const engine = await openLocalEngine(o.data, flamePartitionFilter(q));
  try {
    const g = await flameGraph(engine, q);
    writeFileSync(o.out, renderFlameHtml(g));
    process.stderr.write(`fleetprof flamegraph: ${g.title}, total ${g.total}${g.differential ? `, baseline ${g.baseTotal}` : ''} -> ${o.out}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`fleetprof flamegraph: ${(e as Error).message}\n`);
    return 1;
  } finally {
    engine.close();
  }
}
