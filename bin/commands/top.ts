import { top, type TopQuery } from '../../lib/query/top';
import { partitionFilter } from '../../lib/query/cohort';
import { exactJson } from '../../lib/query/json';
import { formatShare, formatValue } from '../../lib/model/units';
import type { ProfileKind } from '../../lib/model/profile';
import { openLocalEngine } from './local';

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
  };
}

export async function runTop(o: CohortOptions & { limit: number; by: 'flat' | 'cum'; json?: boolean }): Promise<number> {
  const q = { ...cohortQuery(o), limit: o.limit, by: o.by };
  const engine = await openLocalEngine(o.data, partitionFilter(q));
  try {
    const r = await top(engine, q);
    if (o.json) {
      process.stdout.write(exactJson(r) + '\n');
      return 0;
    }
    process.stdout.write(`Type: ${r.type} (${r.sampleType})\nShowing ${r.functions.length} functions of ${formatValue(r.total, r.unit)} total\n`);
    process.stdout.write(`${'flat'.padStart(12)} ${'flat%'.padStart(7)} ${'cum'.padStart(12)} ${'cum%'.padStart(7)}  function\n`);
    for (const f of r.functions) {
      process.stdout.write(
        `${formatValue(f.flat, r.unit).padStart(12)} ${formatShare(Math.abs(Number(f.flat)), r.total).padStart(7)} ${formatValue(f.cum, r.unit).padStart(12)} ${formatShare(Math.abs(Number(f.cum)), r.total).padStart(7)}  ${f.name}\n`,
      );
    }
    return 0;
  } finally {
    engine.close();
  }
}
