// Exit codes and the one error path of every command (docs/cli.md "Exit codes"): a command returns
// its exit code or throws; the message goes to stderr as `fleetprof <command>: <message>`.

export const EXIT = {
  ok: 0,
  /** A bad input, flag or request; or some inputs failed. */
  failed: 1,
  /** An unexpected error (a bug, or the environment: disk full, DuckDB failed). */
  internal: 2,
  /** The answer is empty: no data directory, nothing matches the filters, no data in the window. */
  noData: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the user can act on, with the exit code it maps to. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Nothing to answer with: said on stderr, exit 3. */
export class NoDataError extends CliError {
  constructor(message: string) {
    super(message, EXIT.noData);
    this.name = 'NoDataError';
  }
}

/** Wraps a command's implementation as a commander action: exit code from the return or the error. */
export function action<A extends unknown[]>(command: string, run: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = await run(...args);
    } catch (e) {
      process.stderr.write(`fleetprof ${command}: ${(e as Error).message}\n`);
      process.exitCode = e instanceof CliError ? e.exitCode : EXIT.failed;
    }
  };
}
