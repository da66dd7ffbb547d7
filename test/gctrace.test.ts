import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { createGctraceParser, looksLikeGctrace, parseGctrace, parseRfc3339Us } from '../lib/decode/formats/gctrace';
import { looksLikeRuntimeMetrics } from '../lib/decode/formats/runtime-metrics';
import type { GcCycleRow, GctraceParseResult } from '../lib/model/gc';

const MiB = 1048576;
const T0 = Date.UTC(2024, 0, 1) * 1000; // caller-supplied process start, epoch µs

function parse(text: string, startUs = T0): GctraceParseResult {
  return parseGctrace(text, { startUs });
}

function only(text: string): GcCycleRow {
  const r = parse(text + '\n');
  expect(r.cycles).toHaveLength(1);
  expect(r.malformed).toBe(0);
  return r.cycles[0];
}

// Real lines quoted in golang/go issues, one per format generation of the runtime's print code
// (runtime/mgc.go), every field checked by hand.
const GO15 =
  'gc 86 @11.635s 20%: 1.0+2.0+0+120+3.0 ms clock, 8.0+2.0+0+407/200/0+24 ms cpu, 324->385->257 MB, 396 MB goal, 8 P';
const GO153 =
  'gc 98 @9.200s 1%: 1.3+12+7.1+0.34+0.55 ms clock, 5.4+12+0+8.6/0.031/2.6+2.2 ms cpu, 100->112->59 MB, 102 MB goal, 32 P';
const GO153_FORCED =
  'gc 99 @9.246s 1%: 0.29+0+0+0+8.4 ms clock, 1.1+0+0+8.6/0.031/2.6+33 ms cpu, 60->60->48 MB, 60 MB goal, 32 P (forced)';
const GO16_18896 =
  'gc 1 @0.011s 1%: 0.13+16+0.24 ms clock, 0.41+16/1.4/18+0.74 ms cpu, 16->16->16 MB, 17 MB goal, 40 P';
const GO16_22439 = 'gc 283 @1.205s 0%: 1.0+0+0 ms clock, 3.0+0/0/0+0 ms cpu, 5->6->5 MB, 6 MB goal, 4 P';
const GO116_SYSLOG =
  'Feb 26 13:56:33.456 gc 46 @1573.417s 0%: 0.18+24+0.029 ms clock, 1.4+0.27/49/121+0.23 ms cpu, 259->262->125 MB, 265 MB goal, 8 P';
const GO119_FORCED =
  'gc 1 @0.124s 16%: 0.040+242+0.002 ms clock, 0.32+0.11/484/1447+0.020 ms cpu, 1526->1526->1525 MB, 1526 MB goal, 0 MB stacks, 0 MB globals, 8 P (forced)';
const GO122 =
  'gc 1 @3.003s 0%: 0.012+0.15+0.003 ms clock, 0.29+0/0.16/0+0.074 ms cpu, 4->4->4 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 24 P';
const GO119_STACKS =
  'gc 1 @0.016s 19%: 0.053+36+0.016 ms clock, 0.21+36/4.9/39+0.066 ms cpu, 3->3->3 MB, 4 MB goal, 66 MB stacks, 0 MB globals, 4 P';

// A well-formed 1.18+ line with a given number and offset, for structure tests.
function line(gc: number, at: string, suffix = ''): string {
  return `gc ${gc} @${at}s 1%: 10+20+30 ms clock, 1+2/3/4+5 ms cpu, 4->5->3 MB, 8 MB goal, 0 MB stacks, 0 MB globals, 2 P${suffix}`;
}

describe('gctrace: real lines from golang/go issues', () => {
  test('Go 1.5 (#12228): 5 clock phases, scan+installWB+mark folded into markNs', () => {
    expect(only(GO15)).toEqual<GcCycleRow>({
      timeUs: T0 + 11_635_000,
      timeEstimated: false,
      segment: 0,
      gc: 86,
      forced: false,
      cpuPct: 20,
      sweepTermNs: 1_000_000,
      markNs: 2_000_000 + 0 + 120_000_000,
      markTermNs: 3_000_000,
      pauseNs: 1_000_000 + 3_000_000,
      sweepTermCpuNs: 8_000_000,
      assistCpuNs: 407_000_000,
      backgroundCpuNs: 200_000_000 + 2_000_000 + 0, // + scan and install-WB cpu
      idleCpuNs: 0,
      markTermCpuNs: 24_000_000,
      heapStartBytes: 324 * MiB,
      heapEndBytes: 385 * MiB,
      heapLiveBytes: 257 * MiB,
      heapGoalBytes: 396 * MiB,
      stacksBytes: null,
      globalsBytes: null,
      procs: 8,
      goFormat: '1.5',
    });
    expect(only(GO15).heapStartBytes).toBe(339_738_624);
  });

  test('Go 1.5.3 (#15068) normal and forced lines in one segment', () => {
    const r = parse(`${GO153}\n${GO153_FORCED}\n`);
    expect(r.segments).toBe(1);
    expect(r.cycles).toEqual<GcCycleRow[]>([
      {
        timeUs: T0 + 9_200_000,
        timeEstimated: false,
        segment: 0,
        gc: 98,
        forced: false,
        cpuPct: 1,
        sweepTermNs: 1_300_000,
        markNs: 12_000_000 + 7_100_000 + 340_000,
        markTermNs: 550_000,
        pauseNs: 1_850_000,
        sweepTermCpuNs: 5_400_000,
        assistCpuNs: 8_600_000,
        backgroundCpuNs: 31_000 + 12_000_000,
        idleCpuNs: 2_600_000,
        markTermCpuNs: 2_200_000,
        heapStartBytes: 100 * MiB,
        heapEndBytes: 112 * MiB,
        heapLiveBytes: 59 * MiB,
        heapGoalBytes: 102 * MiB,
        stacksBytes: null,
        globalsBytes: null,
        procs: 32,
        goFormat: '1.5',
      },
      {
        timeUs: T0 + 9_246_000,
        timeEstimated: false,
        segment: 0,
        gc: 99,
        forced: true,
        cpuPct: 1,
        sweepTermNs: 290_000,
        markNs: 0,
        markTermNs: 8_400_000,
        pauseNs: 8_690_000,
        sweepTermCpuNs: 1_100_000,
        assistCpuNs: 8_600_000,
        backgroundCpuNs: 31_000,
        idleCpuNs: 2_600_000,
        markTermCpuNs: 33_000_000,
        heapStartBytes: 60 * MiB,
        heapEndBytes: 60 * MiB,
        heapLiveBytes: 48 * MiB,
        heapGoalBytes: 60 * MiB,
        stacksBytes: null,
        globalsBytes: null,
        procs: 32,
        goFormat: '1.5',
      },
    ]);
  });

  test('Go 1.6-1.17 (#18896)', () => {
    expect(only(GO16_18896)).toEqual<GcCycleRow>({
      timeUs: T0 + 11_000,
      timeEstimated: false,
      segment: 0,
      gc: 1,
      forced: false,
      cpuPct: 1,
      sweepTermNs: 130_000,
      markNs: 16_000_000,
      markTermNs: 240_000,
      pauseNs: 370_000,
      sweepTermCpuNs: 410_000,
      assistCpuNs: 16_000_000,
      backgroundCpuNs: 1_400_000,
      idleCpuNs: 18_000_000,
      markTermCpuNs: 740_000,
      heapStartBytes: 16 * MiB,
      heapEndBytes: 16 * MiB,
      heapLiveBytes: 16 * MiB,
      heapGoalBytes: 17 * MiB,
      stacksBytes: null,
      globalsBytes: null,
      procs: 40,
      goFormat: '1.6',
    });
  });

  test('Go 1.6-1.17 (#22439, coarse Windows timer: zeros)', () => {
    expect(only(GO16_22439)).toEqual<GcCycleRow>({
      timeUs: T0 + 1_205_000,
      timeEstimated: false,
      segment: 0,
      gc: 283,
      forced: false,
      cpuPct: 0,
      sweepTermNs: 1_000_000,
      markNs: 0,
      markTermNs: 0,
      pauseNs: 1_000_000,
      sweepTermCpuNs: 3_000_000,
      assistCpuNs: 0,
      backgroundCpuNs: 0,
      idleCpuNs: 0,
      markTermCpuNs: 0,
      heapStartBytes: 5 * MiB,
      heapEndBytes: 6 * MiB,
      heapLiveBytes: 5 * MiB,
      heapGoalBytes: 6 * MiB,
      stacksBytes: null,
      globalsBytes: null,
      procs: 4,
      goFormat: '1.6',
    });
  });

  test('Go 1.16 with syslog prefix (#44554): prefix without year/zone gives no absolute time', () => {
    expect(only(GO116_SYSLOG)).toEqual<GcCycleRow>({
      timeUs: T0 + 1_573_417_000,
      timeEstimated: false,
      segment: 0,
      gc: 46,
      forced: false,
      cpuPct: 0,
      sweepTermNs: 180_000,
      markNs: 24_000_000,
      markTermNs: 29_000,
      pauseNs: 209_000,
      sweepTermCpuNs: 1_400_000,
      assistCpuNs: 270_000,
      backgroundCpuNs: 49_000_000,
      idleCpuNs: 121_000_000,
      markTermCpuNs: 230_000,
      heapStartBytes: 259 * MiB,
      heapEndBytes: 262 * MiB,
      heapLiveBytes: 125 * MiB,
      heapGoalBytes: 265 * MiB,
      stacksBytes: null,
      globalsBytes: null,
      procs: 8,
      goFormat: '1.6',
    });
  });

  test('Go 1.19 devel forced (#52515)', () => {
    expect(only(GO119_FORCED)).toEqual<GcCycleRow>({
      timeUs: T0 + 124_000,
      timeEstimated: false,
      segment: 0,
      gc: 1,
      forced: true,
      cpuPct: 16,
      sweepTermNs: 40_000,
      markNs: 242_000_000,
      markTermNs: 2_000,
      pauseNs: 42_000,
      sweepTermCpuNs: 320_000,
      assistCpuNs: 110_000,
      backgroundCpuNs: 484_000_000,
      idleCpuNs: 1_447_000_000,
      markTermCpuNs: 20_000,
      heapStartBytes: 1526 * MiB,
      heapEndBytes: 1526 * MiB,
      heapLiveBytes: 1525 * MiB,
      heapGoalBytes: 1526 * MiB,
      stacksBytes: 0,
      globalsBytes: 0,
      procs: 8,
      goFormat: '1.18',
    });
  });

  test('Go 1.22.3 (#68643)', () => {
    expect(only(GO122)).toEqual<GcCycleRow>({
      timeUs: T0 + 3_003_000,
      timeEstimated: false,
      segment: 0,
      gc: 1,
      forced: false,
      cpuPct: 0,
      sweepTermNs: 12_000,
      markNs: 150_000,
      markTermNs: 3_000,
      pauseNs: 15_000,
      sweepTermCpuNs: 290_000,
      assistCpuNs: 0,
      backgroundCpuNs: 160_000,
      idleCpuNs: 0,
      markTermCpuNs: 74_000,
      heapStartBytes: 4 * MiB,
      heapEndBytes: 4 * MiB,
      heapLiveBytes: 4 * MiB,
      heapGoalBytes: 4 * MiB,
      stacksBytes: 0,
      globalsBytes: 0,
      procs: 24,
      goFormat: '1.18',
    });
  });

  test('Go 1.19 with stacks (#54649)', () => {
    expect(only(GO119_STACKS)).toEqual<GcCycleRow>({
      timeUs: T0 + 16_000,
      timeEstimated: false,
      segment: 0,
      gc: 1,
      forced: false,
      cpuPct: 19,
      sweepTermNs: 53_000,
      markNs: 36_000_000,
      markTermNs: 16_000,
      pauseNs: 69_000,
      sweepTermCpuNs: 210_000,
      assistCpuNs: 36_000_000,
      backgroundCpuNs: 4_900_000,
      idleCpuNs: 39_000_000,
      markTermCpuNs: 66_000,
      heapStartBytes: 3 * MiB,
      heapEndBytes: 3 * MiB,
      heapLiveBytes: 3 * MiB,
      heapGoalBytes: 4 * MiB,
      stacksBytes: 66 * MiB,
      globalsBytes: 0,
      procs: 4,
      goFormat: '1.18',
    });
    expect(only(GO119_STACKS).stacksBytes).toBe(69_206_016);
  });
});

describe('gctrace: numbers', () => {
  test('ms strings become exact integer ns (no float error)', () => {
    const r = only(
      'gc 1 @0.001s 0%: 0.016+0.25+9.9 ms clock, 0.003+0.001/0.999/1.9+120 ms cpu, 0->0->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 1 P',
    );
    expect([r.sweepTermNs, r.markNs, r.markTermNs]).toEqual([16_000, 250_000, 9_900_000]);
    expect([r.sweepTermCpuNs, r.assistCpuNs, r.backgroundCpuNs, r.idleCpuNs, r.markTermCpuNs]).toEqual([
      3_000, 1_000, 999_000, 1_900_000, 120_000_000,
    ]);
    expect(r.pauseNs).toBe(9_916_000);
    for (const v of [r.sweepTermNs, r.markNs, r.pauseNs, r.backgroundCpuNs]) expect(Number.isInteger(v)).toBe(true);
    expect(r.timeUs).toBe(T0 + 1_000);
  });

  test('astronomic goal (GC off) stays exact in bytes', () => {
    const r = only(
      'gc 3 @0.500s 0%: 0.010+1.0+0.010 ms clock, 0.020+0/1.0/0+0.020 ms cpu, 4->4->0 MB, 8532210231531 MB goal, 0 MB stacks, 0 MB globals, 2 P',
    );
    expect(BigInt(r.heapGoalBytes)).toBe(8532210231531n * 1048576n);
  });

  test('Go 1.26 "(checking for goroutine leaks)" annotation', () => {
    const r = only(
      'gc 7 @2.000s 3% (checking for goroutine leaks): 0.1+1.0+0.05 ms clock, 0.2+0/1/0+0.1 ms cpu, 5->5->2 MB, 8 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)',
    );
    expect([r.gc, r.cpuPct, r.forced, r.goFormat]).toEqual([7, 3, true, '1.18']);
  });

  test('Go 1.4 lines are not supported and say so', () => {
    expect(() =>
      parse(
        'gc1(1): 0+0+0+0 us, 0 -> 0 MB, 78 (78-0) objects, 2 goroutines, 18/0/0 sweeps, 0(0) handoff, 0(0) steal, 0/0/0 yields\n',
      ),
    ).toThrow(/Go <= 1\.4/);
  });
});

describe('gctrace: prefixes', () => {
  const plain = GO122;
  test.each([
    ['Go log package timestamp (no zone: no absolute time)', `2024/01/01 00:00:05.123456 ${plain}`, false],
    ['syslog', `Feb 26 13:56:33.456 myhost app[1234]: ${plain}`, false],
    ['RFC 3339 timestamp', `2024-01-01T00:00:05.123456Z ${plain}`, true],
    ['bracketed RFC 3339 with offset', `[2024-01-01 01:00:05.123456+01:00] ${plain}`, true],
    ['CRI (containerd)', `2024-01-01T00:00:05.123456000Z stderr F ${plain}`, true],
    ['Docker JSON', `{"log":"${plain}\\n","stream":"stderr","time":"2024-01-01T00:00:05.123456Z"}`, true],
    ['logfmt wrapper', `time=2024-01-01T00:00:05.123456Z level=info msg="${plain}"`, true],
  ])('%s', (_name, text, absolute) => {
    const r = only(text);
    expect(r.gc).toBe(1);
    expect(r.procs).toBe(24);
    expect(r.stacksBytes).toBe(0);
    // Absolute: line printed at 00:00:05.123456 = start + 3.003 s + wall 0.165 ms -> start = 00:00:02.120291.
    expect(r.timeUs).toBe(absolute ? T0 + 5_123_456 - 165 : T0 + 3_003_000);
  });

  test('Docker-style JSON with the time before the log field', () => {
    const r = only(`{"time":"2024-01-01T00:00:10Z","log":"${GO119_FORCED}\\n"}`);
    expect(r.forced).toBe(true);
    expect(r.timeUs).toBe(T0 + 10_000_000 - 242_042); // wall time 0.040+242+0.002 ms
  });

  test('CRLF line endings', () => {
    const r = parse(`${GO16_18896}\r\n${GO16_22439}\r\n`);
    expect(r.cycles.map((c) => c.gc)).toEqual([1, 283]);
    expect(r.malformed).toBe(0);
  });
});

describe('gctrace: messy logs', () => {
  test('interleaved app output, panic stack, scavenger and pacer lines are skipped, not malformed', () => {
    const text = [
      'starting server on :8080',
      line(1, '0.010'),
      'scvg0: inuse: 0, idle: 0, sys: 1, released: 0, consumed: 1 (MB)',
      'scvg1: 0 MB released',
      'scvg-1: 2 MB released',
      'scvg: 3 MB released',
      'forced scvg: 2 MB released',
      'scav 0 KiB work (bg), 239576 KiB work (eager), 265352 KiB now, 96% util (forced)',
      'scav 12 1024 KiB work, 2048 KiB total, 97% util [controller reset]',
      'pacer: assist ratio=+2.781108e+001 (scan 280 MB in 379->389 MB) workers=2+0',
      'pacer: H_m_prev=270363352 h_t=+4.954857e-001 H_T=305733560 h_a=+4.924263e-001 H_a=403497384 h_g=+1.000000e+000 H_g=540726704 u_a=+9.726562e-001 u_g=+2.500000e-001 W_a=140818416 goalΔ=+5.045143e-001 actualΔ=-3.059340e-003 u_a/u_g=+3.890625e+000',
      'pacer: sweep done at heap size 4MB; allocated 0MB during sweep; swept 512 pages at +1.054201e-004 pages/byte',
      'pacer: 25% CPU (25 exp.) for 1234+56+78 B work (1300 B exp.) in 4000000 B -> 4100000 B (∆goal -12345, cons/mark +1.234567e-001)',
      'checkfinalizers: queue: 0 finalizers + 0 cleanups',
      'scan: total 1+2+3=6 objs, 4+5=9 spans',
      'level=info msg="ran gc 3 times" note="gc in app text is not a gc line"',
      line(2, '0.020'),
      'panic: runtime error: index out of range [5] with length 3',
      '',
      'goroutine 1 [running]:',
      'main.main()',
      '\t/app/main.go:12 +0x1d',
      'exit status 2',
      '',
    ].join('\n');
    const r = parse(text);
    expect(r.cycles.map((c) => c.gc)).toEqual([1, 2]);
    expect(r.malformed).toBe(0);
    expect(r.malformedExamples).toEqual([]);
    expect(r.linesRead).toBe(23);
    expect(r.skipped).toBe(21);
  });

  test('malformed gc lines are counted and the first 5 quoted; the file still parses', () => {
    const bad = [
      'gc 5 @1.000s 2%: 0.1+2+0.0', // cut mid-way
      'gc 6 @1.100s 2%: 0.1+2+0.05 ms clockhello from another goroutine', // interleaved mid-line
      'gc 7 @1.200s 2%: 0.1+2+0.05+1 ms clock, 0.1+1/1/1+1 ms cpu, 4->4->2 MB, 8 MB goal, 2 P', // 4 clock phases
      'gc 8 @1.300s 2%: 0.1+2+0.05 ms clock, 0.1+1+1+1+1 ms cpu, 4->4->2 MB, 8 MB goal, 2 P', // no assist/bg/idle
      'gc 9 @1.400s 2%: 0.1+2+0.05 ms clock, 0.1+1/1/1+1 ms cpu, 4->4->2 MB, 8 MB goal, 2 Pxyz', // trailing junk
      'gc 10 @1.500s 2%: 0.1+2+0.05 ms clock, 0.1+1/1/1+1 ms cpu, 4->4->2 MB, 8 MB goal, 2 P (for', // cut (forced)
      'gc 11 @1.600s 2%: 0..1+2+0.05 ms clock, 0.1+1/1/1+1 ms cpu, 4->4->2 MB, 8 MB goal, 2 P',
    ];
    const r = parse([line(1, '0.5'), ...bad, line(12, '2.0'), ''].join('\n'));
    expect(r.cycles.map((c) => c.gc)).toEqual([1, 12]);
    expect(r.malformed).toBe(7);
    expect(r.malformedExamples).toEqual(bad.slice(0, 5));
    expect(r.segments).toBe(1);
    expect(r.skipped).toBe(0);
  });

  test('very long malformed lines are quoted shortened', () => {
    const long = 'gc 5 @1.000s 2%: ' + 'x'.repeat(1000);
    const r = parse(`${line(1, '0.5')}\n${long}\n`);
    expect(r.malformedExamples[0]).toHaveLength(301);
    expect(r.malformedExamples[0].endsWith('…')).toBe(true);
  });

  test('a gc line after a long newline-less app write is still found (bounded carry-over)', () => {
    const p = createGctraceParser({ startUs: T0 });
    for (let i = 0; i < 40; i++) p.push('y'.repeat(10_000));
    p.push(line(1, '0.5') + '\n');
    const r = p.end();
    expect(r.cycles).toHaveLength(1);
    expect(r.linesRead).toBe(1);
  });
});

describe('gctrace: cut-off final line', () => {
  test('the brief example: cut mid-way, counted as malformed', () => {
    const r = parse(`${line(1, '0.5')}\ngc 5 @1.0s 2%: 0.1+2+0.0`);
    expect(r.cycles).toHaveLength(1);
    expect(r.malformed).toBe(1);
    expect(r.malformedExamples).toEqual(['gc 5 @1.0s 2%: 0.1+2+0.0']);
    expect(r.linesRead).toBe(2);
  });

  test('a final line that matches but has no newline may be a cut "(forced)": malformed', () => {
    const r = parse(`${line(1, '0.5')}\n${line(2, '0.6')}`);
    expect(r.cycles.map((c) => c.gc)).toEqual([1]);
    expect(r.malformed).toBe(1);
  });

  test('a final line that proves it is whole counts: "(forced)", Docker JSON "\\n", CR', () => {
    expect(parse(`${line(1, '0.5')}\n${line(2, '0.6', ' (forced)')}`).cycles.map((c) => c.forced)).toEqual([false, true]);
    expect(parse(`${line(1, '0.5')}\n{"log":"${line(2, '0.6')}\\n","stream":"stderr"}`).cycles).toHaveLength(2);
    expect(parse(`${line(1, '0.5')}\r\n${line(2, '0.6')}\r`).cycles).toHaveLength(2);
  });

  test('a single complete line with newline is fine; without it the input has no complete gc line', () => {
    expect(parse(line(1, '0.5') + '\n').cycles).toHaveLength(1);
    expect(() => parse(line(1, '0.5'))).toThrow(/no complete gc lines.*1 malformed/);
  });
});

describe('gctrace: restarts and time', () => {
  test('restart without absolute timestamps: new segment starts at the previous last cycle, estimated', () => {
    const r = parse([line(1, '0.100'), line(2, '5.000'), 'panic: boom', line(1, '0.200'), line(2, '0.300'), line(1, '1.000'), ''].join('\n'));
    expect(r.segments).toBe(3);
    expect(r.cycles.map((c) => [c.segment, c.gc, c.timeUs - T0, c.timeEstimated])).toEqual([
      [0, 1, 100_000, false],
      [0, 2, 5_000_000, false],
      [1, 1, 5_000_000 + 200_000, true],
      [1, 2, 5_000_000 + 300_000, true],
      [2, 1, 5_300_000 + 1_000_000, true],
    ]);
  });

  test('a gc number that repeats (not only 1) also starts a segment', () => {
    const r = parse([line(3, '1.000'), line(3, '0.500'), ''].join('\n'));
    expect(r.segments).toBe(2);
    expect(r.cycles.map((c) => c.segment)).toEqual([0, 1]);
  });

  test('restart with CRI timestamps: segment start = prefix time - @offset - cycle wall time', () => {
    const cri = (iso: string, l: string) => `${iso} stderr F ${l}`;
    const r = parse(
      [
        cri('2024-01-01T00:00:01.500000000Z', line(1, '1.000')),
        cri('2024-01-01T00:00:02.560000000Z', line(2, '2.000')), // implies a start 60 ms later than the first
        'panic: boom',
        cri('2024-01-01T01:00:00.000000000Z', line(1, '0.500')),
        '',
      ].join('\n'),
    );
    // wall time of every line: 10+20+30 ms = 60 ms
    expect(r.cycles.map((c) => [c.segment, c.timeUs - T0, c.timeEstimated])).toEqual([
      [0, 1_440_000, false], // start = 1.5 s - 1.0 s - 60 ms = 0.44 s (earliest implied start wins)
      [0, 2_440_000, false],
      [1, 3_600_000_000 - 60_000, false], // start = 1 h - 0.5 s - 60 ms; row = start + 0.5 s
    ]);
  });

  test('absolute timestamps override the caller start for the first segment too', () => {
    const r = parse(`2024-06-01T12:00:00Z ${line(1, '0.940')}\n`, 0);
    expect(r.cycles[0].timeUs).toBe(Date.UTC(2024, 5, 1, 12) * 1000 - 60_000);
  });

  test('a restarted segment without timestamps after one with them is still estimated and monotonic', () => {
    const r = parse([`2024-01-01T00:00:10Z ${line(1, '2.000')}`, line(1, '0.100'), ''].join('\n'));
    expect(r.cycles[0].timeUs).toBe(T0 + 10_000_000 - 60_000);
    expect(r.cycles[1]).toMatchObject({ segment: 1, timeEstimated: true, timeUs: r.cycles[0].timeUs + 100_000 });
  });

  test('startUs is validated', () => {
    expect(() => createGctraceParser({ startUs: NaN })).toThrow(TypeError);
  });
});

describe('gctrace: rejection', () => {
  test('no gc lines', () => {
    expect(() => parse('hello\nworld\nscvg0: inuse: 0, idle: 0, sys: 1, released: 0, consumed: 1 (MB)\n')).toThrow(
      /no recognizable gctrace content/,
    );
  });
  test('empty input', () => {
    expect(() => parse('')).toThrow(/empty/);
  });
  test('only malformed gc lines: message quotes one', () => {
    expect(() => parse('gc 1 @0.1s 1%: garbage\n')).toThrow(/no complete gc lines.*gc 1 @0\.1s 1%: garbage/);
  });
  test('errors are DecodeErrors with a code', () => {
    try {
      parse('nothing here\n');
      throw new Error('expected a throw');
    } catch (e) {
      expect((e as { code?: string }).code).toBe('malformed');
    }
  });
});

describe('gctrace: streaming', () => {
  const corpus = [
    GO15,
    GO153,
    GO153_FORCED,
    GO16_18896,
    GO16_22439,
    GO116_SYSLOG,
    GO119_FORCED,
    GO122,
    GO119_STACKS,
    `2024-01-01T00:00:05.123456000Z stderr F ${GO122}`,
    `{"log":"${GO119_STACKS}\\n","stream":"stderr","time":"2024-01-01T00:00:07.5Z"}`,
    'level=debug msg="cache miss" user="José Müller" ∆=3 日本語 🙂',
    'scvg1: 0 MB released',
    'pacer: 25% CPU (25 exp.) for 1234+56+78 B work (1300 B exp.) in 4000000 B -> 4100000 B (∆goal -12345, cons/mark +1.234567e-001)',
    'gc 5 @1.000s 2%: 0.1+2+0.0',
    '',
    'panic: boom',
  ];

  function run(chunks: (string | Uint8Array)[]): GctraceParseResult | string {
    const p = createGctraceParser({ startUs: T0 });
    try {
      for (const c of chunks) p.push(c);
      return p.end();
    } catch (e) {
      return (e as Error).message;
    }
  }

  function split<T extends { length: number; slice(a: number, b?: number): T }>(whole: T, cuts: number[]): T[] {
    const at = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
    const parts: T[] = [];
    let prev = 0;
    for (const c of at) {
      parts.push(whole.slice(prev, c));
      prev = c;
    }
    parts.push(whole.slice(prev));
    return parts;
  }

  test('splitting the same text (as strings or as UTF-8 bytes) at random points gives identical results', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...corpus), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 20 }),
        (lines, finalNewline, cuts) => {
          const text = lines.join('\n') + (finalNewline ? '\n' : '');
          const whole = run([text]);
          expect(run(split(text, cuts))).toEqual(whole);
          const bytes = new Uint8Array(Buffer.from(text, 'utf8'));
          expect(run(split(bytes, cuts))).toEqual(whole);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a UTF-8 sequence split across byte chunks is decoded, BOM dropped', () => {
    const text = '\uFEFFuser=José 🙂\n' + GO122 + '\n';
    const bytes = Buffer.from(text, 'utf8');
    const p = createGctraceParser({ startUs: T0 });
    for (let i = 0; i < bytes.length; i++) p.push(bytes.subarray(i, i + 1));
    const r = p.end();
    expect(r.cycles).toHaveLength(1);
    expect(r.linesRead).toBe(2);
  });

  test('push after end is an error', () => {
    const p = createGctraceParser({ startUs: T0 });
    p.push(GO122 + '\n');
    p.end();
    expect(() => p.push('x')).toThrow(/after end/);
  });
});

describe('parseRfc3339Us', () => {
  test('nanosecond fractions, offsets, invalid dates', () => {
    expect(parseRfc3339Us('2024-01-01T00:00:00.123456789Z')).toBe(T0 + 123_456);
    expect(parseRfc3339Us('2024-01-01T01:00:00+01:00')).toBe(T0);
    expect(parseRfc3339Us('2023-12-31T19:00:00-0500')).toBe(T0);
    expect(parseRfc3339Us('2024-02-30T00:00:00Z')).toBeNull();
    expect(parseRfc3339Us('2024-01-01T00:00:00')).toBeNull(); // no zone
  });
});

describe('format sniffs (gctrace, runtime/metrics)', () => {
  test('gctrace detection', () => {
    expect(looksLikeGctrace(`app starting\n${GO116_SYSLOG}\n`)).toBe(true);
    expect(looksLikeGctrace(`{"log":"${GO15}\\n"}`)).toBe(true);
    expect(looksLikeGctrace('scvg1: 0 MB released\nhello gc 3 times\n')).toBe(false);
    expect(looksLikeGctrace('{"time":"2024-01-01T00:00:00Z","metrics":{"/gc/heap/goal:bytes":1}}')).toBe(false);
  });
  test('runtime/metrics detection', () => {
    expect(looksLikeRuntimeMetrics('{"time":"2024-01-01T00:00:00Z","metrics":{"/gc/heap/goal:bytes":1}}')).toBe(true);
    expect(looksLikeRuntimeMetrics('\uFEFF\n  {"metrics": {"/sched/latencies:seconds": {"buckets": []}}}')).toBe(true);
    expect(looksLikeRuntimeMetrics(GO122)).toBe(false);
    expect(looksLikeRuntimeMetrics('{"metrics":{"cpu":1}}')).toBe(false);
  });
});

// Real logs of real Go programs, written by scripts/gen-fixtures.sh (skipped when absent).
const FIXTURES = path.join(__dirname, 'fixtures', 'go');
const fixtureLogs = fs.existsSync(FIXTURES)
  ? fs
      .readdirSync(FIXTURES)
      .map((d) => path.join(FIXTURES, d, 'gctrace.log'))
      .filter((f) => fs.existsSync(f))
  : [];
interface ManifestRun {
  run: string;
  startTime?: string;
  endTime?: string;
  goVersion?: string;
  gcLines?: number;
  forcedGcLines?: number;
}
function manifestRun(run: string): ManifestRun | undefined {
  const file = path.join(FIXTURES, 'MANIFEST.json');
  if (!fs.existsSync(file)) return undefined;
  const runs = (JSON.parse(fs.readFileSync(file, 'utf8')) as { runs?: ManifestRun[] }).runs ?? [];
  return runs.find((r) => r.run === run);
}

(fixtureLogs.length > 0 ? describe : describe.skip)('gctrace: real fixture logs', () => {
  test.each(fixtureLogs.length > 0 ? fixtureLogs : ['(none)'])('%s', (file) => {
    const run = manifestRun(path.basename(path.dirname(file)));
    const startUs = run?.startTime ? Date.parse(run.startTime) * 1000 : T0;
    const r = parseGctrace(fs.readFileSync(file, 'utf8'), { startUs });
    expect(r.cycles.length).toBeGreaterThan(0);
    for (let i = 1; i < r.cycles.length; i++) {
      const [a, b] = [r.cycles[i - 1], r.cycles[i]];
      if (a.segment === b.segment) {
        expect(b.gc).toBe(a.gc + 1); // the runtime prints every cycle
        expect(b.timeUs).toBeGreaterThanOrEqual(a.timeUs);
      }
    }
    expect(r.cycles.some((c) => c.forced)).toBe(true);
    expect(new Set(r.cycles.map((c) => c.goFormat)).size).toBe(1);
    if (run?.gcLines !== undefined) expect(r.cycles).toHaveLength(run.gcLines);
    if (run?.forcedGcLines !== undefined) expect(r.cycles.filter((c) => c.forced)).toHaveLength(run.forcedGcLines);
    if (run?.endTime) expect(r.cycles[r.cycles.length - 1].timeUs).toBeLessThanOrEqual(Date.parse(run.endTime) * 1000);
    const minor = Number(/^go1\.(\d+)/.exec(run?.goVersion ?? '')?.[1] ?? NaN);
    if (minor >= 18) expect(r.cycles[0].goFormat).toBe('1.18');
  });
});

describe('streaming rows out per segment (onSegment)', () => {
  test('delivers exactly the rows parseGctrace returns, segment by segment, and keeps none', () => {
    const text = [
      '2024-01-01T00:00:01Z gc 1 @0.100s 1%: 0.010+1.0+0.020 ms clock, 0.040+0.5/1.0/0+0.080 ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 4 P',
      'gc 2 @0.200s 1%: 0.010+1.0+0.020 ms clock, 0.040+0.5/1.0/0+0.080 ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 4 P',
      'app restarted',
      'gc 1 @0.050s 0%: 0.010+1.0+0.020 ms clock, 0.040+0.5/1.0/0+0.080 ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 4 P (forced)',
      '',
    ].join('\n');
    const whole = parseGctrace(text, { startUs: 1_700_000_000_000_000 });
    const segments: GcCycleRow[][] = [];
    const p = createGctraceParser({ startUs: 1_700_000_000_000_000, onSegment: (rows) => segments.push(rows) });
    for (const ch of text.match(/[\s\S]{1,7}/g)!) p.push(ch);
    const streamed = p.end();
    expect(segments.map((s) => s.length)).toEqual([2, 1]);
    expect(segments.flat()).toEqual(whole.cycles);
    expect(streamed.cycles).toEqual([]);
    expect({ ...streamed, cycles: whole.cycles }).toEqual(whole);
  });
});
