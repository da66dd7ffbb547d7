// fleetprof scrape pulls counters as deltas (#10): heap, allocs, block and mutex through
// net/http/pprof's `?seconds=N` handlers, declared `temporality: delta` with a process identity,
// heap's inuse_* from a plain snapshot. Against a real Go program (test/fixtures/deltaprog) that
// works only when the test asks it to, inside the delta interval, with every event recorded: the
// increase `fleetprof top` shows for its functions equals `go tool pprof -top -base <before>
// <after>` on snapshots the test takes itself before and after the scrape, to the integer.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { goAvailable, pprofTop, warmUpPprof, type OracleTop } from './oracle/pprof';
import type { TopResult } from '../lib/query/top';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const SRC = path.join(__dirname, 'fixtures/deltaprog');
/** Rows of the functions the program's work runs in: nothing else of the program moves only on request. */
const WORK = /^main\.(alloc|block|lock)Work/;

const d = goAvailable() ? describe : describe.skip;

d('fleetprof scrape: counters as ?seconds=N deltas = go tool pprof -base', () => {
  let tmp: string;
  let prog: ChildProcess;
  let url: string;
  let lines: string[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-scrape-delta-'));
    const bin = path.join(tmp, 'deltaprog');
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: SRC, env: { ...process.env, GOWORK: 'off', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' }, stdio: 'inherit', timeout: 60_000 });
    warmUpPprof();
    prog = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      prog.on('error', reject);
      prog.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        lines = out.split('\n');
        if (lines.length > 1) resolve(lines[0].trim());
      });
    });
  }, 400_000);
  afterAll(() => {
    prog?.kill();
    if (tmp && !process.env.KEEP) rmSync(tmp, { recursive: true, force: true });
  });

  async function snapshot(kind: string): Promise<string> {
    const res = await fetch(`${url}/debug/pprof/${kind}`);
    const f = path.join(tmp, `${kind}-${Date.now()}.pb.gz`);
    writeFileSync(f, Buffer.from(await res.arrayBuffer()));
    return f;
  }

  const shape = (total: bigint | number, rows: { name: string; flat: bigint | number; cum: bigint | number }[], only = WORK) => ({
    total: String(total),
    work: Object.fromEntries(rows.filter((r) => only.test(r.name)).map((r) => [r.name, [String(r.flat), String(r.cum)]])),
  });
  const theirs = (o: OracleTop, only = WORK) => shape(o.total, o.rows, only).work;

  test('one round: alloc_*, delay, contentions = -base of snapshots around it; inuse_* = the snapshot after; temporality and process declared', async () => {
    const kinds = ['heap', 'allocs', 'block', 'mutex'];
    // Work once before: the counters then have a history the delta must leave out, and the heap
    // holds 200 blocks the delta's inuse difference would miss.
    expect((await fetch(`${url}/work`, { method: 'POST' })).status).toBe(204);
    const before = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await snapshot(k)])));
    const data = path.join(tmp, 'data');
    const deltas = () => lines.filter((l) => l.startsWith('delta ')).length;
    const seen = deltas();
    // A generous request deadline: with MemProfileRate 1 the target's delta handlers took over the
    // default 30 s on a machine at load 30-90 (no time is asserted here).
    const scrape = new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [CLI, 'scrape', '--once', '--data', data, '--service', 'dp', '--target', url, '--profiles', [...kinds, 'goroutine'].join(','), '--delta-seconds', '4', '--timeout', '150s'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      c.on('close', (code) => resolve({ code, stderr }));
    });
    // The work starts once the server has its first snapshot of every delta (printed as the request arrives).
    const t0 = Date.now();
    while (deltas() - seen < kinds.length) {
      if (Date.now() - t0 > 30_000) throw new Error(`the delta requests did not arrive: ${lines.join('|')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    expect((await fetch(`${url}/work`, { method: 'POST' })).status).toBe(204);
    const r = await scrape;
    expect(r.stderr).toMatch(/scraped 5 of 5 profiles/);
    expect(r.code).toBe(0);
    const after = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await snapshot(k)])));

    const top = (kind: string, st: string, only = WORK) => {
      const o = spawnSync(process.execPath, [CLI, 'top', '--data', data, '--type', kind, '--sample-type', st, '--json'], { encoding: 'utf8' });
      if (o.status !== 0) throw new Error(o.stderr);
      const t = JSON.parse(o.stdout) as TopResult;
      return shape(BigInt(t.total), t.functions, only).work;
    };
    const cases: [string, string][] = [
      ['allocs', 'alloc_space'],
      ['allocs', 'alloc_objects'],
      ['heap', 'alloc_space'],
      ['block', 'delay'],
      ['block', 'contentions'],
      ['mutex', 'contentions'],
      ['mutex', 'delay'],
    ];
    for (const [kind, st] of cases) {
      const want = theirs(pprofTop([after[kind]], { sampleIndex: st, extraArgs: ['-base', before[kind]] }));
      expect(Object.keys(want).length).toBeGreaterThan(0);
      expect({ kind, st, got: top(kind, st) }).toEqual({ kind, st, got: want });
    }
    // Each work retains 200 x 4 KiB: the gauge is the heap after (400), not the delta's difference (200).
    // Only the retained blocks are a stable gauge: the other work's garbage (closures, the lock and
    // wait groups of lockWork) leaves the in-use heap at whichever GC comes first, which differs
    // between the scrape's snapshot and the test's.
    const RETAINED = /^main\.allocWork$/;
    for (const [kind, st] of [['heap', 'inuse_space'], ['allocs', 'inuse_objects']]) {
      const want = theirs(pprofTop([after[kind]], { sampleIndex: st }), RETAINED);
      expect(Object.keys(want).length).toBeGreaterThan(0);
      expect({ kind, st, got: top(kind, st, RETAINED) }).toEqual({ kind, st, got: want });
    }

    const q = spawnSync(process.execPath, [CLI, 'sql', '--data', data, '--json', "SELECT kind, temporality, process FROM profiles ORDER BY kind"], { encoding: 'utf8' });
    expect(q.status).toBe(0);
    const rows = (JSON.parse(q.stdout) as { rows: [string, string | null, string][] }).rows;
    expect(rows.map((x) => [x[0], x[1]])).toEqual([
      ['allocs', 'delta'],
      ['block', 'delta'],
      ['goroutine', expect.not.stringMatching(/^delta$/)],
      ['heap', 'delta'],
      ['mutex', 'delta'],
    ]);
    // One identity for every profile of the target in this run.
    expect(new Set(rows.map((x) => x[2])).size).toBe(1);
    expect(rows[0][2]).toMatch(/^scrape:[0-9a-f]{12}\.0$/);
  }, 180_000);
});
