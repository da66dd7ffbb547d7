// gctrace logs and runtime/metrics snapshots through `fleetprof ingest` into gc_cycles and
// runtime_metrics: row counts and every column against the real fixture logs' own text, time from
// --start, one file per UTC day, idempotent re-ingest, warnings for malformed lines, clear errors.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { gctraceLog } from './helpers/gctrace-gen';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const FIXTURES = path.join(__dirname, 'fixtures/go');
const MiB = 1048576;

interface Run {
  run: string;
  service: string;
  instance: string;
  version: string;
  startTime: string;
  gcLines: number;
  forcedGcLines: number;
}
const MANIFEST = JSON.parse(readFileSync(path.join(FIXTURES, 'MANIFEST.json'), 'utf8')) as { runs: Run[] };

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let tmp: string;
let data: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-gc-ingest-'));
  data = path.join(tmp, 'data');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sql = (q: string, dir = data) => {
  const r = cli(['sql', '--data', dir, '--json', q]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as { columns: string[]; rows: unknown[][] };
};
const rowObjects = (r: { columns: string[]; rows: unknown[][] }) => r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])));

const ingestRun = (run: Run, dir = data) =>
  cli([
    'ingest', '--data', dir, '--service', run.service, '--instance', run.instance, '--version', run.version,
    '--start', run.startTime, path.join(FIXTURES, run.run, 'gctrace.log'),
  ]);

/** The gc lines of a log, parsed here by splitting on the separators (independent of lib/decode/gctrace.ts). */
function linesOf(text: string): Record<string, unknown>[] {
  const ms = (s: string) => Math.round(Number(s) * 1e6); // at most 3 decimals: exact after rounding
  return text
    .split('\n')
    .filter((l) => l.startsWith('gc '))
    .map((l) => {
      const [head, rest] = l.split(': ');
      const [, n, at, p] = head.split(' ');
      const parts = rest.split(', ');
      const clock = parts[0].replace(' ms clock', '').split('+');
      const cpu = parts[1].replace(' ms cpu', '').split(/[+/]/);
      const heap = parts[2].replace(' MB', '').split('->');
      const mb = (i: number) => String(Number(parts[i].split(' ')[0]) * MiB);
      const procsPart = parts[parts.length - 1];
      return {
        gc: Number(n),
        at,
        cpu_pct: Number(p.replace('%', '')),
        sweep_term_ns: ms(clock[0]),
        mark_ns: ms(clock[1]),
        mark_term_ns: ms(clock[2]),
        pause_ns: ms(clock[0]) + ms(clock[2]),
        sweep_term_cpu_ns: ms(cpu[0]),
        assist_cpu_ns: ms(cpu[1]),
        background_cpu_ns: ms(cpu[2]),
        idle_cpu_ns: ms(cpu[3]),
        mark_term_cpu_ns: ms(cpu[4]),
        heap_start_bytes: Number(heap[0]) * MiB,
        heap_end_bytes: Number(heap[1]) * MiB,
        heap_live_bytes: Number(heap[2]) * MiB,
        heap_goal_bytes: Number(mb(3)),
        stacks_bytes: Number(mb(4)),
        globals_bytes: Number(mb(5)),
        procs: Number(procsPart.split(' ')[0]),
        forced: procsPart.endsWith('(forced)'),
      };
    });
}

describe('real gctrace fixtures through fleetprof ingest', () => {
  beforeAll(() => {
    for (const run of MANIFEST.runs) {
      const r = ingestRun(run);
      expect(r.stderr).toMatch(/ingested 1 of 1 inputs \(0 failed/);
      expect(r.code).toBe(0);
    }
  });

  test('one row per gc line and per (forced) line, as MANIFEST counts them', () => {
    const got = rowObjects(sql('SELECT instance, version, count(*) AS n, count(*) FILTER (WHERE forced) AS forced FROM gc_cycles GROUP BY ALL ORDER BY ALL'));
    const want = MANIFEST.runs
      .map((r) => ({ instance: r.instance, version: r.version, n: r.gcLines, forced: r.forcedGcLines }))
      .sort((a, b) => (a.instance + a.version < b.instance + b.version ? -1 : 1));
    expect(got).toEqual(want);
  });

  test.each(MANIFEST.runs.map((r) => [r.run, r] as const))('%s: every column of every row equals the line text', (_name, run) => {
    const lines = linesOf(readFileSync(path.join(FIXTURES, run.run, 'gctrace.log'), 'utf8'));
    expect(lines).toHaveLength(run.gcLines);
    const rows = rowObjects(
      sql(
        `SELECT *, epoch_us(time) AS time_us FROM gc_cycles WHERE instance = '${run.instance}' AND version = '${run.version}' ORDER BY gc`,
      ),
    );
    expect(rows).toHaveLength(lines.length);
    const startMs = Date.parse(run.startTime);
    const profileIds = new Set(rows.map((r) => r.profile_id));
    expect(profileIds.size).toBe(1);
    expect([...profileIds][0]).toMatch(/^[0-9a-f]{32}$/);
    rows.forEach((row, i) => {
      const l = lines[i];
      const [sec, frac] = String(l.at).replace('@', '').replace('s', '').split('.');
      const { at: _at, ...cols } = l;
      expect(row).toMatchObject({
        ...cols,
        service: run.service,
        instance: run.instance,
        version: run.version,
        segment: 0,
        time_estimated: false,
        go_format: '1.18',
        dt: new Date(startMs).toISOString().slice(0, 10),
      });
      // time = --start + @offset (both exact in microseconds)
      expect(row.time_us).toBe(startMs * 1000 + Number(sec) * 1e6 + Number(frac.padEnd(6, '0')));
    });
  });

  test('re-ingesting the same logs replaces their rows, never duplicates them', () => {
    const count = () => sql('SELECT count(*) FROM gc_cycles').rows[0][0];
    const before = count();
    for (const run of MANIFEST.runs) expect(ingestRun(run).code).toBe(0);
    expect(count()).toBe(before);
    // Each ingest call is a batch: one file per UTC hour of its rows; the second call's copies are
    // skipped by readers (one batch per profile_id and hour counts).
    const dir = path.join(data, 'fresh', 'gc_cycles');
    const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.parquet'));
    for (const f of files) expect(f).toMatch(/^dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/b[0-9a-z]{21}\.parquet$/);
  });
});

describe('synthetic logs', () => {
  const write = (name: string, text: string | Buffer) => {
    const p = path.join(tmp, name);
    writeFileSync(p, text);
    return p;
  };
  const ingest = (dir: string, file: string, extra: string[] = ['--start', '2026-03-01T23:59:30Z']) =>
    cli(['ingest', '--data', dir, '--service', 'night', '--instance', 'i1', ...extra, file]);

  test('a log spanning midnight lands in two dt partitions, one file each; re-ingest counts once', () => {
    const dir = path.join(tmp, 'midnight');
    // Cycles at 23:59:31, :41, ... every 10 s for 2 minutes: 3 before midnight, 9 after.
    const file = write('midnight.log', gctraceLog({ cycles: 12, periodS: 10 }));
    expect(ingest(dir, file).code).toBe(0);
    const q = "SELECT dt, count(*), min(strftime(time, '%H:%M:%S')), max(strftime(time, '%H:%M:%S')) FROM gc_cycles GROUP BY dt ORDER BY dt";
    const first = sql(q, dir).rows;
    expect(first).toEqual([
      ['2026-03-01', 3, '23:59:31', '23:59:51'],
      ['2026-03-02', 9, '00:00:01', '00:01:21'],
    ]);
    expect(ingest(dir, file).code).toBe(0);
    expect(sql(q, dir).rows).toEqual(first);
    const files = readdirSync(path.join(dir, 'fresh', 'gc_cycles'), { recursive: true }).map(String).filter((f) => f.endsWith('.parquet'));
    // Two ingest calls (two batches) x two hours (23:00 and 00:00 of the next day).
    expect(files.sort().map((f) => f.split('/').slice(0, 2).join('/'))).toEqual(['dt=2026-03-01/hour=23', 'dt=2026-03-01/hour=23', 'dt=2026-03-02/hour=00', 'dt=2026-03-02/hour=00']);
  });

  test('without --start a gctrace log fails with the reason; other inputs in the same call still go in', () => {
    const dir = path.join(tmp, 'nostart');
    const file = write('nostart.log', gctraceLog({ cycles: 3, periodS: 1 }));
    const r = cli(['ingest', '--data', dir, '--service', 's', '--instance', 'i', file, path.join(FIXTURES, 'svc-a-v1-i1/cpu.pb.gz')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}: gctrace log needs a capture start: pass --start`);
    expect(r.stderr).toMatch(/ingested 1 of 2 inputs \(1 failed/);
  });

  test('malformed gc lines: counted and quoted as a warning, the log still counts as ingested', () => {
    const dir = path.join(tmp, 'malformed');
    const good = gctraceLog({ cycles: 5, periodS: 1 }).trimEnd().split('\n');
    const bad1 = 'gc 6 @6.000s 1%: 0.05+20+0.08 ms clock, 0.4+1/40/5+0.64 ms cpu, 390->400->200 MB, 402 MB goal, 1 MB stac';
    const bad2 = 'gc 7 @7.000s 1%: 0.05+20 ms clock, garbage';
    const file = write('malformed.log', [...good, bad1, bad2, ''].join('\n'));
    const r = ingest(dir, file);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${file}: warning: 2 malformed gc line(s) skipped, e.g. ${JSON.stringify(bad1)}, ${JSON.stringify(bad2)}`);
    expect(r.stderr).toMatch(/ingested 1 of 1 inputs \(0 failed, 5 rows\)/);
    expect(sql('SELECT count(*) FROM gc_cycles', dir).rows).toEqual([[5]]);
  });

  test('a gzipped log, and a log whose first 64 KiB are application output, are still routed to gc_cycles', () => {
    const dir = path.join(tmp, 'routing');
    const log = gctraceLog({ cycles: 4, periodS: 1 });
    const gz = write('gz.log.gz', gzipSync(Buffer.from(log)));
    const noisy = write('noisy.log', 'app says hello world\n'.repeat(5000) + log);
    const r = cli(['ingest', '--data', dir, '--service', 's', '--instance', 'i', '--start', '2026-03-01T10:00:00Z', gz, noisy]);
    expect(r.stderr).toMatch(/ingested 2 of 2 inputs \(0 failed, 8 rows\)/);
    expect(sql('SELECT count(*), count(DISTINCT profile_id) FROM gc_cycles', dir).rows).toEqual([[8, 2]]);
  });

  test('input with no recognizable content keeps failing with a clear reason', () => {
    const dir = path.join(tmp, 'junk');
    const file = write('notes.txt', 'just some notes\nnothing to see here\n');
    const r = cli(['ingest', '--data', dir, '--service', 's', '--instance', 'i', '--start', '2026-03-01T10:00:00Z', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}: plain text that is not a Go profile`);
  });

  test('GC off: a goal beyond 2^53 is stored exactly', () => {
    const dir = path.join(tmp, 'gcoff');
    const file = write('gcoff.log', gctraceLog({ cycles: 2, periodS: 1, cycle: () => ({ goalMiB: '8532210231531' }) }));
    expect(ingest(dir, file).code).toBe(0);
    const want = (8532210231531n * 1048576n).toString();
    expect(sql('SELECT DISTINCT heap_goal_bytes, heap_goal_bytes::VARCHAR FROM gc_cycles', dir).rows).toEqual([[want, want]]);
  });
});

describe('runtime/metrics snapshots', () => {
  test('a snapshot with a histogram goes to runtime_metrics and reads back through fleetprof sql', () => {
    const dir = path.join(tmp, 'metrics');
    const snap = (time: string, goal: number, pauses: number[]) => ({
      time,
      metrics: {
        '/gc/heap/goal:bytes': goal,
        '/gc/cycles/total:gc-cycles': 12,
        '/cpu/classes/gc/total:cpu-seconds': 0.25,
        '/gc/gogc:percent': 100,
        '/sched/latencies:seconds': null,
        '/gc/pauses:seconds': { buckets: ['-Inf', 1e-6, 1e-4, 1e-2, '+Inf'], counts: pauses },
      },
    });
    const file = path.join(tmp, 'metrics.jsonl');
    writeFileSync(
      file,
      [snap('2026-03-01T23:59:59.5Z', 4194304, [0, 3, 2, 1]), snap('2026-03-02T00:00:09.5Z', 8388608, [0, 5, 2, 1])].map((s) => JSON.stringify(s)).join('\n') + '\n',
    );
    const r = cli(['ingest', '--data', dir, '--service', 'm', '--instance', 'i1', '--version', 'v3', '--label', 'region=eu', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/ingested 1 of 1 inputs \(0 failed, 12 rows\)/);
    const scalars = sql(
      "SELECT dt, strftime(time, '%H:%M:%S.%g'), name, unit, kind, value, buckets IS NULL, counts IS NULL, version, labels['region'] FROM runtime_metrics WHERE kind <> 'histogram' ORDER BY time, name",
      dir,
    ).rows;
    expect(scalars).toEqual([
      ['2026-03-01', '23:59:59.500', '/cpu/classes/gc/total:cpu-seconds', 'cpu-seconds', 'float64', 0.25, true, true, 'v3', 'eu'],
      ['2026-03-01', '23:59:59.500', '/gc/cycles/total:gc-cycles', 'gc-cycles', 'uint64', 12, true, true, 'v3', 'eu'],
      ['2026-03-01', '23:59:59.500', '/gc/gogc:percent', 'percent', 'uint64', 100, true, true, 'v3', 'eu'],
      ['2026-03-01', '23:59:59.500', '/gc/heap/goal:bytes', 'bytes', 'uint64', 4194304, true, true, 'v3', 'eu'],
      ['2026-03-01', '23:59:59.500', '/sched/latencies:seconds', 'seconds', 'float64', null, true, true, 'v3', 'eu'],
      ['2026-03-02', '00:00:09.500', '/cpu/classes/gc/total:cpu-seconds', 'cpu-seconds', 'float64', 0.25, true, true, 'v3', 'eu'],
      ['2026-03-02', '00:00:09.500', '/gc/cycles/total:gc-cycles', 'gc-cycles', 'uint64', 12, true, true, 'v3', 'eu'],
      ['2026-03-02', '00:00:09.500', '/gc/gogc:percent', 'percent', 'uint64', 100, true, true, 'v3', 'eu'],
      ['2026-03-02', '00:00:09.500', '/gc/heap/goal:bytes', 'bytes', 'uint64', 8388608, true, true, 'v3', 'eu'],
      ['2026-03-02', '00:00:09.500', '/sched/latencies:seconds', 'seconds', 'float64', null, true, true, 'v3', 'eu'],
    ]);
    // Histograms: infinite outer bounds survive (JSON cannot print them, so ask DuckDB about them).
    const hist = sql(
      "SELECT dt, value IS NULL, len(buckets), isinf(buckets[1]) AND buckets[1] < 0, buckets[2:4], isinf(buckets[5]) AND buckets[5] > 0, counts FROM runtime_metrics WHERE kind = 'histogram' ORDER BY time",
      dir,
    ).rows;
    expect(hist).toEqual([
      ['2026-03-01', true, 5, true, [1e-6, 1e-4, 1e-2], true, [0, 3, 2, 1]],
      ['2026-03-02', true, 5, true, [1e-6, 1e-4, 1e-2], true, [0, 5, 2, 1]],
    ]);
    // The pause histogram's delta between the two snapshots, the way the docs suggest.
    const delta = sql(
      "SELECT list_transform(list_zip(last(counts ORDER BY time), first(counts ORDER BY time)), x -> x[1] - x[2]) FROM runtime_metrics WHERE name = '/gc/pauses:seconds'",
      dir,
    ).rows;
    expect(delta).toEqual([[[0, 2, 0, 0]]]);
  });
});
