// The compaction Lambdas' budget comes from the function's memory in one place
// (lib/aws/compact-job.ts compactLambdaOptions): DuckDB's limit and threads, and the rows per unit
// the planner packs for the workers. A smaller function gets smaller units and one thread per vCPU.
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
  expect(small.settings.tempDirectory).toBe(path.join(os.tmpdir(), 'duckdb_tmp'));
  expect(small.unitRows).toBe(compactUnitRows(1769));
  const large = compactLambdaOptions(env(3008));
  expect(large.settings).toMatchObject({ memoryLimit: '1804MB', threads: 2 });
  expect(large.unitRows).toBe(UNIT_ROWS);
  expect(compactLambdaOptions(env(1769, { [ENV.compactUnitRows]: '1000' })).unitRows).toBe(1000);
  expect(() => compactLambdaOptions(env(1769, { [ENV.compactUnitRows]: '-1' }))).toThrow(ENV.compactUnitRows);
});
