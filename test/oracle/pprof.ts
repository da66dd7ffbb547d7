/**
 * Test oracle: runs the real `go tool pprof -top` and parses its report into
 * exact integers, so our TypeScript flat/cum computation can be compared with
 * the reference implementation (google/pprof `internal/graph/graph.go` newGraph).
 *
 * Command line (one pprof run per call):
 *
 *   go tool pprof -top -symbolize=none -trim=false -nodefraction=0 -nodecount=0
 *                 [extraArgs...] -unit=nanoseconds [-sample_index=NAME] -- FILE...
 *
 * Why these flags:
 * - `-trim=false -nodefraction=0 -nodecount=0`: print every node (the defaults
 *   drop nodes with cum < 0.5% of total). Nodes with flat == cum == 0 are never
 *   printed by pprof (only possible in diff profiles).
 * - `-symbolize=none`: never look for local binaries or symbolz servers, never
 *   demangle. Go profiles are already symbolized, so this does not change their
 *   results; for unsymbolized profiles it keeps pprof from "improving" the data
 *   with binaries that happen to exist on this machine.
 * - `-unit=nanoseconds`: pprof formats every value as
 *   `strings.TrimSuffix(fmt.Sprintf("%.2f", float64(v) * fromFactor / toFactor), ".00") + unit`
 *   (internal/measurement.ScaledLabel). With this unit:
 *     time units (ns/us/ms/s/hour...) -> scaled to `ns`, suffix "ns"
 *     memory units (bytes, kB, ...)   -> "nanoseconds" is not a memory unit, so
 *                                        pprof falls back to the memory default
 *                                        unit B (factor 1), suffix "B"
 *     anything else (count, ...)      -> value printed unscaled with the -unit
 *                                        string itself as suffix: "nanoseconds"
 *   i.e. one run gives integer base units for every category AND the suffix
 *   tells the categories apart (with `-unit=ns`, counts would also say "ns").
 *   `%.2f` never uses exponent notation; values are exact as long as
 *   |v| < 2^53 (float64). Larger values throw unless `allowInexact` is set.
 *   A zero value is printed as a bare "0". GCU-type units (pprof's third unit
 *   family) would print as fractional "GCU" values and are rejected.
 */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

export interface OracleRow {
  name: string;
  flat: bigint;
  cum: bigint;
  inline: boolean;
}

export interface OracleTop {
  total: bigint;
  /** "nanoseconds" | "bytes" | "count" (any non-time, non-memory unit, values unscaled); "" if every value is 0. */
  unit: string;
  rows: OracleRow[];
}

export interface OracleOptions {
  /** `-sample_index` value: a sample type name or a 0-based index. Default: pprof's default (default_sample_type, else the last type). */
  sampleIndex?: string;
  /** Extra pprof flags (e.g. ['-noinlines'], ['-granularity=lines'], ['-diff_base', 'base.pb.gz']). Placed before -unit/-sample_index. */
  extraArgs?: string[];
  /** Accept |values| >= 2^53 (pprof prints them via float64, so they may be off by a few units). Default false: throw. */
  allowInexact?: boolean;
  /** Timeout for the pprof process in ms (default 180000; the first `go tool pprof` after a fresh GOCACHE builds pprof, ~20 s). */
  timeoutMs?: number;
}

/** The `-unit` value we pass; see the header comment. */
export const ORACLE_UNIT_FLAG = '-unit=nanoseconds';

/** Flags that are always passed (before extraArgs). */
export const ORACLE_BASE_ARGS: readonly string[] = [
  '-top',
  '-symbolize=none',
  '-trim=false',
  '-nodefraction=0',
  '-nodecount=0',
];

const SUFFIX_TO_UNIT: Record<string, string> = {
  ns: 'nanoseconds',
  B: 'bytes',
  nanoseconds: 'count',
};

const MAX_EXACT = 2n ** 53n;

let goAvailableCache: boolean | undefined;

/** True if `go` is on PATH (`go version` runs). */
export function goAvailable(): boolean {
  if (goAvailableCache === undefined) {
    try {
      execFileSync('go', ['version'], { stdio: 'ignore', timeout: 30_000 });
      goAvailableCache = true;
    } catch {
      goAvailableCache = false;
    }
  }
  return goAvailableCache;
}

/**
 * Go >= 1.24 no longer ships a prebuilt pprof: the first `go tool pprof` after a
 * fresh GOCACHE compiles it (~20 s here). Call this from a beforeAll with a long
 * timeout so the first real oracle call does not blow the per-test timeout.
 */
export function warmUpPprof(timeoutMs = 300_000): void {
  execFileSync('go', ['tool', 'pprof', '-h'], { stdio: 'ignore', timeout: timeoutMs, env: pprofEnv() });
}

/** A directory that never exists: pprof must not pick up local binaries for (re)symbolization. */
const NO_BINARIES_DIR = path.join(os.tmpdir(), 'fleetprof-oracle-no-binaries-here');

function pprofEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // Belt and braces with -symbolize=none: no binary lookup ($HOME/pprof/binaries
    // is the default), no symbolz, no external tools.
    PPROF_BINARY_PATH: NO_BINARIES_DIR,
    PPROF_TOOLS: '',
    GOTOOLCHAIN: 'local',
  };
}

/** Builds the argv (after `go`) used by pprofTop. Exported for reporting/debugging. */
export function pprofTopArgs(files: string[], opts: OracleOptions = {}): string[] {
  const args = ['tool', 'pprof', ...ORACLE_BASE_ARGS, ...(opts.extraArgs ?? []), ORACLE_UNIT_FLAG];
  if (opts.sampleIndex !== undefined) args.push(`-sample_index=${opts.sampleIndex}`);
  args.push('--', ...files);
  return args;
}

/** Runs `go tool pprof -top` (see header) on the files (merged, like pprof does) and parses the report. */
export function pprofTop(files: string[], opts: OracleOptions = {}): OracleTop {
  if (files.length === 0) throw new Error('pprofTop: no files');
  const args = pprofTopArgs(files, opts);
  let stdout: string;
  try {
    stdout = execFileSync('go', args, {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
      timeout: opts.timeoutMs ?? 180_000,
      env: pprofEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string | Buffer; message: string };
    throw new Error(`go ${args.join(' ')} failed: ${e.message}\n${String(e.stderr ?? '')}`, { cause: err });
  }
  return parsePprofTop(stdout, opts.allowInexact ?? false);
}

// flat flat% sum% cum cum%  name[ (inline)|(partial-inline)]
// printText: fmt.Fprintf(w, "%10s %s %s %10s %s  %s%s\n", ...)
const ROW_RE = /^ *(\S+) +(\S+%) +(\S+%) +(\S+) +(\S+%) {2}(.*)$/;
const HEADER_RE = /^Showing nodes accounting for (\S+), (\S+%) of (\S+) total$/;
const COLUMNS_RE = /^ +flat +flat% +sum% +cum +cum%$/;
const INLINE_SUFFIXES: ReadonlyArray<string> = [' (inline)', ' (partial-inline)'];

/** Parses the text printed by `go tool pprof -top -unit=nanoseconds`. Exported for unit tests. */
export function parsePprofTop(text: string, allowInexact = false): OracleTop {
  const lines = text.split('\n');
  const suffixes = new Set<string>();
  const value = (s: string, what: string): bigint => {
    const m = /^(-?\d+)([A-Za-z]*)$/.exec(s);
    if (!m) {
      throw new Error(`pprof oracle: ${what}: value ${JSON.stringify(s)} is not an integer (rounded/scaled output?)`);
    }
    const v = BigInt(m[1]!);
    const suffix = m[2]!;
    if (suffix === '') {
      if (v !== 0n) throw new Error(`pprof oracle: ${what}: value ${s} has no unit suffix`);
    } else {
      if (!(suffix in SUFFIX_TO_UNIT)) {
        throw new Error(`pprof oracle: ${what}: unexpected unit suffix in ${JSON.stringify(s)} (unsupported unit category?)`);
      }
      suffixes.add(suffix);
    }
    if (!allowInexact && (v >= MAX_EXACT || v <= -MAX_EXACT)) {
      throw new Error(`pprof oracle: ${what}: |${s}| >= 2^53; pprof formats values through float64, so it may be inexact`);
    }
    return v;
  };

  let total: bigint | undefined;
  let shown: bigint | undefined;
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    const h = HEADER_RE.exec(line);
    if (h) {
      shown = value(h[1]!, 'header shown total');
      total = value(h[3]!, 'header total');
      continue;
    }
    if (COLUMNS_RE.test(line)) {
      i++;
      break;
    }
  }
  if (total === undefined) {
    throw new Error(`pprof oracle: no "Showing nodes accounting for" header in output:\n${text.slice(0, 2000)}`);
  }
  const rows: OracleRow[] = [];
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const m = ROW_RE.exec(line);
    if (!m) throw new Error(`pprof oracle: cannot parse row ${JSON.stringify(line)}`);
    let name = m[6]!;
    let inline = false;
    for (const suf of INLINE_SUFFIXES) {
      if (name.endsWith(suf)) {
        name = name.slice(0, -suf.length);
        inline = true;
        break;
      }
    }
    rows.push({ name, flat: value(m[1]!, `flat of ${name}`), cum: value(m[4]!, `cum of ${name}`), inline });
  }
  const flatSum = rows.reduce((acc, r) => acc + r.flat, 0n);
  if (!allowInexact && shown !== flatSum) {
    throw new Error(`pprof oracle: header says nodes account for ${shown}, but the rows' flat values sum to ${flatSum}`);
  }
  if (suffixes.size > 1) {
    throw new Error(`pprof oracle: mixed unit suffixes ${[...suffixes].join(', ')}`);
  }
  const suffix = [...suffixes][0];
  return { total, unit: suffix === undefined ? '' : SUFFIX_TO_UNIT[suffix]!, rows };
}

/** One sample of `go tool pprof -raw` output. */
export interface RawSample {
  values: bigint[];
  locationIds: number[];
}

export interface RawProfile {
  /** `type/unit` pairs from the Samples header, in order. */
  sampleTypes: { type: string; unit: string }[];
  /** Index of the `[dflt]` sample type, or -1. */
  defaultIndex: number;
  samples: RawSample[];
}

/**
 * Runs `go tool pprof -raw -symbolize=none FILE...` and parses its Samples section
 * (exact int64 values printed with %10d: no formatting loss). For cross-checks.
 */
export function pprofRaw(files: string[], opts: { extraArgs?: string[]; timeoutMs?: number } = {}): RawProfile {
  const args = ['tool', 'pprof', '-raw', '-symbolize=none', ...(opts.extraArgs ?? []), '--', ...files];
  let stdout: string;
  try {
    stdout = execFileSync('go', args, {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
      timeout: opts.timeoutMs ?? 180_000,
      env: pprofEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string | Buffer; message: string };
    throw new Error(`go ${args.join(' ')} failed: ${e.message}\n${String(e.stderr ?? '')}`, { cause: err });
  }
  return parsePprofRaw(stdout);
}

/** Parses `Profile.String()` output (the Samples section only). */
export function parsePprofRaw(text: string): RawProfile {
  const lines = text.split('\n');
  const start = lines.indexOf('Samples:');
  if (start < 0 || start + 1 >= lines.length) throw new Error('pprof oracle: no Samples section in -raw output');
  let defaultIndex = -1;
  const sampleTypes = lines[start + 1]!
    .trim()
    .split(/ +/)
    .filter((t) => t !== '')
    .map((tok, idx) => {
      if (tok.endsWith('[dflt]')) {
        defaultIndex = idx;
        tok = tok.slice(0, -'[dflt]'.length);
      }
      const slash = tok.indexOf('/');
      return slash < 0 ? { type: tok, unit: '' } : { type: tok.slice(0, slash), unit: tok.slice(slash + 1) };
    });
  const samples: RawSample[] = [];
  for (let i = start + 2; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === 'Locations' || line === 'Mappings') break;
    if (/^ {16}\S/.test(line)) continue; // label line of the previous sample
    const m = /^((?: +-?\d+)+): ?(.*)$/.exec(line);
    if (!m) {
      if (line.trim() === '') continue;
      throw new Error(`pprof oracle: cannot parse -raw sample line ${JSON.stringify(line)}`);
    }
    const values = m[1]!.trim().split(/ +/).map((v) => BigInt(v));
    const locationIds = m[2]!
      .trim()
      .split(/ +/)
      .filter((t) => t !== '')
      .map(Number);
    samples.push({ values, locationIds });
  }
  return { sampleTypes, defaultIndex, samples };
}
