import type { Command } from 'commander';
import { exportMerged, isExportError } from '../../lib/query/export';
import { windowPartitionFilter } from '../../lib/query/window';
import { withEngine } from './engine';
import { cohortOptions } from './options';
import { action } from './run';
import { cohortNoMatch, cohortQuery, type CohortOptions } from './top';
import { writeOutput } from './stdio';

export function register(program: Command): void {
  cohortOptions(program.command('export').description('write the merged profile of a cohort as .pb.gz'))
    .requiredOption('--out <file>', 'output .pb.gz (- = stdout)')
    .action(action('export', runExport));
}

export async function runExport(o: CohortOptions & { out: string }): Promise<number> {
  const q = cohortQuery(o);
  const bytes = await withEngine(o.data, windowPartitionFilter(q), async (e) => {
    try {
      return await exportMerged(e, q);
    } catch (err) {
      if (isExportError(err, 'no-profiles')) throw cohortNoMatch({ ...o, sampleType: undefined });
      throw err;
    }
  });
  await writeOutput(o.out, bytes);
  process.stderr.write(`wrote ${o.out === '-' ? 'stdout' : o.out} (${bytes.length} bytes)\n`);
  return 0;
}
