import { Option, type Command } from 'commander';
import { diff, diffPartitionFilter, type DiffQuery, type DiffResult } from '../../lib/query/diff';
import { exactJson } from '../../lib/query/json';
import { formatPercent, formatValue } from '../../lib/model/units';
import { PROFILE_KINDS, type ProfileKind } from '../../lib/model/profile';
import { withEngine } from './engine';
import { noMatch } from './empty';
import { collectLabel, dataOption, isoTime, positiveInt, typeOptions, windowOptions } from './options';
import type { GaugeAggregate } from '../../lib/model/temporality';
import { action, CliError, EXIT } from './run';

export interface DiffOptions {
  data: string;
  type: ProfileKind;
  sampleType?: string;
  service?: string;
  instance?: string;
  label: Record<string, string>;
  aggregate?: GaugeAggregate;
  lookback?: number;
  baseFrom?: number;
  baseTo?: number;
  from?: number;
  to?: number;
  baseVersion?: string;
  version?: string;
  measure: 'share' | 'norm';
  alpha: string;
  minEffect: string;
  limit: number;
  json?: boolean;
}

export function diffQuery(o: DiffOptions): DiffQuery {
  return {
    kind: o.type,
    sampleType: o.sampleType,
    service: o.service,
    instance: o.instance,
    labels: o.label,
    base: { fromUs: o.baseFrom, toUs: o.baseTo, version: o.baseVersion },
    target: { fromUs: o.from, toUs: o.to, version: o.version },
    measure: o.measure,
    alpha: Number(o.alpha),
    minEffect: Number(o.minEffect),
    limit: o.limit,
    aggregate: o.aggregate,
    lookbackUs: o.lookback,
  };
}

const signedPct = (x: number) => (x >= 0 ? '+' : '') + formatPercent(x, 2);

export function diffTable(r: DiffResult): string {
  let out = `Type: ${r.type} (${r.sampleType}); base: ${r.base.profiles} profiles, ${formatValue(r.base.total, r.unit)}; target: ${r.target.profiles} profiles, ${formatValue(r.target.total, r.unit)}\n`;
  out += `${'base cum%'.padStart(10)} ${'target cum%'.padStart(11)} ${'delta'.padStart(9)} ${'p'.padStart(8)}  sig  function\n`;
  for (const f of r.functions) {
    out += `${formatPercent(f.base.cum_share, 2).padStart(10)} ${formatPercent(f.target.cum_share, 2).padStart(11)} ${signedPct(f.delta_cum_share).padStart(9)} ${(f.p_value === null ? '-' : f.p_value.toPrecision(2)).padStart(8)}  ${f.significant ? ' * ' : '   '}  ${f.name}\n`;
  }
  const n = r.functions.filter((f) => f.significant).length;
  out += n === 0 ? 'no significant change\n' : `${n} significant change(s)\n`;
  return out;
}

export function register(program: Command): void {
  const cmd = program
    .command('diff')
    .description('compare two cohorts (baseline vs target): per function flat/cum, shares, normalized values and significance')
    .addOption(dataOption());
  typeOptions(cmd, 'profile kind', PROFILE_KINDS, true)
    .option('--sample-type <name>', 'sample type (default: what go tool pprof shows for the kind)')
    .option('--service <name>', 'only this service')
    .option('--instance <id>', 'only this instance')
    .option('--label <k=v>', 'only profiles with this upload label, else samples with this pprof label (repeatable; docs/cli.md)', collectLabel, {})
    .addOption(windowOptions.aggregate())
    .addOption(windowOptions.lookback())
    .option('--base-from <time>', 'baseline: capture time >= base-from', isoTime)
    .option('--base-to <time>', 'baseline: capture time < base-to', isoTime)
    .option('--from <time>', 'target: capture time >= from', isoTime)
    .option('--to <time>', 'target: capture time < to', isoTime)
    .option('--base-version <v>', 'baseline: only this version')
    .option('--version <v>', 'target: only this version (the program version: fleetprof --version)')
    .addOption(new Option('--measure <m>', 'what the significance test compares per profile').choices(['share', 'norm']).default('share'))
    .option('--alpha <p>', 'p-value threshold', '0.01')
    .option('--min-effect <x>', 'minimum |delta cum share| (measure share) or relative change (measure norm)', '0.02')
    .option('--limit <n>', 'at most n functions (0 = all)', positiveInt, 0)
    .option('--json', 'print JSON')
    .action(action('diff', runDiff));
}

export async function runDiff(o: DiffOptions): Promise<number> {
  const q = diffQuery(o);
  if (!Number.isFinite(q.alpha) || !Number.isFinite(q.minEffect)) throw new CliError('--alpha and --min-effect must be numbers');
  const r = await withEngine(o.data, diffPartitionFilter(q), (e) => diff(e, q));
  process.stdout.write(o.json ? exactJson(r) + '\n' : diffTable(r));
  // A side without profiles compares nothing.
  const common = { '--sample-type': o.sampleType, '--service': o.service, '--instance': o.instance, '--label': o.label };
  const empty =
    r.base.profiles === 0
      ? noMatch(`baseline ${o.type} profiles`, o.data, { ...common, '--base-version': o.baseVersion, '--base-from': o.baseFrom, '--base-to': o.baseTo })
      : r.target.profiles === 0
        ? noMatch(`target ${o.type} profiles`, o.data, { ...common, '--version': o.version, '--from': o.from, '--to': o.to })
        : undefined;
  if (empty) {
    process.stderr.write(`fleetprof diff: ${empty.message}\n`);
    return EXIT.noData;
  }
  return EXIT.ok;
}
