// `go tool pprof -top` as the benches' peer: a few of a data directory's CPU profiles exported one by
// one (`fleetprof export`), timed as they are and 16 times over. The slope is pprof's time per
// profile, the intercept its start-up; a bench extrapolates both to its own window's profile count.
// One home for this because bench:fleet and bench/fresh-hour.ts measure the same peer.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';

const iso = (us: number) => new Date(us / 1000).toISOString();

export interface PprofRate {
  /** Seconds pprof took over `files` and over 16 x `files`. */
  measured: Record<number, number>;
  perProfileMs: number;
  fixedSeconds: number;
}

/** Rows of `fleetprof sql --json` (an array of objects, or { columns, rows }). */
export function parseSqlRows(out: string): Record<string, unknown>[] {
  const j = JSON.parse(out) as unknown;
  if (Array.isArray(j)) return j as Record<string, unknown>[];
  const o = j as { rows?: unknown[]; columns?: { name: string }[] | string[] };
  if (!Array.isArray(o.rows)) throw new Error(`unexpected sql --json output: ${out.slice(0, 200)}`);
  const cols = (o.columns ?? []).map((c) => (typeof c === 'string' ? c : c.name));
  return o.rows.map((r) => (Array.isArray(r) ? Object.fromEntries(cols.map((c, i) => [c, r[i]])) : (r as Record<string, unknown>)));
}

/**
 * pprof's rate over `subset` of `source`'s CPU profiles, exported under `dir` with the CLI at `cli`;
 * each size timed `repeat` times, the fastest kept (on a loaded machine a single pair of runs can
 * give a slope of 0: 120 profiles at 0.22 ms are 26 ms, within one run's noise).
 */
export function pprofRate(cli: string, source: string, subset: number, dir: string, repeat = 1): PprofRate | { error: string } {
  mkdirSync(dir, { recursive: true });
  const out = execFileSync(process.execPath, [cli, 'sql', '--data', source, '--json', `SELECT instance, epoch_us(time) AS t FROM profiles WHERE kind = 'cpu' ORDER BY time, instance LIMIT ${subset}`], {
    encoding: 'utf8',
  });
  const files: string[] = [];
  for (const [i, r] of parseSqlRows(out).entries()) {
    const f = path.join(dir, `p${i}.pb.gz`);
    const t = Number(r.t);
    const e = spawnSync(process.execPath, [cli, 'export', '--data', source, '--type', 'cpu', '--instance', String(r.instance), '--from', iso(t), '--to', iso(t + 1000), '--out', f], { encoding: 'utf8' });
    if (e.status === 0) files.push(f);
  }
  if (files.length === 0) return { error: 'no profiles exported' };
  const time = (list: string[]): number => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('go', ['tool', 'pprof', '-top', ...list], { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`go tool pprof failed: ${r.stderr}`);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  try {
    const big = Array.from({ length: 16 }, () => files).flat();
    const best = (list: string[]) => Math.min(...Array.from({ length: Math.max(1, repeat) }, () => time(list)));
    const ts = best(files);
    const tb = best(big);
    const per = Math.max(0, (tb - ts) / (big.length - files.length));
    return { measured: { [files.length]: ts, [big.length]: tb }, perProfileMs: per * 1000, fixedSeconds: Math.max(0, ts - per * files.length) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
