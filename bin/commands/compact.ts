import { InvalidArgumentError, type Command } from 'commander';
import { runCompactJob } from '../../lib/aws/compact-job';
import { stackCompactOptions, unitProcesses, type StoreSpec } from '../../lib/aws/compact-units';
import { compact, type CompactResult } from '../../lib/store/compact';
import { LocalStore } from '../../lib/store/local';
import { localQuarantine, quarantinedTableKey } from '../../lib/store/unreadable';
import { requireDataDir, withWriter } from './engine';
import { bucketOption, dataOption, isoTime } from './options';
import { action, CliError } from './run';

export function register(program: Command): void {
  program
    .command('compact')
    .description('merge the small files of closed hours and days into one file per table (a data directory, or the bucket like the scheduled Lambda)')
    .addOption(dataOption('data directory', false))
    .addOption(bucketOption("the stack's bucket: compact its tables/ with the scheduled Lambda's code (AWS chain, AWS_ENDPOINT_URL included)", false))
    .option('--now <time>', 'compact what is due at this time (default: now), as the schedule would at that time', isoTime)
    .option('--before <date>', '--data only: treat hours and days before this YYYY-MM-DD (UTC midnight) as closed', (v: string) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new InvalidArgumentError(`not a YYYY-MM-DD date: "${v}"`);
      return v;
    })
    .option('--all', '--data only: treat every hour as closed, the current one included')
    .option('--jobs <n>', 'units of large hours and days run side by side, each in its own process with its own DuckDB (default 1)', jobsArg)
    .action(async (opts: CompactCliOptions, cmd: Command) => {
      // $FLEETPROF_BUCKET and $FLEETPROF_DATA are defaults: a flag on the command line wins over the
      // other one's environment default (as in scrape).
      const fromEnv = (k: string) => cmd.getOptionValueSource(k) === 'env';
      if (opts.bucket !== undefined && opts.data !== undefined && fromEnv('bucket') !== fromEnv('data')) {
        if (fromEnv('bucket')) opts.bucket = undefined;
        else opts.data = undefined;
      }
      await action('compact', runCompact)(opts);
    });
}

export interface CompactCliOptions {
  data?: string;
  bucket?: string;
  now?: number;
  before?: string;
  all?: boolean;
  jobs?: number;
}

function jobsArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--jobs takes 1 or more, got "${value}"`);
  return n;
}

export async function runCompact(o: CompactCliOptions): Promise<number> {
  if ((o.data === undefined) === (o.bucket === undefined)) throw new CliError('give exactly one of --data DIR and --bucket NAME');
  const nowUs = o.now ?? Date.now() * 1000;
  // The stack's unit size, as its planner packs units ($FLEETPROF_COMPACT_UNIT_ROWS overrides it:
  // tests and the Athena check make days of several units with it).
  const unitRows = stackCompactOptions().unitRows;
  // Large days in key-range units, each in its own process (compact-units.ts), as the stack's workers run them.
  const apart = (store: StoreSpec) => unitProcesses({ store, jobs: o.jobs ?? 1, nowUs, unitRows });
  let r: CompactResult;
  if (o.bucket !== undefined) {
    if (o.before !== undefined || o.all) throw new CliError('--before and --all apply to --data only (the bucket is compacted as the schedule does, at --now)');
    // Loaded here only: `--data` never loads the AWS SDK (bench/startup.ts).
    const [{ makeS3Client }, { tablesQuarantine }, { tablesStore }] = await Promise.all([import('../../lib/aws/clients'), import('../../lib/aws/quarantine'), import('../../lib/aws/tables-store')]);
    const s3 = makeS3Client();
    r = await runCompactJob({ store: tablesStore(s3, o.bucket), unitRows, apart: apart({ kind: 'bucket', bucket: o.bucket }), quarantine: tablesQuarantine(s3, o.bucket) }, nowUs);
  } else {
    const data = o.data!;
    requireDataDir(data);
    const spec: StoreSpec = { kind: 'local', root: data };
    // An unreadable fresh file goes to <data>/quarantine/tables/<key>, as the stack moves it aside in the bucket.
    const quarantine = localQuarantine(data);
    if (o.before === undefined && !o.all) r = await runCompactJob({ store: new LocalStore(data), unitRows, apart: apart(spec), quarantine }, nowUs);
    // --all: every hour, the current one included (files still arriving for it are merged by a
    // later run into one more hour file).
    else {
      const closedBefore = o.all ? Infinity : Date.parse(`${o.before}T00:00:00Z`);
      r = await withWriter(data, ({ store, writer }) => compact(store, writer, { now: nowUs / 1000, closedBefore, unitRows, apart: apart(spec), quarantine }));
    }
  }
  const ratio = r.bytesAfter > 0 ? (r.bytesBefore / r.bytesAfter).toFixed(1) : '-';
  process.stderr.write(
    `compacted ${r.hours} hour and ${r.days} day files: ${r.filesMerged} files merged, ${r.bytesBefore} -> ${r.bytesAfter} bytes (${ratio}x), ${r.deleted} replaced files deleted\n`,
  );
  if ('merge' in r) {
    const m = (r as { merge: { merges: number; filesMerged: number; refused: { key: string; reason: string }[] } }).merge;
    if (m.merges > 0) process.stderr.write(`merged ${m.filesMerged} fresh files of the open hours into ${m.merges} files\n`);
    for (const f of m.refused) process.stderr.write(`quarantined ${f.key} to ${quarantinedTableKey(f.key)} (the rest of its batch merges): ${f.reason}\n`);
  }
  for (const f of r.refused) process.stderr.write(`quarantined ${f.key} to ${quarantinedTableKey(f.key)} (the rest of its hour compacts): ${f.reason}\n`);
  if ('rollups' in r) {
    const ru = (r as { rollups: { hours: number; days: number; rows: number; files: number } }).rollups;
    process.stderr.write(`rolled up ${ru.hours} hours and ${ru.days} days: ${ru.rows} rows in ${ru.files} files\n`);
  }
  return 0;
}
