// Fresh ingest batches of synthetic CPU profiles at chosen times (the warm top and plan tests):
// per time, one profile per instance, its sample values scaled by time and instance so that mixing
// up two profiles, services or versions changes an answer. The same `tag` again redelivers a batch
// (same profile ids); `batchId` pins the batch id (a copy in a batch smaller than a merge's).
import { gzipSync } from 'node:zlib';
import { FreshBatch, prepareBytes } from '../../lib/ingest';
import { parseSourceMeta } from '../../lib/model/source';
import type { Store } from '../../lib/store/store';
import type { ParquetWriter } from '../../lib/store/parquet';
import { encodeProfile, sampleProfile } from './pprof-builder';

export const MIN_US = 60_000_000;

export const CPU_INSTANCES = [
  { inst: 'i1', service: 'svc-a', version: 'v1' },
  { inst: 'i2', service: 'svc-a', version: 'v2' },
  { inst: 'i3', service: 'svc-b', version: 'v1' },
];

export async function cpuBatch(store: Store, writer: ParquetWriter, times: number[], tag: string, o: { batchId?: string; only?: number } = {}): Promise<void> {
  const b = new FreshBatch({ store, writer });
  for (const t of times)
    for (const [i, { inst, service, version }] of CPU_INSTANCES.entries()) {
      if (o.only !== undefined && i !== o.only) continue;
      const p = sampleProfile();
      const k = BigInt(((t / MIN_US) % 7) + i + 1);
      p.timeNanos = BigInt(t) * 1000n;
      p.samples = (p.samples ?? []).map((s) => ({ ...s, values: (s.values ?? []).map((v) => BigInt(v) * k) }));
      b.add(prepareBytes(gzipSync(encodeProfile(p)), parseSourceMeta({ service, instance: inst, version, source: `${inst}-${t}-cpu.pb.gz`, sourceId: `test:${inst}:${t}:${tag}` })).entries);
    }
  await b.publish(o.batchId);
}
