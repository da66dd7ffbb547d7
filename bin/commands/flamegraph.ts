import type { Command } from 'commander';
import { flameGraph, flamePartitionFilter, type FlameQuery } from '../../lib/query/flamegraph';
import { renderFlameHtml } from '../../lib/render/flamegraph';
import { cohortNoMatch, cohortQuery, type CohortOptions } from './top';
import { withEngine } from './engine';
import { noMatch } from './empty';
import { cohortOptions, isoTime } from './options';
import { action, EXIT } from './run';
import { writeOutput } from './stdio';

export interface FlameOptions extends CohortOptions {
  out: string;
  baseFrom?: number;
  baseTo?: number;
  baseVersion?: string;
}

export function register(program: Command): void {
  cohortOptions(program.command('flamegraph').description('write a self-contained interactive flame graph (HTML) of a cohort, or a differential one with --base-*'))
    .requiredOption('--out <file>', 'output .html (- = stdout)')
    .option('--base-from <time>', 'differential: baseline capture time >= base-from', isoTime)
    .option('--base-to <time>', 'differential: baseline capture time < base-to', isoTime)
    .option('--base-version <v>', 'differential: baseline version')
    .action(action('flamegraph', runFlamegraph));
}

export async function runFlamegraph(o: FlameOptions): Promise<number> {
  const target = cohortQuery(o);
  const differential = o.baseFrom !== undefined || o.baseTo !== undefined || o.baseVersion !== undefined;
  const q: FlameQuery = { ...target, sampleType: o.sampleType };
  if (differential) q.base = { ...target, fromUs: o.baseFrom, toUs: o.baseTo, version: o.baseVersion ?? target.version };
  const g = await withEngine(o.data, flamePartitionFilter(q), (e) => flameGraph(e, q));
  await writeOutput(o.out, renderFlameHtml(g));
  process.stderr.write(`fleetprof flamegraph: ${g.title}, total ${g.total}${g.differential ? `, baseline ${g.baseTotal}` : ''} -> ${o.out === '-' ? 'stdout' : o.out}\n`);
  const empty =
    g.total === 0
      ? cohortNoMatch(o)
      : g.differential && g.baseTotal === 0
        ? noMatch(`baseline ${o.type} samples`, o.data, { '--sample-type': o.sampleType, '--service': o.service, '--instance': o.instance, '--label': o.label, '--base-version': o.baseVersion ?? o.version, '--base-from': o.baseFrom, '--base-to': o.baseTo })
        : undefined;
  if (empty) {
    process.stderr.write(`fleetprof flamegraph: ${empty.message}\n`);
    return EXIT.noData;
  }
  return EXIT.ok;
}
