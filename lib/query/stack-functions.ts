import { roundDivSql } from './window';

// flat and cum per function computed from the stacks table, for the queries the per-profile
// functions rows cannot answer: a filter on pprof sample labels keeps some samples of a profile
// and drops others, and only the stacks rows still know which. Same rules as
// lib/normalize/functions.ts and `go tool pprof -top` (functions granularity): flat is the value
// of the stacks whose leaf frame is the function, cum the value of the stacks that contain the
// function at least once (recursion counts once), a stack without frames counts only toward the
// total, and a function whose flat and cum are both 0 is not listed. The total is pprof's "of N
// total", Σ|value| over the selected stacks (a stacks row sums samples of one stack and label set;
// Go's profiles never mix signs within one, so that equals Σ|value| over their samples).

export interface StackFunctionsSql {
  /** Rows: [profile_id,] name, flat, cum (HUGEINT). */
  readonly functions: string;
  /** Rows: [profile_id,] total (HUGEINT), unit. */
  readonly totals: string;
}

/**
 * `where`: a predicate over the stacks table aliased `s` (cohort and labels), `sampleType`: the
 * name of the parameter holding the sample type. `perProfile` adds profile_id to both results.
 */
export function stackFunctionsSql(where: string, sampleTypeParam: string, perProfile = false, weights?: string): StackFunctionsSql {
  if (weights !== undefined) return weightedStackFunctionsSql(where, sampleTypeParam, perProfile, weights);
  const pid = perProfile ? 'profile_id, ' : '';
  const sel = `SELECT s.profile_id, s.frames, s.value, s.unit FROM stacks s WHERE ${where} AND s.sample_type = $${sampleTypeParam}`;
  return {
    functions: `WITH sel AS (${sel}),
      cum AS (SELECT ${pid}name, SUM(value) AS cum FROM (SELECT profile_id, UNNEST(list_distinct(frames)) AS name, value FROM sel) GROUP BY ALL),
      flat AS (SELECT ${pid}frames[1] AS name, SUM(value) AS flat FROM sel WHERE len(frames) > 0 GROUP BY ALL)
      SELECT ${perProfile ? 'c.profile_id, ' : ''}c.name, COALESCE(f.flat, 0)::HUGEINT AS flat, c.cum::HUGEINT AS cum
      FROM cum c LEFT JOIN flat f USING (${pid}name)
      WHERE NOT (COALESCE(f.flat, 0) = 0 AND c.cum = 0)`,
    totals: `SELECT ${pid}SUM(abs(value))::HUGEINT AS total, MIN(unit) AS unit FROM (${sel}) GROUP BY ALL`,
  };
}

/**
 * The same with a window's weights (lib/query/window.ts, relation profile_id, grp, w, den): values
 * are weighted per profile, summed per group and divided by its den per function, then summed over
 * groups. `perProfile` then means per group (rows carry `grp` instead of profile_id).
 */
function weightedStackFunctionsSql(where: string, sampleTypeParam: string, perGroup: boolean, weights: string): StackFunctionsSql {
  const sel = `SELECT pw.grp, pw.den, s.frames, s.value::HUGEINT * pw.w AS value, s.unit
    FROM stacks s JOIN (${weights}) pw ON s.profile_id = pw.profile_id WHERE ${where} AND s.sample_type = $${sampleTypeParam}`;
  const g = `WITH sel AS (${sel}),
      cum AS (SELECT grp, den, name, SUM(value) AS cum FROM (SELECT grp, den, UNNEST(list_distinct(frames)) AS name, value FROM sel) GROUP BY ALL),
      flat AS (SELECT grp, den, frames[1] AS name, SUM(value) AS flat FROM sel WHERE len(frames) > 0 GROUP BY ALL),
      g AS (SELECT c.grp, c.name, ${roundDivSql('COALESCE(f.flat, 0)', 'c.den')} AS flat, ${roundDivSql('c.cum', 'c.den')} AS cum
            FROM cum c LEFT JOIN flat f USING (grp, den, name))`;
  return {
    functions: perGroup
      ? `${g} SELECT grp, name, flat, cum FROM g WHERE NOT (flat = 0 AND cum = 0)`
      : `${g} SELECT name, SUM(flat)::HUGEINT AS flat, SUM(cum)::HUGEINT AS cum FROM g GROUP BY name HAVING NOT (SUM(flat) = 0 AND SUM(cum) = 0)`,
    totals: `SELECT ${perGroup ? 'grp, ' : ''}SUM(t)::HUGEINT AS total, MIN(unit) AS unit FROM (
      SELECT grp, ${roundDivSql('SUM(value)', 'MIN(den)')} AS t, MIN(unit) AS unit FROM (${sel}) GROUP BY grp) GROUP BY ALL`,
  };
}
