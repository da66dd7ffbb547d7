import type { SqlParams } from './cohort';
import type { QueryEngine } from './engine';
import { windowRowsWhere, type WindowCohort } from './window';

// Where each function of a flame graph is defined: `file:start_line` from the stacks table (the
// profile's Function.filename and start_line), for the page's tooltips. A function name defined
// in several files (vendored copies) gets the first file in sort order and a count of the others.

export async function functionLocations(engine: QueryEngine, c: WindowCohort, sampleType: string): Promise<Record<string, string>> {
  const params: SqlParams = { st: sampleType };
  const where = `${windowRowsWhere(c, sampleType, params, 'stacks', 't')} AND t.sample_type = $st`;
  const rows = await engine.rows(
    `SELECT f, min(file) AS file, arg_min(line, file) AS line, count(DISTINCT file) AS files FROM (
       SELECT unnest(t.frames) AS f, unnest(t.files) AS file, unnest(t.start_lines) AS line FROM stacks t WHERE ${where}
     ) WHERE file <> '' GROUP BY f`,
    params,
  );
  const out: Record<string, string> = {};
  for (const r of rows) {
    const n = Number(r.files);
    out[String(r.f)] = `${String(r.file)}${Number(r.line) > 0 ? ':' + String(r.line) : ''}${n > 1 ? ` (+${n - 1} more files)` : ''}`;
  }
  return out;
}
