import { InvalidArgumentError, Option, type Command } from 'commander';
import { PROFILE_KINDS } from '../../lib/model/profile';
import { parseDurationUs, parseTime } from '../../lib/model/time';
import { GAUGE_AGGREGATES } from '../../lib/model/temporality';
import { DEFAULT_LOOKBACK_US } from '../../lib/query/window';

// The option parsers and option groups the commands share, so one flag means one thing with one
// name everywhere (docs/cli.md "Conventions"). Each command declares its own flags in its file.

export function collectLabel(value: string, prev: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected k=v, got "${value}"`);
  return { ...prev, [value.slice(0, eq)]: value.slice(eq + 1) };
}

export function collectList(value: string, prev: string[]): string[] {
  return [...prev, value];
}

/** A time flag (lib/model/time.ts: RFC 3339 with a zone, a date, now, now-1h) -> epoch µs. */
export function isoTime(value: string): number {
  try {
    return parseTime(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a non-negative integer: "${value}"`);
  return n;
}

/** Environment defaults for flags repeated on every call (`fleetprof local` prints FLEETPROF_BUCKET). */
export const ENV_DEFAULTS = { data: 'FLEETPROF_DATA', bucket: 'FLEETPROF_BUCKET' } as const;

/** `--data DIR`, defaulting to $FLEETPROF_DATA. */
export function dataOption(description = 'data directory', mandatory = true): Option {
  const o = new Option('--data <dir>', description).env(ENV_DEFAULTS.data);
  return mandatory ? o.makeOptionMandatory() : o;
}

/** `--bucket NAME`, defaulting to $FLEETPROF_BUCKET. */
export function bucketOption(description: string, mandatory = true): Option {
  const o = new Option('--bucket <name>', description).env(ENV_DEFAULTS.bucket);
  return mandatory ? o.makeOptionMandatory() : o;
}

/** The profile kind is `--type` everywhere; `--kind` (ingest, upload before 0.2) is a hidden alias. */
export function typeOptions(cmd: Command, description: string, choices: readonly string[], mandatory: boolean): Command {
  const type = new Option('--type <kind>', description).choices(choices);
  cmd.addOption(mandatory ? type.makeOptionMandatory() : type);
  if (!mandatory) cmd.addOption(new Option('--kind <kind>', 'deprecated: --type').choices(choices).hideHelp());
  return cmd;
}

/** `--kind` given instead of `--type` (deprecated alias): one value, with a notice on stderr. */
export function resolveType<T extends string>(o: { type?: T; kind?: T }, command: string): T | undefined {
  if (o.kind === undefined) return o.type;
  if (o.type !== undefined && o.type !== o.kind) throw new InvalidArgumentError(`--kind ${o.kind} contradicts --type ${o.type} (--kind is the old name of --type)`);
  process.stderr.write(`fleetprof ${command}: --kind is deprecated, use --type\n`);
  return o.kind;
}

/** The cohort flags of top, export and flamegraph. */
export function cohortOptions(cmd: Command): Command {
  cmd.addOption(dataOption());
  typeOptions(cmd, 'profile kind', PROFILE_KINDS, true);
  return cmd
    .option('--sample-type <name>', 'sample type (default: what go tool pprof shows for the kind)')
    .option('--service <name>', 'only this service')
    .option('--version <v>', 'only this version (the program version: fleetprof --version)')
    .option('--instance <id>', 'only this instance')
    .option('--label <k=v>', 'only profiles with this upload label, else samples with this pprof label (repeatable; docs/cli.md)', collectLabel, {})
    .option('--from <time>', 'capture time >= from', isoTime)
    .option('--to <time>', 'capture time < to', isoTime)
    .addOption(windowOptions.aggregate())
    .addOption(windowOptions.lookback());
}

/** How a window combines snapshots (docs/cli.md, "Values over time"). */
export const windowOptions = {
  aggregate: () =>
    new Option('--aggregate <how>', 'gauges (inuse_*, goroutine, threadcreate): per-instance avg (default), max, last or sum of the snapshots in the window').choices(
      GAUGE_AGGREGATES,
    ),
  lookback: () =>
    new Option('--lookback <duration>', "counters uploaded cumulative: how far before --from to look for a process's last snapshot")
      .default(DEFAULT_LOOKBACK_US, '1h')
      .argParser((v: string) => {
        try {
          return parseDurationUs(v);
        } catch (e) {
          throw new InvalidArgumentError((e as Error).message);
        }
      }),
};
