#!/usr/bin/env node
import { Command } from 'commander';
import { EXIT } from './commands/run';

// The program: its version and the commands, each declaring its own flags in bin/commands/<name>.ts.
// The CLI contract (flags, JSON shapes, exit codes: docs/cli.md) is used by other tools: change it
// only additively.
//
// Commands are loaded lazily: importing every command module (and what they import: DuckDB's
// bindings, the AWS SDK, the renderers) made `fleetprof --version` take ~1 s. A run loads only the
// command it names; `--help` and an unknown command load them all to list them.

interface CommandModule {
  register(program: Command): void;
}

/** In the order `fleetprof --help` lists them. */
const COMMANDS: readonly [string, () => CommandModule][] = [
  ['ingest', () => require('./commands/ingest')],
  ['top', () => require('./commands/top')],
  ['diff', () => require('./commands/diff')],
  ['digest', () => require('./commands/digest')],
  ['flamegraph', () => require('./commands/flamegraph')],
  ['sql', () => require('./commands/sql')],
  ['export', () => require('./commands/export')],
  ['gc', () => require('./commands/gc')],
  ['compact', () => require('./commands/compact')],
  ['upload', () => require('./commands/upload')],
  ['scrape', () => require('./commands/scrape')],
  ['serve', () => require('./commands/serve')],
  ['local', () => require('./commands/local')],
  ['demo', () => require('./commands/demo')],
];

/** package.json's version (dist/bin/ or bin/ -> the package root). */
export function programVersion(): string {
  for (const up of ['../..', '..']) {
    try {
      const pkg = require(`${up}/package.json`) as { name?: string; version?: string };
      if (pkg.name === 'fleetprof' && pkg.version) return pkg.version;
    } catch {
      /* next candidate */
    }
  }
  return 'unknown';
}

/**
 * The program with the command `args` (process.argv without node and the script) names, or with
 * every command when it names none (help, a program option, a typo: commander then lists them).
 */
export function buildProgram(args?: readonly string[]): Command {
  const program = new Command('fleetprof')
    .description('Continuous profiling for Go fleets: pprof, gctrace and runtime/metrics into open Parquet.')
    // Program options only before the command: `fleetprof --version` is the program's version,
    // `fleetprof top --version v1` the service version filter.
    .enablePositionalOptions()
    .version(programVersion(), '-V, --version', 'print the fleetprof version')
    .showHelpAfterError();
  const first = args?.find((a) => !a.startsWith('-'));
  const named = COMMANDS.find(([name]) => name === first);
  if (args && (args[0] === '-V' || args[0] === '--version')) return program;
  for (const [name, load] of COMMANDS) if (!named || name === named[0]) load().register(program);
  return program;
}

if (require.main === module) {
  buildProgram(process.argv.slice(2))
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      process.stderr.write(`fleetprof: ${(e as Error).message}\n`);
      process.exitCode = EXIT.internal;
    });
}
