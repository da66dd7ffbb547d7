import { parseDurationMs } from '../../lib/model/time';
import { createHash } from 'node:crypto';
import { decodeProfile } from '../../lib/decode';
import { ingestBytes } from '../../lib/ingest';
import { parseSourceMeta } from '../../lib/model/source';
import { uploadMetadata, uploadSourceMeta } from '../../lib/model/upload-key';
import { nextRoundAt, parseProfiles, ProcessIds, resolveTargets, scrapeRound, type Capture, type ProfileResult, type ScrapeTarget, type Sink } from '../../lib/scrape';
import type { Command } from 'commander';
import { DEFAULT_SCRAPE_PROFILES, isDeltaKind } from '../../lib/scrape/targets';
import { openLocalWriter } from './engine';
import { bucketOption, collectLabel, collectList, dataOption, positiveInt } from './options';
import { action } from './run';
import { planUpload } from './upload';

// Pull mode: GET /debug/pprof/* from running Go services (net/http/pprof) and either ingest the
// profiles into a data directory (as `fleetprof ingest`) or upload them to the bucket under the
// upload contract (as `fleetprof upload`). The logic is in lib/scrape/; this is the glue.

function durationMsFlag(flag: string, v: string): number {
  try {
    return parseDurationMs(v);
  } catch (e) {
    throw new Error(`${flag}: ${(e as Error).message}`, { cause: e });
  }
}

export interface ScrapeOptions {
  target: string[];
  service: string;
  instance?: string[];
  version: string;
  label: Record<string, string>;
  bucket?: string;
  data?: string;
  every: string;
  once?: boolean;
  profiles: string;
  cpuSeconds: number;
  deltaSeconds?: number;
  timeout: string;
  concurrency: number;
  maxBytes: number;
  maxAttempts: number;
}

export const DEFAULT_MAX_SCRAPE_BYTES = 64 * 1024 * 1024;

export function register(program: Command): void {
  program
    .command('scrape')
    .description('pull /debug/pprof/* from running Go services (net/http/pprof) into a data directory or the bucket, once or every --every')
    .option('--target <url>', 'http://host:port (pprof under /debug/pprof/), or a URL ending in /debug/pprof (repeatable)', collectList, [])
    .requiredOption('--service <name>', 'service name')
    .option('--instance <id>', "instance id (default: the target's host_port; once per --target, in order)", collectList, [])
    .option('--version <v>', 'service version', '')
    .option('--label <k=v>', 'upload label (repeatable)', collectLabel, {})
    .addOption(bucketOption('upload to this S3 bucket under the upload contract (AWS chain, AWS_ENDPOINT_URL included)', false))
    .addOption(dataOption('ingest into this data directory instead', false))
    .option('--every <duration>', 'time between round starts: 500ms, 30s, 1m, 1h', '60s')
    .option('--once', 'one round, then exit (1 if any profile failed)')
    .option('--profiles <list>', 'profiles to pull: cpu,heap,allocs,goroutine,block,mutex,threadcreate', DEFAULT_SCRAPE_PROFILES.join(','))
    .option('--cpu-seconds <n>', 'CPU profile length (/debug/pprof/profile?seconds=N)', positiveInt, 10)
    .option('--delta-seconds <n>', 'heap, allocs, block and mutex as the increase over N seconds (?seconds=N); 0: cumulative snapshots (default: --cpu-seconds)', positiveInt)
    .option('--timeout <duration>', 'per request (the CPU profile gets --cpu-seconds on top)', '30s')
    .option('--concurrency <n>', 'targets scraped at the same time', positiveInt, 8)
    .option('--max-bytes <n>', 'refuse a profile response larger than this', positiveInt, DEFAULT_MAX_SCRAPE_BYTES)
    .option('--max-attempts <n>', 'attempts per S3 request (SDK standard retry)', positiveInt, 5)
    .action(async (opts: ScrapeOptions, cmd: Command) => {
      // $FLEETPROF_BUCKET and $FLEETPROF_DATA are defaults: a flag given on the command line wins
      // over the other one's environment default instead of being "both given".
      const fromEnv = (k: string) => cmd.getOptionValueSource(k) === 'env';
      if (opts.bucket !== undefined && opts.data !== undefined && fromEnv('bucket') !== fromEnv('data')) {
        if (fromEnv('bucket')) opts.bucket = undefined;
        else opts.data = undefined;
      }
      await action('scrape', runScrape)(opts);
    });
}

interface ClosableSink extends Sink {
  close(): Promise<void>;
}

/** Ingests into a data directory. One writer, so captures are ingested one at a time. */
async function dataDirSink(data: string, o: ScrapeOptions): Promise<ClosableSink> {
  const { store, writer, close } = await openLocalWriter(data);
  let chain: Promise<unknown> = Promise.resolve();
  const ingest = async (c: Capture): Promise<string> => {
    const hash = createHash('sha256').update(c.bytes).digest('hex');
    const meta = parseSourceMeta({
      service: o.service,
      instance: c.target.instance,
      version: o.version,
      labels: o.label,
      kind: c.kind,
      startUs: c.startMs * 1000,
      process: c.process,
      temporality: c.temporality,
      source: c.url,
      // As `fleetprof ingest`: the same bytes from the same instance are the same profile.
      sourceId: `local:${o.service}/${c.target.instance}/${hash}`,
    });
    const r = await ingestBytes(c.bytes, meta, { store, writer });
    return r.input === 'profile' ? `ingested ${r.kind} profile ${r.profileId} (${c.bytes.length} bytes)` : `ingested ${r.input} (${c.bytes.length} bytes)`;
  };
  return {
    put(c) {
      const p = chain.then(() => ingest(c));
      chain = p.catch(() => undefined);
      return p;
    },
    async close() {
      await chain;
      await close();
    },
  };
}

/** Uploads to the bucket with `fleetprof upload`'s key plan (capture start = request start). */
async function bucketSink(bucket: string, o: ScrapeOptions): Promise<ClosableSink> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // The AWS SDK is loaded only when uploading.
  const [{ PutObjectCommand }, { makeS3Client }] = await Promise.all([import('@aws-sdk/client-s3'), import('../../lib/aws/clients')]);
  const s3 = makeS3Client({ maxAttempts: o.maxAttempts });
  return {
    async put(c) {
      const metadata = uploadMetadata({ version: o.version, labels: o.label, process: c.process, temporality: c.temporality });
      // Refuse what the ingest Lambda would quarantine (an HTML error page served with 200, say).
      decodeProfile(c.bytes);
      // The file name only hints the kind (block vs mutex); planUpload decodes and decides.
      const plan = planUpload(c.kind, c.bytes, c.startMs, {
        bucket,
        service: o.service,
        instance: c.target.instance,
        version: o.version,
        label: o.label,
        start: c.startMs * 1000,
      });
      uploadSourceMeta({ bucket, key: plan.key, etag: 'check', metadata });
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: plan.key, Body: c.bytes, Metadata: metadata }));
      return `s3://${bucket}/${plan.key}`;
    },
    async close() {
      s3.destroy();
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

export async function runScrape(o: ScrapeOptions): Promise<number> {
  const err = (m: string) => process.stderr.write(`fleetprof scrape: ${m}\n`);
  let targets: ScrapeTarget[];
  let everyMs: number;
  let timeoutMs: number;
  let kinds: ReturnType<typeof parseProfiles>;
  let deltaSeconds: number;
  try {
    if ((o.bucket === undefined) === (o.data === undefined)) throw new Error('give exactly one of --bucket and --data');
    if (!Number.isInteger(o.cpuSeconds) || o.cpuSeconds < 1) throw new Error(`--cpu-seconds must be a whole number >= 1, got ${o.cpuSeconds}`);
    targets = resolveTargets(o.target ?? [], o.instance ?? []);
    for (const t of targets) parseSourceMeta({ service: o.service, instance: t.instance, version: o.version, labels: o.label, source: '-', sourceId: '-' });
    everyMs = durationMsFlag('--every', o.every);
    timeoutMs = durationMsFlag('--timeout', o.timeout);
    kinds = parseProfiles(o.profiles);
    if (kinds.includes('cpu') && !o.once && o.cpuSeconds * 1000 >= everyMs) throw new Error(`--cpu-seconds ${o.cpuSeconds} does not fit in a round every ${o.every}`);
    deltaSeconds = o.deltaSeconds ?? o.cpuSeconds;
    if (!Number.isInteger(deltaSeconds) || deltaSeconds < 0) throw new Error(`--delta-seconds must be a whole number >= 0, got ${deltaSeconds}`);
    if (deltaSeconds > 0 && kinds.some(isDeltaKind) && !o.once && deltaSeconds * 1000 >= everyMs) {
      throw new Error(`--delta-seconds ${deltaSeconds} does not fit in a round every ${o.every} (0 sends cumulative snapshots)`);
    }
  } catch (e) {
    err((e as Error).message);
    return 1;
  }

  const sink = o.data !== undefined ? await dataDirSink(o.data, o) : await bucketSink(o.bucket!, o);
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130); // second signal: no more waiting
    err(`${sig}: stopping`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const print = (r: ProfileResult) => {
    if (r.ok) process.stdout.write(`${r.target.target} ${r.kind}: ${r.where}\n`);
    else if (!r.interrupted || o.once) process.stderr.write(`${r.target.target} ${r.kind}: ${r.reason}\n`);
  };
  let failedAny = false;
  const processes = new ProcessIds();
  const t0 = Date.now();
  try {
    for (let round = 1; ; round++) {
      const start = Date.now();
      const results = await scrapeRound(targets, { kinds, cpuSeconds: o.cpuSeconds, deltaSeconds, processes, timeoutMs, maxBytes: o.maxBytes, concurrency: o.concurrency, signal: stop.signal, onResult: print }, sink);
      const failed = results.filter((r) => !r.ok).length;
      const bytes = results.reduce((s, r) => s + (r.ok ? r.bytes : 0), 0);
      if (failed > 0) failedAny = true;
      const secs = ((Date.now() - start) / 1000).toFixed(2);
      const where = o.data !== undefined ? `into ${o.data}` : `to s3://${o.bucket}/raw/${o.service}/`;
      err(`${o.once ? '' : `round ${round}: `}scraped ${results.length - failed} of ${results.length} profiles from ${targets.length} target(s) (${failed} failed, ${bytes} bytes) ${where} in ${secs}s`);
      if (o.once || stop.signal.aborted) break;
      await sleep(nextRoundAt(t0, start, Date.now(), everyMs) - Date.now(), stop.signal);
      if (stop.signal.aborted) break;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await sink.close();
  }
  return o.once && failedAny ? 1 : 0;
}
