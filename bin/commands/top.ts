import type { Command } from 'commander';
import { Option } from 'commander';
import { top, topPartitionFilter, type TopQuery } from '../../lib/query/top';
import type { GaugeAggregate } from '../../lib/model/temporality';
import { exactJson } from '../../lib/query/json';
import { formatShare, formatValue } from '../../lib/model/units';
import type { ProfileKind } from '../../lib/model/profile';
import { withEngine } from './engine';
import { noMatch } from './empty';
import { action, EXIT } from './run';
import { cohortOptions, positiveInt } from './options';

export interface CohortOptions {
  data: string;
  type: ProfileKind;
  sampleType?: string;
  service?: string;
  version?: string;
  instance?: string;
  label: Record<string, string>;
  from?: number;
  to?: number;
  aggregate?: GaugeAggregate;
  lookback?: number;
}

export function cohortQuery(o: CohortOptions): TopQuery {
  return {
    kind: o.type,
    sampleType: o.sampleType,
    service: o.service,
    version: o.version,
    instance: o.instance,
    labels: o.label,
    fromUs: o.from,
    toUs: o.to,
    aggregate: o.aggregate,
    lookbackUs: o.lookback,
  };
}

/** The "no data" error of a cohort that matched nothing, naming its filters. */
export function cohortNoMatch(o: CohortOptions) {
  return noMatch(`${o.type} samples`, o.data, {
    '--sample-type': o.sampleType,
    '--service': o.service,
    '--version': o.version,
    '--instance': o.instance,
    '--label': o.label,
    '--from': o.from,
    '--to': o.to,
  });
}

export function register(program: Command): void {
  cohortOptions(program.command('top').description('top functions of a cohort, merged exactly as go tool pprof -top'))
    .option('--limit <n>', 'at most n functions (0 = all)', positiveInt, 0)
    .addOption(new Option('--by <order>', 'sort order').choices(['flat', 'cum']).default('flat'))
    .option('--json', 'print JSON')
    .action(action('top', runTop));
}

export async function runTop(o: CohortOptions & { limit: number; by: 'flat' | 'cum'; json?: boolean }): Promise<number> {
  const q = { ...cohortQuery(o), limit: o.limit, by: o.by };
  const r = await withEngine(o.data, topPartitionFilter(q), (e) => top(e, q));
  if (o.json) {
    process.stdout.write(exactJson(r) + '\n');
  } else {
    process.stdout.write(`Type: ${r.type} (${r.sampleType})\nShowing ${r.functions.length} functions of ${formatValue(r.total, r.unit)} total\n`);
    process.stdout.write(`${'flat'.padStart(12)} ${'flat%'.padStart(7)} ${'cum'.padStart(12)} ${'cum%'.padStart(7)}  function\n`);
    for (const f of r.functions) {
      process.stdout.write(
        `${formatValue(f.flat, r.unit).padStart(12)} ${formatShare(Math.abs(Number(f.flat)), r.total).padStart(7)} ${formatValue(f.cum, r.unit).padStart(12)} ${formatShare(Math.abs(Number(f.cum)), r.total).padStart(7)}  ${f.name}\n`,
      );
    }
  }
  if (r.functions.length === 0 && Number(r.total) === 0) {
    process.stderr.write(`fleetprof top: ${cohortNoMatch(o).message}\n`);
    return EXIT.noData;
  }
  return EXIT.ok;
}
