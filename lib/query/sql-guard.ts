import { TABLE_NAMES } from '../model/schema';
import { VIEW_NAMES } from './views';

// Second layer of the SQL sandbox (the first: the locked engine, which may read nothing but the
// tables' own files, and the allowlist over the bound plan in lib/query/sql-plan.ts). DuckDB parses the statement into its JSON AST
// (json_serialize_sql); this walks it and refuses, with a reason:
// - anything but the documented tables and the query's own CTEs in FROM (no file paths as tables,
//   no catalog tables such as duckdb_settings or information_schema);
// - table functions other than range / generate_series / unnest;
// - functions that read files, run SQL text, or reveal settings and secrets, wherever they appear.

const TABLE_FUNCTIONS_ALLOWED = new Set(['range', 'generate_series', 'unnest']);

const DENIED_FUNCTIONS = [
  /^read_/,
  /_scan$/,
  /^glob$/,
  /^sniff_csv$/,
  /^parquet_/,
  /^duckdb_/,
  /^pragma_/,
  /^pg_/,
  /^current_setting$/,
  /^getenv$/,
  /^which_secret$/,
  /^query(_table)?$/,
  /^(force_)?checkpoint$/,
  /^sql_auto_complete$/,
  /^load_aws_credentials$/,
  /^(iceberg|delta|postgres|mysql|sqlite)_/,
  /^enable_|^disable_/,
  /^json_(serialize|deserialize|execute)/,
  /^getvariable$/,
];

export interface AstCheck {
  ok: boolean;
  reason?: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Checks the output of `json_serialize_sql(sql)`. */
export function checkSqlAst(serialized: string): AstCheck {
  let ast: Json;
  try {
    ast = JSON.parse(serialized) as Json;
  } catch {
    return { ok: false, reason: 'the statement could not be analysed' };
  }
  const root = ast as { error?: boolean; error_message?: string; statements?: Json[] };
  if (root.error) {
    return { ok: false, reason: /Only SELECT/i.test(root.error_message ?? '') ? 'only SELECT statements are allowed (read-only)' : `rejected: ${root.error_message}` };
  }
  if (!Array.isArray(root.statements) || root.statements.length !== 1) return { ok: false, reason: 'exactly one statement is allowed' };

  const tables = new Set<string>([...TABLE_NAMES, ...VIEW_NAMES].map((t) => t.toLowerCase()));

  let reason: string | undefined;
  // CTE names count only where they are in scope: in the statement's body and in the CTEs
  // defined after them, never inside their own definition (`WITH pg_settings AS (SELECT * FROM
  // pg_settings)` reads the catalog there) nor in a sibling subquery; a recursive CTE sees its own
  // name only inside its RECURSIVE_CTE_NODE.
  walkScoped(ast, new Set(), (o, ctes) => {
    if (reason) return;
    if (o.type === 'BASE_TABLE' && typeof o.table_name === 'string') {
      const name = o.table_name.toLowerCase();
      const schema = String(o.schema_name ?? '').toLowerCase();
      const catalog = String(o.catalog_name ?? '').toLowerCase();
      if (catalog !== '' || (schema !== '' && schema !== 'main')) {
        reason = `table "${[catalog, schema, o.table_name].filter(Boolean).join('.')}" is not allowed: query only ${[...TABLE_NAMES, ...VIEW_NAMES].join(', ')}`;
      } else if (!tables.has(name) && !(schema === '' && ctes.has(name))) {
        reason = `table "${o.table_name}" is not allowed: query only ${[...TABLE_NAMES, ...VIEW_NAMES].join(', ')}`;
      }
    } else if (o.type === 'TABLE_FUNCTION') {
      const fn = (o.function as { function_name?: string } | undefined)?.function_name?.toLowerCase() ?? '';
      if (!TABLE_FUNCTIONS_ALLOWED.has(fn)) reason = `table function "${fn}" is not allowed (only ${[...TABLE_FUNCTIONS_ALLOWED].join(', ')})`;
    } else if (typeof o.function_name === 'string') {
      const fn = o.function_name.toLowerCase();
      const catalog = String(o.catalog ?? '').toLowerCase();
      if (DENIED_FUNCTIONS.some((re) => re.test(fn))) reason = `function "${fn}" is not allowed (files, settings and SQL text are out of reach)`;
      else if (catalog !== '' && catalog !== 'system') reason = `function "${catalog}.${fn}" is not allowed`;
    }
  });
  return reason ? { ok: false, reason } : { ok: true };
}

function walkScoped(node: Json, ctes: ReadonlySet<string>, visit: (o: { [k: string]: Json }, ctes: ReadonlySet<string>) => void): void {
  if (Array.isArray(node)) {
    for (const x of node) walkScoped(x, ctes, visit);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  visit(node, ctes);
  let scope = ctes;
  const map = (node.cte_map as { map?: Json } | undefined)?.map;
  if (Array.isArray(map)) {
    const inner = new Set(ctes);
    for (const e of map) {
      const entry = e as { key?: Json; value?: Json };
      walkScoped(entry.value ?? null, new Set(inner), visit);
      if (typeof entry.key === 'string') inner.add(entry.key.toLowerCase());
    }
    scope = inner;
  }
  if (node.type === 'RECURSIVE_CTE_NODE' && typeof node.cte_name === 'string') scope = new Set([...scope, node.cte_name.toLowerCase()]);
  for (const [k, v] of Object.entries(node)) if (k !== 'cte_map') walkScoped(v, scope, visit);
}
