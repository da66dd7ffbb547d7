import { parseTime } from '../../lib/model/time';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { runIngest } from './ingest';
import { runTop } from './top';
import { runGc } from './gc';
import type { Command } from 'commander';
import { action } from './run';

// `npm start`: the whole local pipeline on the real Go profiles and gctrace logs the repository ships.

interface ManifestRun {
  dir: string;
  service: string;
  instance: string;
  version: string;
  start: string;
}

export function samplesDir(): string {
  // dist/bin/commands -> repository root, or bin/commands when run from source.
  for (const up of ['../../..', '../..']) {
    const dir = path.resolve(__dirname, up, 'test/fixtures/go');
    try {
      require('node:fs').accessSync(path.join(dir, 'MANIFEST.json'));
      return dir;
    } catch {
      /* try the next candidate */
    }
  }
  throw new Error('sample profiles not found (test/fixtures/go/MANIFEST.json)');
}

export async function loadManifest(dir: string): Promise<ManifestRun[]> {
  const m = JSON.parse(await fs.readFile(path.join(dir, 'MANIFEST.json'), 'utf8')) as { runs: Record<string, unknown>[] };
  return m.runs.map((r) => ({
    dir: path.join(dir, String(r.run ?? r.name ?? r.dir)),
    service: String(r.service),
    instance: String(r.instance),
    version: String(r.version),
    start: String(r.startTime ?? r.start),
  }));
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('ingest the sample profiles shipped with fleetprof into a directory and print fleet top functions')
    .option('--data <dir>', 'data directory', '.fleetprof/demo')
    .action(action('demo', runDemo));
}

export async function runDemo(o: { data: string }): Promise<number> {
  const dir = samplesDir();
  const runs = await loadManifest(dir);
  await fs.rm(o.data, { recursive: true, force: true });
  let rc = 0;
  for (const run of runs) {
    const files = (await fs.readdir(run.dir)).filter((f) => f.endsWith('.pb.gz') || f === 'gctrace.log').map((f) => path.join(run.dir, f));
    process.stderr.write(`== ${run.service} ${run.version} ${run.instance}\n`);
    rc |= await runIngest(files, {
      data: o.data,
      service: run.service,
      instance: run.instance,
      version: run.version,
      label: {},
      start: parseTime(run.start),
    });
  }
  for (const kind of ['cpu', 'heap'] as const) {
    process.stdout.write(`\n== fleet top ${kind} (all services, versions, instances)\n`);
    rc |= await runTop({ data: o.data, type: kind, label: {}, limit: 15, by: 'flat' });
  }
  // The gctrace logs were ingested with the run's startTime as process start (--start).
  process.stdout.write(`\n== GC summary per service and version (fleetprof gc, 1h buckets)\n`);
  rc |= await runGc({ data: o.data, bucket: '1h' });
  process.stdout.write(`\nTry: npx fleetprof sql --data ${o.data} "SELECT version, function, SUM(flat) FROM functions WHERE kind='cpu' GROUP BY ALL ORDER BY 3 DESC LIMIT 10"\n`);
  process.stdout.write(`     npx fleetprof gc --data ${o.data} --bucket 1s   (GC trends per second, with diagnostics)\n`);
  return rc;
}
