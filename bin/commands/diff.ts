import { diff, diffPartitionFilter, type DiffQuery, type DiffResult } from '../../lib/query/diff';
import { exactJson } from '../../lib/query/json';
import { formatPercent, formatValue } from '../../lib/model/units';
import type { ProfileKind } from '../../lib/model/profile';
import { openLocalEngine } from './local';

export interface DiffOptions {
  data: string;
  type: ProfileKind;
  sampleType?: string;
  service?: string;
  instance?: string;
  label: Record<string, string>;
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

export async function runDiff(o: DiffOptions): Promise<number> {
  const q = diffQuery(o);
  if (!Number.isFinite(q.alpha) || !Number.isFinite(q.minEffect)) {
    process.stderr.write('fleetprof diff: --alpha and --min-effect must be numbers\n');
    return 1;
  }
  const engine = await openLocalEngine(o.data, diffPartitionFilter(q));
  try {
    const r = await diff(engine, q);
    process.stdout.write(o.json ? exactJson(r) + '\n' : diffTable(r));
    return 0;
  } catch (e) {
    process.stderr.write(`fleetprof diff: ${(e as Error).message}\n`);
    return 1;
  } finally {
    engine.close();
  }
}
