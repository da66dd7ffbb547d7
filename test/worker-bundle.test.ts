// The ingest workers' bundle (scripts/build-ingest-worker.mjs) is used only while it holds the
// compiled files it was built from (bin/commands/worker-bundle.ts); after `tsc` alone changed one,
// `fleetprof ingest --jobs 2` says so once on stderr, naming the file, and still ingests (its
// workers run the unbundled modules). A copy of the build (new mtimes, same bytes) still uses it.
// Runs a copy of dist/ (npm run -s build first), never the build other tests use.
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { bundleState } from '../bin/commands/worker-bundle';
import { encodeProfile, sampleProfile } from './helpers/pprof-builder';

const ROOT = path.resolve(__dirname, '..');

test('a bundle is used while every file it was built from is unchanged; a changed one makes ingest --jobs warn once, naming it, and ingest all the same', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-worker-bundle-'));
  try {
    // A copy of the build: every mtime new, every byte the same.
    const pkg = path.join(tmp, 'pkg');
    cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
    cpSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    const commands = path.join(pkg, 'dist/bin/commands');
    expect(bundleState(commands)).toEqual({ ok: true, file: path.join(commands, 'ingest-worker.bundle.js') });

    const inputs = path.join(tmp, 'in');
    mkdirSync(inputs);
    const t0 = 1_764_000_000_000_000_000n;
    for (let i = 0; i < 4; i++) writeFileSync(path.join(inputs, `${i}-cpu.pb.gz`), gzipSync(encodeProfile({ ...sampleProfile(), timeNanos: t0 + BigInt(i) * 60_000_000_000n })));
    const ingest = (data: string) => spawnSync(process.execPath, [path.join(pkg, 'dist/bin/fleetprof.js'), 'ingest', '--data', data, '--service', 'svc', '--instance', 'i1', '--jobs', '2', inputs], { encoding: 'utf8' });
    const current = ingest(path.join(tmp, 'd1'));
    expect(current.status).toBe(0);
    expect(current.stderr).not.toContain('worker bundle');

    // What `tsc` alone after a change does: a module the bundle holds is rewritten (not the workers' entry file).
    const changed = path.join(pkg, 'dist/lib/decode/formats/pprof.js');
    appendFileSync(changed, '\n// changed\n');
    expect(bundleState(commands)).toEqual({ ok: false, reason: `${changed} changed since the bundle was built` });
    const stale = ingest(path.join(tmp, 'd2'));
    expect(stale.status).toBe(0);
    const warnings = stale.stderr.split('\n').filter((l) => l.includes('worker bundle'));
    expect(warnings).toEqual([`fleetprof ingest: the worker bundle is not used (${changed} changed since the bundle was built); workers load the unbundled modules, which starts them slower: run npm run build`]);
    expect(stale.stdout).toEqual(current.stdout);

    // No bundle at all.
    rmSync(path.join(commands, 'ingest-worker.bundle.js'));
    expect(bundleState(commands)).toEqual({ ok: false, reason: `${path.join(commands, 'ingest-worker.bundle.js')} is missing` });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}, 120_000);
