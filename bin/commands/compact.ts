import { compact } from '../../lib/store/compact';
import { openLocalWriter } from './local';

export async function runCompact(o: { data: string; before?: string; all?: boolean }): Promise<number> {
  const { store, writer, close } = await openLocalWriter(o.data);
  try {
    // --all: every partition, today's included (a partition still receiving data just gets
    // compacted again later, merging the new files into the compacted one).
    const r = await compact(store, writer, { before: o.all ? '9999-12-31' : o.before });
    const ratio = r.bytesAfter > 0 ? (r.bytesBefore / r.bytesAfter).toFixed(1) : '-';
    process.stderr.write(`compacted ${r.partitions} partitions: ${r.filesMerged} files, ${r.bytesBefore} -> ${r.bytesAfter} bytes (${ratio}x)\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`fleetprof compact: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await close();
  }
}
