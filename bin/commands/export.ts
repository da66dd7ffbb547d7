import { promises as fs } from 'node:fs';
import { exportMerged } from '../../lib/query/export';
import { partitionFilter } from '../../lib/query/cohort';
import { openLocalEngine } from './local';
import { cohortQuery, type CohortOptions } from './top';

export async function runExport(o: CohortOptions & { out: string }): Promise<number> {
  const q = cohortQuery(o);
  const engine = await openLocalEngine(o.data, partitionFilter(q));
  try {
    const bytes = await exportMerged(engine, q);
    await fs.writeFile(o.out, bytes);
    process.stderr.write(`wrote ${o.out} (${bytes.length} bytes)\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`fleetprof export: ${(e as Error).message}\n`);
    return 1;
  } finally {
    engine.close();
  }
}
