import { NoDataError } from './run';

// Empty answers are not silent successes (docs/cli.md "Exit codes": 3). The message names the
// filters that matched nothing, in the flags the user typed.

type FlagValue = string | number | Record<string, string> | undefined;

const iso = (us: number) => new Date(us / 1000).toISOString();

/** `--service a --from 2026-...` for the given flags (times in epoch microseconds). */
export function describeFlags(flags: Record<string, FlagValue>): string {
  const parts: string[] = [];
  for (const [flag, v] of Object.entries(flags)) {
    if (v === undefined) continue;
    if (typeof v === 'object') for (const [k, x] of Object.entries(v)) parts.push(`${flag} ${k}=${x}`);
    else if (typeof v === 'number' && /from|to|now/.test(flag)) parts.push(`${flag} ${iso(v)}`);
    else parts.push(`${flag} ${v}`);
  }
  return parts.join(' ');
}

export function noMatch(what: string, data: string, flags: Record<string, FlagValue>): NoDataError {
  const f = describeFlags(flags);
  return new NoDataError(`no ${what} in ${data}${f ? ` match ${f}` : ''}`);
}
