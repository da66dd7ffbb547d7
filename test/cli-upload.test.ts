// `fleetprof upload` refuses what the ingest Lambda would quarantine, never invents a gctrace
// process start, and skips text twins (docs/cli.md "fleetprof upload").
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { planUpload, WouldQuarantine } from '../bin/commands/upload';

const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
const RUN = path.join(__dirname, 'fixtures/go/svc-a-v1-i1');
const opts = { bucket: 'b', service: 's', instance: 'i', version: '', label: {} };

test('planUpload: goroutine debug=2 would be quarantined; a gctrace log needs --start', () => {
  const dump = path.join(RUN, 'goroutine.debug2.txt');
  expect(() => planUpload(dump, readFileSync(dump), 0, opts)).toThrow(WouldQuarantine);
  expect(() => planUpload(dump, readFileSync(dump), 0, opts)).toThrow(/ingest would quarantine it: .*debug=2/);
  const log = path.join(RUN, 'gctrace.log');
  expect(() => planUpload(log, readFileSync(log), Date.now(), opts)).toThrow(/gctrace log needs its process start: pass --start/);
  const start = Date.parse('2026-11-21T20:54:18.074Z');
  const plan = planUpload(log, readFileSync(log), Date.now(), { ...opts, start: start * 1000 });
  expect(plan.kind).toBe('gctrace');
  expect(plan.startMs).toBe(start);
  const cpu = path.join(RUN, 'cpu.pb.gz');
  expect(planUpload(cpu, readFileSync(cpu), 0, opts).kind).toBe('cpu');
});

test('upload of a directory reports refused inputs and skipped twins in its summary', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-upload-'));
  try {
    for (const f of ['goroutine.debug2.txt', 'gctrace.log', 'heap.pb.gz', 'heap.debug1.txt']) copyFileSync(path.join(RUN, f), path.join(dir, f));
    // Nothing listens on port 9: the one good file fails to upload; the others never get that far.
    const env = { ...process.env, AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', FLEETPROF_BUCKET: undefined };
    const r = spawnSync(process.execPath, [CLI, 'upload', '--bucket', 'b', '--service', 's', '--instance', 'i', '--max-attempts', '1', dir], { encoding: 'utf8', env });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/goroutine\.debug2\.txt: not uploaded, ingest would quarantine it: /);
    expect(r.stderr).toMatch(/gctrace\.log: not uploaded: a gctrace log needs its process start: pass --start/);
    expect(r.stderr).toMatch(/heap\.debug1\.txt: skipped, the text twin of heap\.pb\.gz/);
    expect(r.stderr).toMatch(/uploaded 0 of 3 files \(3 failed, 2 of them refused: ingest would quarantine them, 1 text twin\(s\) skipped, 0 bytes\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
