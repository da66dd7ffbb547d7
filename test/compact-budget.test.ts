// The compaction Lambdas' budget comes from the function's memory in one place
// (lib/aws/compact-job.ts compactLambdaOptions): DuckDB's limit and threads, and the rows per unit
// the planner packs for the workers. A smaller function gets smaller units and one thread per vCPU.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compactLambdaOptions } from '../lib/aws/compact-job';
import { ENV } from '../lib/aws/resources';
import { compactUnitRows, UNIT_ROWS } from '../lib/store/compact-hour';

const env = (mb: number, extra: Record<string, string> = {}) => ({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(mb), HOME: os.tmpdir(), ...extra });

test('rows per unit: UNIT_ROWS at 3,008 MB, in proportion below, never more', () => {
  expect(compactUnitRows(3008)).toBe(UNIT_ROWS);
  expect(compactUnitRows(10240)).toBe(UNIT_ROWS);
  expect(compactUnitRows(1769)).toBe(2_350_000);
  expect(compactUnitRows(1769)).toBeLessThan(compactUnitRows(2048));
  expect(compactUnitRows(128)).toBeGreaterThan(0);
});

test('a Lambda of M MB: DuckDB at 60% of M, one thread per vCPU, the unit rows of M; the env overrides the rows', () => {
  const small = compactLambdaOptions(env(1769));
  expect(small.settings).toMatchObject({ memoryLimit: '1061MB', threads: 1 });
  expect(small.settings.tempDirectory).toBe(path.join(os.tmpdir(), `duckdb_tmp-${process.pid}`));
  expect(small.unitRows).toBe(compactUnitRows(1769));
  const large = compactLambdaOptions(env(3008));
  expect(large.settings).toMatchObject({ memoryLimit: '1804MB', threads: 2 });
  expect(large.unitRows).toBe(UNIT_ROWS);
  expect(compactLambdaOptions(env(1769, { [ENV.compactUnitRows]: '1000' })).unitRows).toBe(1000);
  expect(() => compactLambdaOptions(env(1769, { [ENV.compactUnitRows]: '-1' }))).toThrow(ENV.compactUnitRows);
});

test('each process spills into its own directory, removed as it exits (processes side by side never share one)', () => {
  // The built module in a child process: the directory exists while it runs, and is gone after.
  const runtime = path.join(__dirname, '../dist/lib/aws/runtime.js');
  const script = `const r = require(${JSON.stringify(runtime)}); const s = r.lambdaDuckDbSettings({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1769', HOME: '/tmp' }); require('fs').writeFileSync(require('path').join(s.tempDirectory, 'spill.tmp'), 'x'); process.stdout.write(JSON.stringify({ dir: s.tempDirectory, there: require('fs').existsSync(s.tempDirectory) }));`;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'spill-'));
  try {
    const runs = [0, 1].map(() => spawnSync(process.execPath, ['-e', script], { env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8' }));
    const out = runs.map((r) => JSON.parse(r.stdout) as { dir: string; there: boolean });
    expect(out.map((o) => o.there)).toEqual([true, true]);
    expect(out[0].dir).not.toBe(out[1].dir);
    for (const o of out) {
      expect(path.dirname(o.dir)).toBe(tmp);
      expect(existsSync(o.dir)).toBe(false);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
