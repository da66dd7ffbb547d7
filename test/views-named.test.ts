// QueryEngine makes a table's view when a statement names the table (lazy views): a name inside a
// quoted literal (the planner's parts read rollup files by path) must not make a view over every
// file of that table, while a real reference must.
import { viewsNamedIn } from '../lib/query/engine';

test('table names count outside single-quoted literals only', () => {
  const sql = `SELECT SUM(t.total) FROM (SELECT * FROM read_parquet(['/d/profiles_1h/dt=2026-12-01/r.parquet', '/d/totals_1d/dt=2026-12-01/it''s.parquet'])) t
    JOIN functions_1d f ON true WHERE t.kind = 'stacks' UNION ALL SELECT 1 FROM "profiles"`;
  expect(viewsNamedIn(sql).sort()).toEqual(['functions_1d', 'profiles']);
  expect(viewsNamedIn(`SELECT * FROM increase_terms WHERE x = 'gc_1h'`)).toEqual(['increase_terms']);
});
