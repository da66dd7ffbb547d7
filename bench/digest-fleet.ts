// The digest over a simulated fleet day (docs/performance.md, "Digest"): the detector scenario
// suite's real profiles and gctrace logs (test/fixtures/scenarios) replayed across N instances of
// its six services x 24 hourly captures; hours 0-19 replay the baseline runs, hours 20-23 the window
// runs (v2 with the injected regressions). Ingested with the production ingest code (profiles:
// decode -> profileRows -> publish, with the capture time moved to the replay's hour) into a local
// data directory; then `fleetprof digest` (or `fleetprof compact` first) is timed separately.
//
//   node dist/bench/digest-fleet.js DIR [instances=100] [part=0] [parts=1]
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { decodeProfile } from '../lib/decode';
import { detectKind } from '../lib/decode/kind';
import { ingestBytes, publishEntries } from '../lib/ingest';
import { profileRows } from '../lib/normalize/profile-rows';
import { sourceToProfileId } from '../lib/store/layout';
import { parseSourceMeta } from '../lib/model/source';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';

const ROOT = path.join(__dirname, '..', '..');
const SCEN = path.join(ROOT, 'test/fixtures/scenarios');
export const DAY = '2026-11-20T00:00:00.000Z';

interface Run { run: string; phase: string; service: string; version: string }

async function main(): Promise<void> {
  const [dir, nArg, partArg, partsArg] = process.argv.slice(2);
  const instances = Number(nArg ?? 100);
  const part = Number(partArg ?? 0);
  const parts = Number(partsArg ?? 1);
  const m = JSON.parse(readFileSync(path.join(SCEN, 'MANIFEST.json'), 'utf8')) as { runs: Run[] };
  const services = [...new Set(m.runs.map((r) => r.service))];
  const files = new Map(m.runs.map((r) => [r.run, readdirSync(path.join(SCEN, 'runs', r.run)).sort().map((f) => [f, readFileSync(path.join(SCEN, 'runs', r.run, f))] as const)]));
  const store = new LocalStore(dir);
  const inst = await openDuckDb();
  const writer = await ParquetWriter.create(inst);
  const day = Date.parse(DAY);
  const t0 = Date.now();
  let n = 0;
  for (let i = 0; i < instances; i++) {
    if (i % parts !== part) continue;
    const service = services[i % services.length];
    for (let h = 0; h < 24; h++) {
      const phase = h < 20 ? 'baseline' : 'window';
      const runs = m.runs.filter((r) => r.service === service && r.phase === phase);
      const r = runs[(i + h) % runs.length];
      // Spread the instances over the first 30 minutes of each hour.
      const startMs = day + h * 3600_000 + (i % 30) * 60_000 + i * 997;
      for (const [f, bytes] of files.get(r.run)!) {
        const meta = parseSourceMeta({ service, instance: `i-${i}`, version: r.version, startUs: startMs * 1000, source: f, sourceId: `fleet/${i}/${h}/${f}` });
        if (f.endsWith('.pb.gz')) {
          // The profile's own capture time moved to the replay's hour (ingest keeps the pprof time).
          const p = { ...decodeProfile(bytes), timeNanos: BigInt(startMs) * 1_000_000n };
          const id = sourceToProfileId(meta.sourceId, startMs * 1000);
          const rows = profileRows(p, detectKind(p, meta.kind), meta, id);
          await publishEntries({ store, writer }, [
            { table: 'functions', rows: rows.functions },
            { table: 'stacks', rows: rows.stacks },
            { table: 'profiles', rows: rows.profiles },
          ]);
        } else await ingestBytes(bytes, meta, { store, writer });
        n++;
      }
    }
    process.stderr.write(`instance ${i}: ${n} files, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  writer.close();
  inst.closeSync();
  process.stdout.write(`ingested ${n} files in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

void main();
