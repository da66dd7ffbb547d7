// The SQL sandbox's allowlist over the BOUND plan (the layer that makes it safe by construction;
// lib/query/sql-guard.ts over the parsed text is the second layer).
//
// DuckDB binds the statement (json_serialize_plan, called by us with the SQL as a parameter) into
// a logical plan in which every name has been resolved: views and macros are expanded, CTE names,
// `query()` text and replacement scans of quoted paths are replaced by what they really read. So
// whatever spelling a query uses, each relation it reads is a LOGICAL_GET here, and we allow only:
// - the Parquet scans behind the documented tables (every file one of the tables' own files, and
//   no `filename` column, which would reveal paths);
// - range / generate_series / unnest, which read nothing.
// Catalog views (pg_settings, duckdb_views, information_schema, sqlite_master...) bind to
// duckdb_* table functions and are refused like any other relation. Expressions may not call
// functions that bind SQL text the planner never shows us (json_serialize_plan, query...) or that
// reveal the configuration or the environment.

import type { AstCheck } from './sql-guard';

const RELATION_FUNCTIONS_ALLOWED = new Set(['range', 'generate_series', 'unnest']);
const PARQUET_SCANS = new Set(['read_parquet', 'parquet_scan']);

/** Scalar/aggregate functions refused wherever they appear in the bound plan. */
const DENIED_EXPRESSION_FUNCTIONS = [
  /^json_(serialize|deserialize|execute)/,
  /^query(_table)?$/,
  /^current_setting$/,
  /^getvariable$/,
  /^getenv$/,
  /^which_secret$/,
  /^duckdb_/,
  /^pg_/,
  /^read_/,
  /^glob$/,
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Checks the output of `json_serialize_plan(sql)`. `tableFiles` are the only files a scan may
 * read (the documented tables' Parquet files).
 */
export function checkBoundPlan(serialized: string, tableFiles: ReadonlySet<string>): AstCheck {
  let plan: Json;
  try {
    plan = JSON.parse(serialized) as Json;
  } catch {
    return { ok: false, reason: 'the statement could not be analysed' };
  }
  const root = plan as { error?: boolean; error_message?: string; plans?: Json[] };
  if (root.error) return { ok: false, reason: String(root.error_message ?? 'the statement could not be bound') };
  if (!Array.isArray(root.plans) || root.plans.length !== 1) return { ok: false, reason: 'exactly one statement is allowed' };
  let reason: string | undefined;
  walk(plan, (o) => {
    if (reason) return;
    if (o.type === 'LOGICAL_GET') reason = checkGet(o, tableFiles);
    else if (typeof o.expression_class === 'string' && typeof o.name === 'string') {
      const fn = o.name.toLowerCase();
      if (DENIED_EXPRESSION_FUNCTIONS.some((re) => re.test(fn))) reason = `function "${fn}" is not allowed (files, settings and SQL text are out of reach)`;
    }
  });
  return reason ? { ok: false, reason } : { ok: true };
}

function checkGet(get: { [k: string]: Json }, tableFiles: ReadonlySet<string>): string | undefined {
  const name = String(get.name ?? '').toLowerCase();
  if (RELATION_FUNCTIONS_ALLOWED.has(name)) return undefined;
  if (PARQUET_SCANS.has(name)) {
    const data = get.function_data as { files?: Json; parquet_options?: { file_options?: { filename?: Json } } } | undefined;
    const files = data?.files;
    if (!Array.isArray(files) || files.length === 0) return 'a Parquet scan with no file list is not allowed: query the documented tables';
    if (!files.every((f) => typeof f === 'string' && tableFiles.has(f))) return 'reading files is not allowed: query the documented tables';
    if (data?.parquet_options?.file_options?.filename !== false) return 'the filename column is not allowed';
    return undefined;
  }
  return `relation "${name}" is not allowed: query only the documented tables (and range, generate_series, unnest)`;
}

function walk(node: Json, visit: (o: { [k: string]: Json }) => void): void {
  if (Array.isArray(node)) {
    for (const x of node) walk(x, visit);
  } else if (node !== null && typeof node === 'object') {
    visit(node);
    for (const v of Object.values(node)) walk(v, visit);
  }
}
