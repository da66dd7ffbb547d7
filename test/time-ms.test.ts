// Stored times are whole milliseconds (issue #11, "Athena must give the same answers"): Athena
// reads Parquet timestamps as milliseconds, rounding half up, so a microsecond time would put a row
// at 23:59:59.999999 into the next day and shift window edges. Every table's time is floored at
// normalize (lib/model/time.ts floorToMs) and dt is the floored time's day. The same data read by
// Trino (Athena's engine) is compared in test/athena/ (npm run test:athena).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { floorToMs, parseTime } from '../lib/model/time';
import { utcDate } from '../lib/store/layout';
import { encodeProfile, StringTable } from './helpers/pprof-builder';

const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

function ok(...args: string[]): string {
  const r = cli(...args);
  if (r.status !== 0) throw new Error(`fleetprof ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A CPU profile of one sample (10 ms in main.work) captured at `timeNanos`. */
function cpuProfile(timeNanos: bigint): Uint8Array {
  const s = new StringTable();
  return encodeProfile({
    sampleTypes: [
      { type: s.id('samples'), unit: s.id('count') },
      { type: s.id('cpu'), unit: s.id('nanoseconds') },
    ],
    periodType: { type: s.id('cpu'), unit: s.id('nanoseconds') },
    period: 10_000_000,
    timeNanos,
    durationNanos: 1_000_000_000,
    functions: [{ id: 1, name: s.id('main.work'), systemName: s.id('main.work'), filename: s.id('w.go'), startLine: 1 }],
    locations: [{ id: 1, address: 0x1000, lines: [{ functionId: 1, line: 2 }] }],
    samples: [{ locationIds: [1], values: [1, 10_000_000] }],
    stringTable: s.strings,
  });
}

describe('floorToMs', () => {
  test('whole milliseconds, never later, never another day', () => {
    const min = parseTime('2000-01-01T00:00:00Z');
    const max = parseTime('2199-12-31T23:59:59.999999Z');
    fc.assert(
      fc.property(fc.integer({ min, max }), (us) => {
        const f = floorToMs(us);
        expect(f % 1000).toBe(0);
        expect(f <= us && us - f < 1000).toBe(true);
        expect(utcDate(f)).toBe(utcDate(us));
        expect(floorToMs(f)).toBe(f);
      }),
    );
    expect(floorToMs(parseTime('2026-11-20T23:59:59.999999Z'))).toBe(parseTime('2026-11-20T23:59:59.999Z'));
  });
});

describe('stored times are whole milliseconds in every table', () => {
  let dir: string;
  let data: string;
  const DAY = '2026-11-20';
  // The last microsecond (and nanosecond) of the day: Athena, rounding, would read it as the next day.
  const LAST_NS = BigInt(parseTime(`${DAY}T23:59:59.999999Z`)) * 1000n + 999n;
  // Half a millisecond past a whole one: rounding half up would move it to .002.
  const MID_US = parseTime(`${DAY}T10:00:00.001500Z`);

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-time-ms-'));
    data = path.join(dir, 'data');
    writeFileSync(path.join(dir, 'last.pb'), cpuProfile(LAST_NS));
    writeFileSync(path.join(dir, 'mid.pb'), cpuProfile(BigInt(MID_US) * 1000n));
    ok('ingest', '--data', data, '--service', 'svc', '--instance', 'i1', path.join(dir, 'last.pb'), path.join(dir, 'mid.pb'));
    // runtime/metrics: a snapshot at the day's last microsecond.
    writeFileSync(path.join(dir, 'metrics.json'), JSON.stringify({ time: `${DAY}T23:59:59.999999Z`, metrics: { '/gc/heap/goal:bytes': 4194304 } }));
    ok('ingest', '--data', data, '--service', 'svc', '--instance', 'i1', path.join(dir, 'metrics.json'));
    // gctrace: process start at 23:59:59.998999 + `@0.001s` = 23:59:59.999999.
    const line = 'gc 1 @0.001s 1%: 0.010+0.20+0.003 ms clock, 0.040+0.10/0.20/0.30+0.012 ms cpu, 4->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 4 P';
    writeFileSync(path.join(dir, 'gctrace.log'), line + '\n');
    ok('ingest', '--data', data, '--service', 'svc', '--instance', 'i1', '--start', `${DAY}T23:59:59.998999Z`, path.join(dir, 'gctrace.log'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const sql = (q: string): unknown[][] => (JSON.parse(ok('sql', '--data', data, '--json', q)) as { rows: unknown[][] }).rows;

  test('no stored time has a sub-millisecond part, in any table', () => {
    for (const table of ['profiles', 'functions', 'stacks', 'gc_cycles', 'runtime_metrics']) {
      const [[n, sub]] = sql(`SELECT count(*), count(*) FILTER (WHERE epoch_us(time) % 1000 <> 0) FROM ${table}`);
      expect([table, Number(n) > 0, Number(sub)]).toEqual([table, true, 0]);
    }
  });

  test('a row at 23:59:59.999999 is stored at .999 in its own day', () => {
    const last = parseTime(`${DAY}T23:59:59.999Z`);
    for (const table of ['profiles', 'gc_cycles', 'runtime_metrics']) {
      const rows = sql(`SELECT DISTINCT dt, epoch_us(time) FROM ${table} WHERE epoch_us(time) >= ${parseTime(`${DAY}T20:00:00Z`)}`);
      expect(rows.map(([dt, us]) => [table, dt, Number(us)])).toEqual([[table, DAY, last]]);
    }
  });

  test('a time half a millisecond past a whole one is floored, not rounded', () => {
    const rows = sql(`SELECT epoch_us(time) FROM profiles WHERE dt = '${DAY}' AND epoch_us(time) < ${parseTime(`${DAY}T20:00:00Z`)}`);
    expect(rows.map(([us]) => Number(us))).toEqual([parseTime(`${DAY}T10:00:00.001Z`)]);
  });

  test('windows: the last-microsecond profile is in its day and not the next; a window ending 1 ms after a profile holds it', () => {
    const cpu = (from: string, to: string): number => {
      const r = cli('top', '--data', data, '--type', 'cpu', '--from', from, '--to', to, '--json');
      if (r.status === 3) return 0; // exit 3: no samples in the window
      if (r.status !== 0) throw new Error(`top --from ${from} --to ${to} exited ${r.status}: ${r.stderr}`);
      return (JSON.parse(r.stdout) as { total: number }).total;
    };
    const next = '2026-11-21T00:00:00Z';
    expect(cpu(`${DAY}T20:00:00Z`, next)).toBe(10_000_000);
    expect(cpu(next, '2026-11-21T01:00:00Z')).toBe(0);
    // The stored time of MID is 10:00:00.001: a window ending 1 ms later holds it, one ending at it does not.
    expect(cpu(`${DAY}T09:00:00Z`, `${DAY}T10:00:00.002Z`)).toBe(10_000_000);
    expect(cpu(`${DAY}T09:00:00Z`, `${DAY}T10:00:00.001Z`)).toBe(0);
    // Between the floored and the captured time: the stored (floored) one decides, as in Athena.
    expect(cpu(`${DAY}T09:00:00Z`, `${DAY}T10:00:00.0012Z`)).toBe(10_000_000);
  });
});
