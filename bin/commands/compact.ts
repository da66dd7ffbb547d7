import { InvalidArgumentError, type Command } from 'commander';
import { compact } from '../../lib/store/compact';
import { requireDataDir, withWriter } from './engine';
import { dataOption } from './options';
import { action } from './run';

export function register(program: Command): void {
  program
    .command('compact')
    .description('merge the per-source files of closed partitions into one file per table and partition')
    .addOption(dataOption())
    .option('--before <date>', 'compact partitions whose dt is before this YYYY-MM-DD (default: today, UTC)', (v: string) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new InvalidArgumentError(`not a YYYY-MM-DD date: "${v}"`);
      return v;
    })
    .option('--all', 'compact every partition, today included')
    .action(action('compact', runCompact));
}

export async function runCompact(o: { data: string; before?: string; all?: boolean }): Promise<number> {
  requireDataDir(o.data);
  return withWriter(o.data, async ({ store, writer }) => {
    // --all: every partition, today's included (a partition still receiving data just gets
    // compacted again later, merging the new files into the compacted one).
    const r = await compact(store, writer, { before: o.all ? '9999-12-31' : o.before });
    const ratio = r.bytesAfter > 0 ? (r.bytesBefore / r.bytesAfter).toFixed(1) : '-';
    process.stderr.write(`compacted ${r.partitions} partitions: ${r.filesMerged} files, ${r.bytesBefore} -> ${r.bytesAfter} bytes (${ratio}x)\n`);
    return 0;
  });
}
