// The detector scenario suites (scripts/gen-scenarios.sh): ingests the runs of a suite into a data
// directory (the gctrace logs with their run's start time, the process identity of each run) and
// runs the digest per service over that service's phase bounds. Used by the tests and by
// bench/detectors.ts, which measures recall and false positives on freshly generated suites.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { digest, type DigestResult } from '../../lib/detect/digest';
import type { Anomaly } from '../../lib/detect/finding';
import { FreshBatch, ingestBytes, prepareUpload } from '../../lib/ingest';
import { parseSourceMeta } from '../../lib/model/source';
import { uploadSourceMeta } from '../../lib/model/upload-key';
import { openEngine } from '../../lib/query/open';
import { LocalStore } from '../../lib/store/local';
import { openDuckDb, ParquetWriter } from '../../lib/store/parquet';

export const SCENARIOS = path.join(__dirname, '../fixtures/scenarios');
export const SCENARIOS_AGENT = path.join(__dirname, '../fixtures/scenarios-agent');

export interface ScenarioRun {
  run: string;
  phase: 'baseline' | 'window' | 'both';
  service: string;
  instance: string;
  version: string;
  inject: string;
  startTime: string;
  endTime: string;
  process: string;
}

export interface PhaseBounds {
  baseline: { from: string; to: string };
  window: { from: string; to: string };
}

export interface Expectation {
  area: string;
  culprit: string;
}

/** `baseline` and `window` (the global phases) exist in captures mode only; `services` has every service's bounds. */
export interface ScenarioManifest extends PhaseBounds {
  mode: 'captures' | 'agent';
  services: Record<string, PhaseBounds>;
  expected: Record<string, Expectation | null>;
  runs: ScenarioRun[];
}

export function scenarioManifest(suite = SCENARIOS): ScenarioManifest {
  return JSON.parse(readFileSync(path.join(suite, 'MANIFEST.json'), 'utf8')) as ScenarioManifest;
}

/** Ingests every run of `suite` that `only` keeps (all by default). */
export async function ingestScenarios(
  dataDir: string,
  only?: (r: ScenarioRun) => boolean,
  suite = SCENARIOS,
  /** Agent mode: bundle members to leave out (e.g. /^goroutine\./: an agent configured without goroutine profiles). */
  dropMembers?: RegExp,
): Promise<ScenarioManifest> {
  const m = scenarioManifest(suite);
  const store = new LocalStore(dataDir);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  try {
    for (const r of m.runs) {
      if (only && !only(r)) continue;
      const dir = path.join(suite, 'runs', r.run);
      if (m.mode === 'agent') {
        await ingestAgentUploads(dir, { store, writer }, dropMembers);
        continue;
      }
      for (const f of readdirSync(dir).sort()) {
        const file = path.join(dir, f);
        const meta = parseSourceMeta({
          service: r.service,
          instance: r.instance,
          version: r.version,
          process: r.process,
          // Agent mode writes counters as deltas over their period (pNNN_<kind>.delta.pb.gz).
          temporality: f.includes('.delta.') ? 'delta' : undefined,
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

/**
 * Agent mode: the agent's uploads (bundles) as the ingest Lambda takes them: the key and
 * x-amz-meta-* metadata (<file>.meta.json) give the SourceMeta (uploadSourceMeta), prepareUpload
 * expands the bundle, and a run's uploads are written as one batch (one file per table per hour,
 * as an SQS batch is). A member that does not decode fails the scenario: the agent wrote it.
 */
async function ingestAgentUploads(dir: string, ctx: { store: LocalStore; writer: ParquetWriter }, dropMembers?: RegExp): Promise<void> {
  const batch = new FreshBatch(ctx);
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.meta.json')) continue;
    const up = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { key: string; metadata?: Record<string, string> };
    const body = readFileSync(path.join(dir, f.slice(0, -'.meta.json'.length)));
    const meta = uploadSourceMeta({ bucket: 'scenarios', key: up.key, etag: f, metadata: up.metadata });
    for (const input of prepareUpload(body, meta).inputs) {
      if (!input.ok) throw new Error(`${up.key}: member ${input.member}: ${(input.error as Error).message}`);
      if (dropMembers && input.member !== undefined && dropMembers.test(input.member)) continue;
      batch.add(input.prepared.entries);
    }
    if (batch.full) await batch.publish();
  }
  await batch.publish();
}

const us = (iso: string) => Date.parse(iso) * 1000;

/** The digest of one service over its phase bounds (window = the window phase, baseline = the baseline phase). */
export async function serviceDigest(dataDir: string, service: string, b: PhaseBounds): Promise<DigestResult> {
  const engine = await openEngine(new LocalStore(dataDir), { service }, [dataDir]);
  try {
    const now = us(b.window.to);
    return await digest(engine, {
      nowUs: now,
      windowUs: now - us(b.window.from),
      baselineUs: us(b.window.from) - us(b.baseline.from),
      service,
      dataDir,
    });
  } finally {
    engine.close();
  }
}

/**
 * Found: an anomaly naming the injected function first whose area is the expected one, or that
 * lists the expected area among the side effects of the same cause (lib/detect/digest.ts mergeByCause).
 */
export function isFound(anomalies: readonly Anomaly[], e: Expectation): boolean {
  return anomalies.some((a) => a.culprits[0] === e.culprit && (a.area === e.area || (a.related ?? []).some((r) => r.area === e.area)));
}

/** A false positive: an anomaly of a service with no injection, or one that does not name the injected function. */
export function falsePositives(anomalies: readonly Anomaly[], e: Expectation | null): Anomaly[] {
  return anomalies.filter((a) => e === null || !a.culprits.includes(e.culprit));
}
