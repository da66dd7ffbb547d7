// The detector scenario suite (scripts/gen-scenarios.sh): ingests every run of
// test/fixtures/scenarios into a data directory, the gctrace logs with their run's start time.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ingestBytes } from '../../lib/ingest';
import { parseSourceMeta } from '../../lib/model/source';
import { LocalStore } from '../../lib/store/local';
import { openDuckDb, ParquetWriter } from '../../lib/store/parquet';

export const SCENARIOS = path.join(__dirname, '../fixtures/scenarios');

export interface ScenarioRun {
  run: string;
  phase: 'baseline' | 'window';
  service: string;
  instance: string;
  version: string;
  inject: string;
  startTime: string;
  endTime: string;
}

export interface ScenarioManifest {
  baseline: { from: string; to: string };
  window: { from: string; to: string };
  expected: Record<string, { area: string; culprit: string } | null>;
  runs: ScenarioRun[];
}

export function scenarioManifest(): ScenarioManifest {
  return JSON.parse(readFileSync(path.join(SCENARIOS, 'MANIFEST.json'), 'utf8')) as ScenarioManifest;
}

export async function ingestScenarios(dataDir: string, only?: (r: ScenarioRun) => boolean): Promise<ScenarioManifest> {
  const m = scenarioManifest();
  const store = new LocalStore(dataDir);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  try {
    for (const r of m.runs) {
      if (only && !only(r)) continue;
      const dir = path.join(SCENARIOS, 'runs', r.run);
      for (const f of readdirSync(dir).sort()) {
        const file = path.join(dir, f);
        const meta = parseSourceMeta({
          service: r.service,
          instance: r.instance,
          version: r.version,
          startUs: Date.parse(r.startTime) * 1000,
          source: file,
          sourceId: `scenarios/${r.run}/${f}`,
        });
        await ingestBytes(readFileSync(file), meta, { store, writer });
      }
    }
  } finally {
    writer.close();
    instance.closeSync();
  }
  return m;
}
