// `node dist/bench/serve-load.js [N] [--old <checkout with a built dist/>]`: fleetprof serve under
// load and under the DoS probes of issue #13, side by side with serve uncapped (all requests at
// once, as before the cap). With --old, each configuration of the burst runs on the old build's
// serve right after this build's, so the two share the machine's load.
// Prints numbers; asserts nothing (the tests assert statuses: test/sql-sandbox-surfaces.test.ts).
// BENCH_PROBES_ONLY=1: only the DoS probes (BENCH_ROUNDS times, default 3), every build in turn.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const ARGS = process.argv.slice(2);
/** --old <dir>, repeatable: other builds to run each burst on, in the same run. */
const OLD: string[] = [];
while (ARGS.includes('--old')) OLD.push(ARGS.splice(ARGS.indexOf('--old'), 2)[1]);
const N = Number(ARGS[0] ?? 200);

function hwmMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function withServe<T>(data: string, args: string[], f: (base: string, pid: number) => Promise<T>, cli = CLI): Promise<T> {
  const child = spawn(process.execPath, [cli, 'serve', '--data', data, '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const base = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
    child.once('exit', (c) => reject(new Error(`serve exited ${c}: ${err}`)));
  });
  try {
    return await f(base, child.pid!);
  } finally {
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await done;
  }
}

const NORMAL = 'SELECT count(*) FROM profiles';
const PROBES = [
  'SELECT len(range(300000000))',
  "SELECT repeat('x', 100000000) FROM range(50)",
  'SELECT list(range(20000000))',
  'SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000000000) b',
  'SELECT * FROM generate_series(1, 1000000000)',
  'SELECT count(*) FROM (SELECT range AS k, list(range) AS l FROM range(100000000) GROUP BY k)',
  "SELECT repeat('x', 1000000) FROM range(100)",
];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function burst(base: string, n: number) {
  const t0 = Date.now();
  const rs = await Promise.all(
    Array.from({ length: n }, async () => {
      const t = Date.now();
      const r = await fetch(`${base}/top?type=cpu&limit=10`);
      await r.arrayBuffer();
      return { status: r.status, ms: Date.now() - t };
    }),
  );
  const ok = rs.filter((r) => r.status === 200).map((r) => r.ms);
  return { wallMs: Date.now() - t0, ok: ok.length, busy: rs.filter((r) => r.status === 503).length, p50: pct(ok, 50), p95: pct(ok, 95) };
}

async function main(): Promise<void> {
  const top = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bench-serve-'));
  // Each build ingests the same profiles into a data directory of its own (layouts differ).
  const ingest = (cli: string, data: string) => {
    for (const run of ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1']) {
      const [, , version, instance] = run.split('-');
      const r = spawnSync(process.execPath, [cli, 'ingest', '--data', data, '--service', 'svc-a', '--version', version, '--instance', instance, path.join(ROOT, 'test/fixtures/go', run, 'cpu.pb.gz')], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
    }
  };
  const data = path.join(top, 'this');
  try {
    ingest(CLI, data);
    console.log(`serve: ${N} concurrent GET /top on ${os.availableParallelism()} CPUs; load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
    console.log('config                              build          wall ms   200s  503s   p50 ms   p95 ms   serve peak RSS MB');
    const builds: [string, string, string][] = [['this build', CLI, data]];
    for (const [i, dir] of OLD.entries()) {
      const cli = path.resolve(dir, 'dist/bin/fleetprof.js');
      const d = path.join(top, `old${i}`);
      ingest(cli, d);
      builds.push([`old ${path.basename(dir)}`, cli, d]);
    }
    const configs: [string, string[]][] = [
      ['uncapped (as before: all at once)', ['--concurrency', '100000', '--queue', '1']],
      ['capped, queue holds all', ['--queue', String(N)]],
      ['capped, default queue (64)', []],
    ];
    for (const [name, args] of process.env.BENCH_PROBES_ONLY ? [] : configs) {
      // Builds before fe81b24 start one SQL process per --concurrency at launch: uncapped, that
      // was thousands of processes, so only this build runs it.
      for (const [build, cli, d] of name.startsWith('uncapped') ? builds.slice(0, 1) : builds) {
        await withServe(
          d,
          args,
          async (base, pid) => {
            const b = await burst(base, N);
            console.log(`${name.padEnd(35)} ${build.padEnd(14)} ${String(b.wallMs).padStart(8)} ${String(b.ok).padStart(6)} ${String(b.busy).padStart(5)} ${String(b.p50).padStart(8)} ${String(b.p95).padStart(8)} ${String(hwmMb(pid)).padStart(10)}`);
          },
          cli,
        );
      }
    }

    // The DoS probes of #13, each followed at once by a normal query ("next": the issue's "the
    // server answers the next request normally within a second") and then by the same query again
    // ("steady": what that query costs on this machine now, with no kill behind it). Each build's
    // serve in turn, ROUNDS times over the probes; the first probe comes as serve starts (its query
    // processes still starting: the worst case).
    const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
    const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');
    console.log(`\nDoS probes (serve --sql-timeout-ms 5000 --sql-memory-mb 1024), ${rounds} rounds; each followed by a normal query (next) and that query again (steady)`);
    console.log(`load average at start: ${load()}`);
    console.log('build          probe                                                 status probe ms  reason                                    next ms  steady ms');
    const summary: string[] = [];
    for (const [build, cli, d] of builds) {
      const next: number[] = [];
      const steady: number[] = [];
      await withServe(
        d,
        ['--sql-timeout-ms', '5000', '--sql-memory-mb', '1024'],
        async (base, pid) => {
          const post = async (sql: string) => {
            const t = Date.now();
            const r = await fetch(`${base}/sql`, { method: 'POST', body: JSON.stringify({ sql }) });
            const body = (await r.json()) as { error?: string };
            return { status: r.status, ms: Date.now() - t, reason: body.error ?? '' };
          };
          for (let round = 0; round < rounds; round++) {
            for (const p of PROBES) {
              const a = await post(p);
              const b = await post(NORMAL);
              const c = await post(NORMAL);
              if (b.status !== 200 || c.status !== 200) throw new Error(`${build}: the query after "${p}" got ${b.status}/${c.status}: ${b.reason}${c.reason}`);
              next.push(b.ms);
              steady.push(c.ms);
              console.log(`${build.padEnd(14)} ${p.slice(0, 53).padEnd(53)} ${String(a.status).padStart(6)} ${String(a.ms).padStart(8)}  ${a.reason.slice(0, 40).padEnd(40)} ${String(b.ms).padStart(8)} ${String(c.ms).padStart(10)}`);
            }
          }
          const over = next.filter((ms) => ms > 1000).length;
          summary.push(
            `${build.padEnd(14)} next: median ${pct(next, 50)} ms, p90 ${pct(next, 90)}, worst ${Math.max(...next)}, ${over} of ${next.length} over 1 s; steady: median ${pct(steady, 50)} ms, worst ${Math.max(...steady)}; serve peak RSS ${hwmMb(pid)} MB`,
          );
        },
        cli,
      );
    }
    console.log(`load average at end: ${load()}`);
    for (const l of summary) console.log(l);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
