#!/usr/bin/env node
import { parseTime } from '../lib/model/time';
import { Command, InvalidArgumentError, Option } from 'commander';
import { runIngest } from './commands/ingest';
import { runTop } from './commands/top';
import { runSql } from './commands/sql';
import { runExport } from './commands/export';
import { runDemo } from './commands/demo';
import { runCompact } from './commands/compact';
import { runGc } from './commands/gc';
import { runUpload } from './commands/upload';
import { runServe } from './commands/serve';
import { runLocal } from './commands/local';
import { runDiff } from './commands/diff';
import { runDigest } from './commands/digest';
import { runFlamegraph } from './commands/flamegraph';
import { runScrape, DEFAULT_MAX_SCRAPE_BYTES } from './commands/scrape';
import { DEFAULT_SCRAPE_PROFILES } from '../lib/scrape/targets';
import { PROFILE_KINDS } from '../lib/model/profile';
import { UPLOAD_KINDS } from '../lib/model/upload-key';
import { INGEST_FUNCTION, INGEST_QUEUE } from '../lib/aws/resources';

// The CLI contract (flags and JSON shapes) is used by other tools: change it only additively.

function collectLabel(value: string, prev: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected k=v, got "${value}"`);
  return { ...prev, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function collectList(value: string, prev: string[]): string[] {
  return [...prev, value];
}

/** A time flag (lib/model/time.ts: RFC 3339 with a zone, a date, now, now-1h) -> epoch µs. */
function isoTime(value: string): number {
  try {
    return parseTime(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a non-negative integer: "${value}"`);
  return n;
}

const kindOption = () => new Option('--type <kind>', 'profile kind').choices(PROFILE_KINDS).makeOptionMandatory();

function cohortOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--data <dir>', 'data directory (the local store)')
    .addOption(kindOption())
    .option('--sample-type <name>', 'sample type (default: what go tool pprof shows for the kind)')
    .option('--service <name>', 'only this service')
    .option('--version <v>', 'only this version')
    .option('--instance <id>', 'only this instance')
    .option('--label <k=v>', 'only profiles with this upload label, else samples with this pprof label (repeatable; docs/cli.md)', collectLabel, {})
    .option('--from <time>', 'capture time >= from', isoTime)
    .option('--to <time>', 'capture time < to', isoTime);
}

export function buildProgram(): Command {
  const program = new Command('fleetprof')
    .description('Continuous profiling for Go fleets: pprof, gctrace and runtime/metrics into open Parquet.')
    .showHelpAfterError();

  program
    .command('ingest')
    .description('decode profiles, gctrace logs and runtime/metrics snapshots into the tables of a data directory')
    .requiredOption('--data <dir>', 'data directory (created if missing)')
    .requiredOption('--service <name>', 'service name')
    .requiredOption('--instance <id>', 'instance id')
    .option('--version <v>', 'service version', '')
    .option('--label <k=v>', 'upload label (repeatable)', collectLabel, {})
    .addOption(new Option('--kind <kind>', 'declared kind (decides block vs mutex, heap vs allocs text)').choices(PROFILE_KINDS))
    .option('--start <time>', 'capture start for inputs with no timestamp of their own (debug=1 text; process start of a gctrace log)', isoTime)
    .option('--max-decompressed <bytes>', 'refuse inputs that decompress to more than this', positiveInt)
    .argument('<paths...>', 'files or directories')
    .action(async (paths: string[], opts) => {
      process.exitCode = await runIngest(paths, opts);
    });

  cohortOptions(program.command('top').description('top functions of a cohort, merged exactly as go tool pprof -top'))
    .option('--limit <n>', 'at most n functions (0 = all)', positiveInt, 0)
    .addOption(new Option('--by <order>', 'sort order').choices(['flat', 'cum']).default('flat'))
    .option('--json', 'print JSON')
    .action(async (opts) => {
      process.exitCode = await runTop(opts);
    });

  program
    .command('diff')
    .description('compare two cohorts (baseline vs target): per function flat/cum, shares, normalized values and significance')
    .requiredOption('--data <dir>', 'data directory')
    .addOption(kindOption())
    .option('--sample-type <name>', 'sample type (default: what go tool pprof shows for the kind)')
    .option('--service <name>', 'only this service')
    .option('--instance <id>', 'only this instance')
    .option('--label <k=v>', 'only profiles with this upload label, else samples with this pprof label (repeatable; docs/cli.md)', collectLabel, {})
    .option('--base-from <time>', 'baseline: capture time >= base-from', isoTime)
    .option('--base-to <time>', 'baseline: capture time < base-to', isoTime)
    .option('--from <time>', 'target: capture time >= from', isoTime)
    .option('--to <time>', 'target: capture time < to', isoTime)
    .option('--base-version <v>', 'baseline: only this version')
    .option('--version <v>', 'target: only this version')
    .addOption(new Option('--measure <m>', 'what the significance test compares per profile').choices(['share', 'norm']).default('share'))
    .option('--alpha <p>', 'p-value threshold', '0.01')
    .option('--min-effect <x>', 'minimum |delta cum share| (measure share) or relative change (measure norm)', '0.02')
    .option('--limit <n>', 'at most n functions (0 = all)', positiveInt, 0)
    .option('--json', 'print JSON')
    .action(async (opts) => {
      process.exitCode = await runDiff(opts);
    });

  program
    .command('digest')
    .description('anomalies of the window just before --now against the baseline just before it: cpu, memory, goroutines, gc, contention')
    .requiredOption('--data <dir>', 'data directory')
    .option('--now <time>', 'end of the window (default: now)', isoTime)
    .option('--window <duration>', 'window length: 30s, 5m, 1h, 1d', '1h')
    .option('--baseline <duration>', 'baseline length, just before the window', '24h')
    .option('--service <name>', 'only this service')
    .option('--json', 'print JSON')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--email', 'mail the digest with SES v2 (HTML + text, PNG charts, window profiles attached)')
    .option('--from-addr <address>', 'with --email: sender, an SES-verified identity')
    .option('--to <addresses>', 'with --email: recipients, comma-separated (repeatable)', (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((x) => x.trim()).filter((x) => x !== '')])
    .option('--skip-quiet', 'with --email: send nothing when the digest is all quiet')
    .option('--eml <file>', 'write the email as a MIME message (.eml) to this file')
    .option('--max-attach-bytes <n>', 'largest total size of attached profiles (default 7340032)', positiveInt)
    .action(async (opts) => {
      process.exitCode = await runDigest(opts);
    });

  cohortOptions(program.command('flamegraph').description('write a self-contained interactive flame graph (HTML) of a cohort, or a differential one with --base-*'))
    .requiredOption('--out <file>', 'output .html')
    .option('--base-from <time>', 'differential: baseline capture time >= base-from', isoTime)
    .option('--base-to <time>', 'differential: baseline capture time < base-to', isoTime)
    .option('--base-version <v>', 'differential: baseline version')
    .action(async (opts) => {
      process.exitCode = await runFlamegraph(opts);
    });

  program
    .command('sql')
    .description('read-only SQL over the tables (profiles, functions, stacks, gc_cycles, runtime_metrics)')
    .requiredOption('--data <dir>', 'data directory')
    .option('--json', 'print {"columns":[...],"rows":[[...]]}')
    .option('--timeout-ms <n>', 'time limit (the query process is killed)', positiveInt, 60000)
    .option('--max-rows <n>', 'row limit', positiveInt, 1_000_000)
    .option('--max-bytes <n>', 'result limit in bytes of JSON', positiveInt, 256 * 1024 * 1024)
    .option('--memory-mb <n>', 'memory ceiling of the query process, MiB', positiveInt, 2048)
    .argument('<sql>', 'one SELECT statement')
    .action(async (sql: string, opts) => {
      process.exitCode = await runSql(sql, opts);
    });

  cohortOptions(program.command('export').description('write the merged profile of a cohort as .pb.gz'))
    .requiredOption('--out <file>', 'output .pb.gz')
    .action(async (opts) => {
      process.exitCode = await runExport(opts);
    });

  program
    .command('gc')
    .description('GC trends from gctrace logs per service, version and time bucket, with pacer and tuning diagnostics')
    .requiredOption('--data <dir>', 'data directory')
    .option('--service <name>', 'only this service')
    .option('--version <v>', 'only this version')
    .option('--instance <id>', 'only this instance')
    .option('--label <k=v>', 'only logs with this upload label (repeatable)', collectLabel, {})
    .option('--from <time>', 'cycle start >= from', isoTime)
    .option('--to <time>', 'cycle start < to', isoTime)
    .option('--bucket <duration>', 'bucket width: 30s, 5m, 1h, 1d', '1h')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      process.exitCode = await runGc(opts);
    });

  program
    .command('compact')
    .description('merge the per-source files of closed partitions into one file per table and partition')
    .requiredOption('--data <dir>', 'data directory')
    .option('--before <date>', 'compact partitions whose dt is before this YYYY-MM-DD (default: today, UTC)', (v: string) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new InvalidArgumentError(`not a YYYY-MM-DD date: "${v}"`);
      return v;
    })
    .option('--all', 'compact every partition, today included')
    .action(async (opts) => {
      process.exitCode = await runCompact(opts);
    });

  program
    .command('upload')
    .description('upload profiles, gctrace logs and runtime/metrics snapshots to S3 under the upload contract (docs/upload-contract.md)')
    .requiredOption('--bucket <name>', 'S3 bucket (endpoint and credentials from the standard AWS chain, AWS_ENDPOINT_URL included)')
    .requiredOption('--service <name>', 'service name')
    .requiredOption('--instance <id>', 'instance id')
    .option('--version <v>', 'service version', '')
    .option('--label <k=v>', 'upload label (repeatable)', collectLabel, {})
    .addOption(new Option('--kind <kind>', 'kind of every file (default: from the content, else the file name)').choices(UPLOAD_KINDS))
    .option('--start <time>', 'capture start (default: the profile\'s own time, else the file mtime; for gctrace logs: the process start)', isoTime)
    .option('--concurrency <n>', 'parallel uploads', positiveInt, 4)
    .option('--max-attempts <n>', 'attempts per request (SDK standard retry)', positiveInt, 5)
    .argument('<paths...>', 'files or directories')
    .action(async (paths: string[], opts) => {
      process.exitCode = await runUpload(paths, opts);
    });

  program
    .command('scrape')
    .description('pull /debug/pprof/* from running Go services (net/http/pprof) into a data directory or the bucket, once or every --every')
    .option('--target <url>', 'http://host:port (pprof under /debug/pprof/), or a URL ending in /debug/pprof (repeatable)', collectList, [])
    .requiredOption('--service <name>', 'service name')
    .option('--instance <id>', 'instance id (default: the target\'s host_port; once per --target, in order)', collectList, [])
    .option('--version <v>', 'service version', '')
    .option('--label <k=v>', 'upload label (repeatable)', collectLabel, {})
    .option('--bucket <name>', 'upload to this S3 bucket under the upload contract (AWS chain, AWS_ENDPOINT_URL included)')
    .option('--data <dir>', 'ingest into this data directory instead')
    .option('--every <duration>', 'time between round starts: 500ms, 30s, 1m, 1h', '60s')
    .option('--once', 'one round, then exit (1 if any profile failed)')
    .option('--profiles <list>', 'profiles to pull: cpu,heap,allocs,goroutine,block,mutex,threadcreate', DEFAULT_SCRAPE_PROFILES.join(','))
    .option('--cpu-seconds <n>', 'CPU profile length (/debug/pprof/profile?seconds=N)', positiveInt, 10)
    .option('--timeout <duration>', 'per request (the CPU profile gets --cpu-seconds on top)', '30s')
    .option('--concurrency <n>', 'targets scraped at the same time', positiveInt, 8)
    .option('--max-bytes <n>', 'refuse a profile response larger than this', positiveInt, DEFAULT_MAX_SCRAPE_BYTES)
    .option('--max-attempts <n>', 'attempts per S3 request (SDK standard retry)', positiveInt, 5)
    .action(async (opts) => {
      process.exitCode = await runScrape(opts);
    });

  program
    .command('serve')
    .description('serve the query API (GET /top, /gc, /export, /diff, /flamegraph; POST /sql) on 127.0.0.1 from a data directory (docs/security.md)')
    .requiredOption('--data <dir>', 'data directory')
    .option('--port <n>', 'port (0 = any free port)', positiveInt, 8787)
    .option('--host <address>', 'address to bind; anything but loopback requires a token', '127.0.0.1')
    .option('--token <token>', 'require Authorization: Bearer <token> (default: $FLEETPROF_TOKEN; generated and printed for non-loopback binds)')
    .option('--concurrency <n>', 'requests run at once (default: CPUs, at least 2)', positiveInt)
    .option('--queue <n>', 'requests waiting beyond that before 503 + Retry-After', positiveInt, 64)
    .option('--sql-timeout-ms <n>', 'SQL time limit (the query process is killed)', positiveInt, 20000)
    .option('--sql-max-rows <n>', 'SQL row limit', positiveInt, 10000)
    .option('--sql-max-bytes <n>', 'SQL result limit in bytes of JSON', positiveInt, 16 * 1024 * 1024)
    .option('--sql-memory-mb <n>', 'memory ceiling per query process, MiB', positiveInt, 1024)
    .action(async (opts) => {
      process.exitCode = await runServe(opts);
    });

  program
    .command('local')
    .description('run the serverless pipeline locally: moto_server (S3 + SQS) with the stack\'s bucket, queues and notification, the ingest Lambda fed like its SQS event source mapping, the query Lambda on 127.0.0.1; prints export lines for upload/query clients')
    .option('--port <n>', 'query API port (0 = any free port)', positiveInt, 8787)
    .option('--moto-port <n>', 'moto_server port (default: any free port; not used when AWS_ENDPOINT_URL is set)', positiveInt)
    .option('--bucket <name>', 'bucket name', 'fleetprof-local')
    .option('--visibility-timeout <s>', `ingest queue visibility timeout, seconds (default: the stack's, ${INGEST_QUEUE.visibilityTimeoutSeconds})`, positiveInt)
    .option('--batch-size <n>', `event source batch size (default: the stack's, ${INGEST_FUNCTION.batchSize})`, positiveInt)
    .option('--batch-window <s>', `event source batching window, seconds (default: the stack's, ${INGEST_FUNCTION.maxBatchingWindowSeconds})`, positiveInt)
    .option('--max-receive-count <n>', `receives before a message moves to the DLQ (default: the stack's, ${INGEST_QUEUE.maxReceiveCount})`, positiveInt)
    .option('--exports-file <path>', 'also write the export lines to this file')
    .action(async (opts) => {
      process.exitCode = await runLocal(opts);
      // Handler clients and DuckDB may keep the loop alive; everything has been stopped.
      process.exit(process.exitCode);
    });

  program
    .command('demo')
    .description('ingest the sample profiles shipped with fleetprof into a directory and print fleet top functions')
    .option('--data <dir>', 'data directory', '.fleetprof/demo')
    .action(async (opts) => {
      process.exitCode = await runDemo(opts);
    });

  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      process.stderr.write(`fleetprof: ${(e as Error).message}\n`);
      process.exitCode = 2;
    });
}
