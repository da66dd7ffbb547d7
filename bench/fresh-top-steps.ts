// Where one `fleetprof top` over a fresh hour spends its CPU (issue #11 point 5): the CLI's steps in
// one process, each with its CPU seconds (process.cpuUsage: every thread, DuckDB's too) and wall time.
//
//   node dist/bench/fresh-top-steps.js --data DIR --from ISO --to ISO [--service S] [--json]
//
// Steps: node start (before this file's first line), module load (the top command's modules, as
// the CLI requires them), the DuckDB binding, the listing (liveFileSet over the tables top reads: LISTs and
// manifests), then every DuckDB statement the engine and `top` run, by what it does (settings,
// allowed_paths, a view's DESCRIBE or dedupe keys, the pre-sums' window and keys queries, the final
// sums), then the JSON render. Each statement is timed by wrapping DuckDBConnection.run and
// runAndReadAll; the code path is the CLI's own (bin/commands/top.ts runTop's calls).
const startCpu = process.cpuUsage();
const startWall = process.hrtime.bigint();
const uptimeAtStart = process.uptime();

type Step = { step: string; cpuS: number; wallS: number; n: number };

function cpuS(c: NodeJS.CpuUsage): number {
  return (c.user + c.system) / 1e6;
}

/** What a statement does, from its text (paths and literals folded). */
function label(sql: string): string {
  const s = sql.replace(/\s+/g, ' ').trim();
  if (/^SET allowed_paths/i.test(s)) return 'SET allowed_paths';
  if (/^SET /i.test(s)) return 'SET (other settings)';
  if (/^DESCRIBE/i.test(s)) return 'DESCRIBE (a source\'s columns)';
  if (/^CREATE OR REPLACE VIEW (\w+)/i.test(s)) return `CREATE VIEW ${/^CREATE OR REPLACE VIEW (\w+)/i.exec(s)![1]}`;
  if (/fresh_keys AS MATERIALIZED/.test(s)) {
    const t = /\/fresh\/(\w+)\/dt=/.exec(s);
    return `view dedupe keys (${t ? t[1] : '?'})`;
  }
  if (/SELECT max\(n\) AS n, SUM\(t\)/.test(s)) return 'pre-sums: totals + any id on two rows (one scan of profiles)';
  if (/GROUP BY hash\(profile_id\) HAVING/.test(s)) return 'view dedupe: any id on two rows (hash)';
  if (/WITH k AS MATERIALIZED/.test(s)) return 'pre-sums: dedupe keys (twins profiles + raw functions)';
  if (/min\(first_time\)/.test(s)) return 'pre-sums: merges inside the window';
  if (/SUM\(total\)::HUGEINT AS total/.test(s)) return 'totals (profiles view)';
  if (/functions_merge/.test(s) && /GROUP BY name HAVING/.test(s)) return 'pre-sums + raw remainder (final sums)';
  if (/GROUP BY name HAVING/.test(s)) return 'final sums (raw)';
  return s.replace(/'[^']*'/g, "'…'").slice(0, 80);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (n: string) => {
    const i = argv.indexOf(n);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const data = arg('--data');
  const from = arg('--from');
  const to = arg('--to');
  if (!data || !from || !to) throw new Error('usage: node dist/bench/fresh-top-steps.js --data DIR --from ISO --to ISO [--service S] [--json]');
  const steps: Step[] = [];
  const add = (step: string, c: number, w: number) => {
    const s = steps.find((x) => x.step === step);
    if (s) {
      s.cpuS += c;
      s.wallS += w;
      s.n++;
    } else steps.push({ step, cpuS: c, wallS: w, n: 1 });
  };
  add('node start (before the first line)', cpuS(startCpu), uptimeAtStart);
  const timed = async <T>(step: string, f: () => Promise<T> | T): Promise<T> => {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    try {
      return await f();
    } finally {
      add(step, cpuS(process.cpuUsage(c0)), Number(process.hrtime.bigint() - t0) / 1e9);
    }
  };

  // The modules `fleetprof top` loads (bin/fleetprof.ts requires bin/commands/top lazily).
  const { buildProgram } = await timed('module load (commander, the top command and what it imports)', () => require('../bin/fleetprof') as typeof import('../bin/fleetprof'));
  await timed('module load (commander, the top command and what it imports)', () => buildProgram(['top']));
  const { cohortQuery } = require('../bin/commands/top') as typeof import('../bin/commands/top');
  const { top, topPartitionFilter } = require('../lib/query/top') as typeof import('../lib/query/top');
  const { listTableFiles } = require('../lib/query/open') as typeof import('../lib/query/open');
  const { QueryEngine } = require('../lib/query/engine') as typeof import('../lib/query/engine');
  const { LocalStore } = require('../lib/store/local') as typeof import('../lib/store/local');
  const { fetchFiles } = require('../lib/store/live') as typeof import('../lib/store/live');
  const { exactJson } = require('../lib/query/json') as typeof import('../lib/query/json');
  const explain = argv.includes('--explain');
  const duck = await timed('DuckDB binding load', () => import('@duckdb/node-api'));
  // Every statement, timed (the engine's own connection: settings, views, top's queries).
  const proto = duck.DuckDBConnection.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  let inSql = false; // runAndReadAll calls run: time the outer call only
  for (const m of ['run', 'runAndReadAll'] as const) {
    const orig = proto[m];
    proto[m] = async function (this: unknown, ...a: unknown[]) {
      if (inSql) return orig.apply(this, a);
      inSql = true;
      try {
        const r = await timed(`sql: ${label(String(a[0]))}`, () => orig.apply(this, a));
        // --explain: DuckDB's own profile of each query (run again, not counted in the steps).
        if (explain && /^\s*(WITH|SELECT)/i.test(String(a[0]))) {
          const plan = (await (this as { runAndReadAll(s: string, v?: unknown): Promise<{ getRows(): unknown[][] }> }).runAndReadAll(`EXPLAIN ANALYZE ${String(a[0])}`, a[1])).getRows();
          process.stderr.write(`=== ${label(String(a[0]))}\n${plan.map((row) => String(row[1])).join('\n')}\n`);
        }
        return r;
      } finally {
        inSql = false;
      }
    };
  }
  const q = {
    ...cohortQuery({ data, type: 'cpu', label: {}, from: Date.parse(from) * 1000, to: Date.parse(to) * 1000, service: arg('--service') }),
    limit: 0,
    by: 'flat' as const,
  };
  const store = new LocalStore(data);
  const filter = topPartitionFilter(q);
  const files = await timed('listing (the tables top reads: LIST, manifests)', () => listTableFiles(store, filter, { lazy: true }));
  const counts = Object.fromEntries(Object.entries(files).filter(([, f]) => f.fresh.length + f.compacted.length > 0).map(([t, f]) => [t, `${f.fresh.length} fresh + ${f.compacted.length} compacted`]));
  const c0 = process.cpuUsage();
  const engine = await timed('QueryEngine.open (all: instance, settings, allowed_paths)', () =>
    QueryEngine.open(files, [data], undefined, { lazyViews: true, fetch: (t, paths) => fetchFiles(store, files[t], paths) }),
  );
  const openCpu = cpuS(process.cpuUsage(c0));
  let outBytes: number | undefined;
  try {
    const r = await timed('top (all statements)', () => top(engine, q));
    outBytes = (await timed('render (exact JSON)', () => exactJson(r))).length;
  } finally {
    await timed('close', () => engine.close());
  }
  const total = cpuS(process.cpuUsage());
  const wall = Number(process.hrtime.bigint() - startWall) / 1e9 + uptimeAtStart;
  const os = await import('node:os');
  if (argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ data, from, to, service: arg('--service') ?? null, loadavg: os.loadavg(), files: counts, totalCpuS: total, wallS: wall, openCpuS: openCpu, steps, outBytes }) + '\n');
    return;
  }
  process.stdout.write(`files: ${JSON.stringify(counts)}\nload ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; total ${total.toFixed(2)} CPU-s, ${wall.toFixed(2)} s wall\n`);
  for (const s of steps) process.stdout.write(`${s.cpuS.toFixed(3).padStart(7)} CPU-s ${s.wallS.toFixed(3).padStart(7)} s  x${String(s.n).padEnd(3)} ${s.step}\n`);
}

main().catch((e) => {
  process.stderr.write(`fresh-top-steps: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
