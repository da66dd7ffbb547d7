// The one time grammar, run under a non-UTC zone: a time without a zone is refused everywhere
// (it used to be read as local time: 23:00Z the day before under Europe/Berlin), relative times
// work wherever a time does, and bad input is refused with a message naming the accepted forms.
//
// Jest gives each test file a copy of process.env, so setting TZ here would not reach the clock
// of this process: the zone-dependent checks run in a child node with TZ=Europe/Berlin (the
// parser and the HTTP API in-process there; the CLI spawned with the same TZ below).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { handleApiRequest } from '../lib/api/router';
import { isoFromUs, parseDurationMs, parseDurationUs, parseTime, TimeSyntaxError } from '../lib/model/time';
import type { PartitionFilter } from '../lib/store/layout';

const NOW = Date.UTC(2026, 10, 20, 12, 0, 0) * 1000;
const MIDNIGHT = Date.UTC(2026, 10, 20) * 1000;
const H = 3600e6;

const DIST = path.join(__dirname, '..', 'dist');
const BERLIN = { ...process.env, TZ: 'Europe/Berlin' };

test('under TZ=Europe/Berlin: the parser and the HTTP API read times the same as in UTC', () => {
  const script = `
    const { parseTime } = require(${JSON.stringify(path.join(DIST, 'lib/model/time.js'))});
    const { handleApiRequest } = require(${JSON.stringify(path.join(DIST, 'lib/api/router.js'))});
    const out = {
      offsetMin: new Date(2026, 10, 20).getTimezoneOffset(),
      dateParseZoneless: Date.parse('2026-11-20T00:00:00') * 1000,
      utc: parseTime('2026-11-20T00:00:00Z'),
      offset: parseTime('2026-11-20T01:00:00+01:00'),
      date: parseTime('2026-11-20'),
    };
    try { parseTime('2026-11-20T00:00:00'); } catch (e) { out.zoneless = e.message; }
    (async () => {
      let filter;
      const ok = await handleApiRequest({ method: 'GET', path: '/top', query: 'type=cpu&from=2026-11-20&to=2026-11-20T02:00:00%2B01:00' },
        { openEngine: async (f) => { filter = f; throw new Error('stop'); } });
      out.apiFilter = filter;
      const bad = await handleApiRequest({ method: 'GET', path: '/top', query: 'type=cpu&from=2026-11-20T00:00:00' }, { openEngine: async () => { throw new Error('unreachable'); } });
      out.apiBad = { status: bad.status, body: JSON.parse(String(bad.body)) };
      process.stdout.write(JSON.stringify(out));
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: BERLIN });
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout);
  // The child really is in a zone where a local reading is an hour off (the old bug).
  expect(out.offsetMin).toBe(-60);
  expect(out.dateParseZoneless).toBe(MIDNIGHT - H);
  expect(out.utc).toBe(MIDNIGHT);
  expect(out.offset).toBe(MIDNIGHT);
  expect(out.date).toBe(MIDNIGHT);
  expect(out.zoneless).toMatch(/has no time zone/);
  // The times only: the filter also lists the tables `top` reads (PartitionFilter.tables).
  expect(out.apiFilter).toMatchObject({ fromUs: MIDNIGHT, toUs: MIDNIGHT + H });
  expect(out.apiBad.status).toBe(400);
  expect(out.apiBad.body.error).toMatch(/^from: "2026-11-20T00:00:00" has no time zone/);
});

describe('parseTime', () => {
  it.each([
    ['2026-11-20T00:00:00Z', MIDNIGHT],
    ['2026-11-20t00:00:00z', MIDNIGHT],
    ['2026-11-20 00:00:00Z', MIDNIGHT],
    ['2026-11-20T00:00Z', MIDNIGHT],
    ['2026-11-20T01:00:00+01:00', MIDNIGHT],
    ['2026-11-19T19:30:00-04:30', MIDNIGHT],
    ['2026-11-20T00:00:00-00:00', MIDNIGHT],
    ['2026-11-20', MIDNIGHT],
    ['2026-11-20T00:00:00.5Z', MIDNIGHT + 500_000],
    ['2026-11-20T00:00:00.123456789Z', MIDNIGHT + 123_456],
    ['  2026-11-20T00:00:00Z ', MIDNIGHT],
  ])('%s', (s, want) => {
    expect(parseTime(s, NOW)).toBe(want);
  });

  it.each([
    ['now', NOW],
    ['now-1h', NOW - H],
    ['now-90m', NOW - 1.5 * H],
    ['now-1.5h', NOW - 1.5 * H],
    ['now-7d', NOW - 7 * 24 * H],
    ['now-500ms', NOW - 500_000],
    ['now+30s', NOW + 30e6],
  ])('relative %s', (s, want) => {
    expect(parseTime(s, NOW)).toBe(want);
  });

  it('reads now from the clock by default', () => {
    const before = Date.now() * 1000;
    const t = parseTime('now-1h');
    expect(t).toBeGreaterThanOrEqual(before - H);
    expect(t).toBeLessThanOrEqual(Date.now() * 1000 - H);
  });

  it.each([
    ['2026-11-20T00:00:00', /has no time zone.*add Z \(UTC\) or an offset like \+01:00/],
    ['2026-11-20T00:00', /has no time zone/],
    ['Nov 20 2026', /not a time: "Nov 20 2026"; use an RFC 3339 time with a zone/],
    ['2026/11/20', /not a time/],
    ['1763596800', /not a time/],
    ['', /not a time/],
    ['2026-11-20T00:00:00+99:99', /offset \+99:99 is out of range/],
    ['2026-11-20T00:00:00+24:00', /out of range/],
    ['2026-11-20T00:00:00+0100', /bad time zone "\+0100"/],
    ['2026-11-20T00:00:00 UTC', /bad time zone/],
    ['2026-02-30T00:00:00Z', /no such date/],
    ['2026-13-01', /no such date/],
    ['2026-11-20T24:00:00Z', /no such time of day/],
    ['2026-11-20T23:60:00Z', /no such time of day/],
    ['2026-11-20T23:59:60Z', /no such time of day \(leap seconds are not accepted\)/],
    ['1900-01-01T00:00:00Z', /year 1900 is outside 1970\.\.2199/],
    ['9999-12-31', /year 9999 is outside/],
    ['now-', /after now- comes a positive duration/],
    ['now-1w', /after now- comes a positive duration/],
    ['now-0s', /after now- comes/],
    ['yesterday', /not a time/],
  ])('refuses %j', (s, msg) => {
    expect(() => parseTime(s, NOW)).toThrow(TimeSyntaxError);
    expect(() => parseTime(s, NOW)).toThrow(msg);
  });
});

describe('durations: one grammar (decimals, ms..d, bare seconds)', () => {
  it.each([
    ['500ms', 500e3],
    ['30s', 30e6],
    ['30', 30e6],
    ['1.5m', 90e6],
    ['1.5h', 1.5 * H],
    ['1h', H],
    ['7d', 7 * 24 * H],
    ['0.5ms', 500],
  ])('%s', (s, want) => {
    expect(parseDurationUs(s)).toBe(want);
  });
  it.each(['0', '0s', '-1h', '1w', 'h', '1 h', '1e3s', ''])('refuses %j', (s) => {
    expect(() => parseDurationUs(s)).toThrow(/not a positive duration: a number with a unit ms, s, m, h or d/);
  });
  it('in milliseconds for timers', () => {
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(() => parseDurationMs('0.1ms')).toThrow(/shorter than 1ms/);
  });
});

test('isoFromUs prints UTC whatever the zone', () => {
  expect(isoFromUs(MIDNIGHT + 1500)).toBe('2026-11-20T00:00:00.001Z');
});

describe('HTTP API', () => {
  async function filterOf(query: string): Promise<{ status: number; body: string; filter?: PartitionFilter }> {
    let filter: PartitionFilter | undefined;
    const r = await handleApiRequest(
      { method: 'GET', path: '/top', query },
      {
        openEngine: async (f) => {
          filter = f;
          throw new Error('stop here: only the parsing is under test');
        },
      },
    );
    return { status: r.status, body: String(r.body), filter };
  }

  it('reads an offset time exactly, not in the server zone', async () => {
    const r = await filterOf('type=cpu&from=2026-11-20T01:00:00%2B01:00&to=2026-11-21');
    expect(r.filter).toMatchObject({ fromUs: MIDNIGHT, toUs: MIDNIGHT + 24 * H });
    expect(r.filter?.service).toBeUndefined();
  });
  it('takes relative times', async () => {
    const before = Date.now() * 1000;
    const r = await filterOf('type=cpu&from=now-7d&to=now');
    expect(r.filter!.toUs! - r.filter!.fromUs!).toBe(7 * 24 * H);
    expect(r.filter!.toUs!).toBeGreaterThanOrEqual(before);
  });
  it.each([
    ['from=2026-11-20T00:00:00', /^from: "2026-11-20T00:00:00" has no time zone/],
    ['to=Nov%2020%202026', /^to: not a time: "Nov 20 2026"/],
    ['from=2026-11-20T00:00:00%2B99:99', /^from: .*offset \+99:99 is out of range/],
  ])('refuses %s with 400 naming the parameter', async (q, msg) => {
    const r = await filterOf(`type=cpu&${q}`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toMatch(msg);
    expect(r.filter).toBeUndefined();
  });
  it('refuses a bad gc bucket with the duration grammar', async () => {
    const r = await handleApiRequest({ method: 'GET', path: '/gc', query: 'bucket=1w' }, { openEngine: async () => Promise.reject(new Error('unreachable')) });
    expect(r.status).toBe(400);
    expect(JSON.parse(String(r.body)).error).toMatch(/bucket: not a positive duration/);
  });
});

describe('Lambda events', () => {
  it('the digest refuses an event.now without a zone before it touches anything', async () => {
    const saved = process.env.FLEETPROF_BUCKET;
    process.env.FLEETPROF_BUCKET = 'unused-bucket';
    try {
      const { handler } = await import('../lambdas/digest');
      await expect(handler({ now: '2026-11-20T00:00:00' })).rejects.toThrow(/^event\.now: "2026-11-20T00:00:00" has no time zone/);
      await expect(handler({ now: 'Nov 20 2026' })).rejects.toThrow(/^event\.now: not a time/);
    } finally {
      if (saved === undefined) delete process.env.FLEETPROF_BUCKET;
      else process.env.FLEETPROF_BUCKET = saved;
    }
  });
});

describe('CLI under TZ=Europe/Berlin', () => {
  const CLI = path.join(DIST, 'bin/fleetprof.js');
  const RUN = path.join(__dirname, 'fixtures/go/svc-a-v1-i1');
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: BERLIN });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  let data: string;
  let captureUs: number;
  beforeAll(() => {
    data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-time-'));
    expect(cli(['ingest', '--data', data, '--service', 'svc-a', '--instance', 'i1', path.join(RUN, 'cpu.pb.gz')]).code).toBe(0);
    const r = JSON.parse(cli(['sql', '--data', data, '--json', 'SELECT epoch_us(time)::VARCHAR AS t FROM profiles']).stdout) as { rows: string[][] };
    captureUs = Number(r.rows[0][0]);
  });
  afterAll(() => rmSync(data, { recursive: true, force: true }));

  /** The time as wall clock at +05:30 (any offset: the reading must not depend on the zone), to the µs. */
  function at0530(us: number): string {
    const wall = isoFromUs(us + 5.5 * H).slice(0, 19);
    return `${wall}.${String(us % 1e6).padStart(6, '0')}+05:30`;
  }
  const topTotal = (from: string, to: string) => {
    const r = cli(['top', '--data', data, '--type', 'cpu', '--from', from, '--to', to, '--json']);
    return { ...r, total: r.stdout ? Number((JSON.parse(r.stdout) as { total: number | string }).total) : NaN };
  };

  it('an offset time selects exactly [from, to) to the microsecond', () => {
    expect(topTotal(at0530(captureUs), at0530(captureUs + 1)).total).toBeGreaterThan(0);
    expect(topTotal(at0530(captureUs + 1), at0530(captureUs + H)).total).toBe(0);
  });
  it('relative times', () => {
    expect(topTotal('now-36500d', 'now').total).toBeGreaterThan(0);
    expect(topTotal('now-1h', 'now+1h').total).toBe(0);
  });
  it('refuses a time without a zone, naming the flag and the accepted forms', () => {
    const wall = isoFromUs(captureUs).slice(0, 19);
    for (const flag of ['--from', '--to']) {
      const r = cli(['top', '--data', data, '--type', 'cpu', flag, wall]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(flag);
      expect(r.stderr).toMatch(/has no time zone.*add Z \(UTC\) or an offset like \+01:00/);
    }
    const r = cli(['diff', '--data', data, '--type', 'cpu', '--base-from', 'Nov 20 2026']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--base-from');
    expect(r.stderr).toMatch(/not a time: "Nov 20 2026"; use an RFC 3339 time with a zone/);
  });
  it('durations: --window and --bucket share the grammar', () => {
    expect(cli(['gc', '--data', data, '--bucket', '1w']).stderr).toMatch(/not a positive duration/);
    expect(cli(['digest', '--data', data, '--window', '1.5x']).stderr).toMatch(/not a positive duration/);
  });
});
