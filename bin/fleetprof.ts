#!/usr/bin/env node
import { Command } from 'commander';
import { EXIT } from './commands/run';
import * as ingest from './commands/ingest';
import * as top from './commands/top';
import * as diff from './commands/diff';
import * as digest from './commands/digest';
import * as flamegraph from './commands/flamegraph';
import * as sql from './commands/sql';
import * as exportCmd from './commands/export';
import * as gc from './commands/gc';
import * as compact from './commands/compact';
import * as upload from './commands/upload';
import * as scrape from './commands/scrape';
import * as serve from './commands/serve';
import * as local from './commands/local';
import * as demo from './commands/demo';

// The program: its version and the commands, each declaring its own flags in bin/commands/<name>.ts.
// The CLI contract (flags, JSON shapes, exit codes: docs/cli.md) is used by other tools: change it
// only additively.

/** In the order `fleetprof --help` lists them. */
const COMMANDS = [ingest, top, diff, digest, flamegraph, sql, exportCmd, gc, compact, upload, scrape, serve, local, demo];

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

export function buildProgram(): Command {
  const program = new Command('fleetprof')
    .description('Continuous profiling for Go fleets: pprof, gctrace and runtime/metrics into open Parquet.')
    // Program options only before the command: `fleetprof --version` is the program's version,
    // `fleetprof top --version v1` the service version filter.
    .enablePositionalOptions()
    .version(programVersion(), '-V, --version', 'print the fleetprof version')
    .showHelpAfterError();
  for (const c of COMMANDS) c.register(program);
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      process.stderr.write(`fleetprof: ${(e as Error).message}\n`);
      process.exitCode = EXIT.internal;
    });
}
