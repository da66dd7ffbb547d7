import { glueType, duckdbType, TABLES, TABLE_NAMES, type ColumnDef } from './schema';

/** docs/schema.md, generated from the one schema definition (`npm run docs` rewrites it). */
export function schemaMarkdown(): string {
  const out: string[] = [
    '# Table schemas',
    '',
    '<!-- Generated from lib/model/tables/ (gathered in lib/model/schema.ts) by `npm run docs`; a test fails when this file is stale. -->',
    '',
    'Every table is Parquet (zstd) under one partition key, `dt` (the UTC day, from the path; not stored in the',
    'files). Storage layout v2 (docs/architecture.md): ingest writes one file per table per batch and UTC hour,',
    '`fresh/<table>/dt=YYYY-MM-DD/hour=HH/<batch-id>.parquet`; the compactor turns closed hours into one file per',
    'table and hour and closed days into one day file, `<table>/dt=YYYY-MM-DD/<file>.parquet`, listed by the',
    "dt's `_manifest.json` (and, for Athena, `athena/<table>/dt=YYYY-MM-DD/symlink.txt`). `service` is a column;",
    'compacted files are sorted by it first, so per-service reads prune on row-group statistics.',
    'Every row carries `profile_id`, a hash of its source: a source ingested twice counts once (readers and the',
    'compactor keep, per profile_id and UTC hour, the rows of one batch).',
    'Inside a file rows are sorted by the listed sort key (after `service` once compacted).',
    '',
    'Integer values are exact in the base unit of the sample type (nanoseconds, bytes, count).',
    'Times (`TIMESTAMP`) are UTC in whole milliseconds: a capture time is floored to the millisecond when it is',
    'stored (and `dt` is that time\'s day), because Athena reads Parquet timestamps as milliseconds (rounding half',
    'up) while DuckDB reads microseconds; whole milliseconds put every row in the same window and day in both.',
    'Columns marked **nullable** may hold NULL; every other column is never NULL.',
    '',
  ];
  for (const name of TABLE_NAMES) {
    const t = TABLES[name];
    out.push(`## \`${name}\``, '', t.doc, '', `Sort key: ${t.sortBy.map((c) => `\`${c}\``).join(', ')}.`, '');
    out.push('| column | DuckDB type | Athena/Glue type | description |', '|---|---|---|---|');
    for (const c of [...t.columns, ...t.partitionKeys] as ColumnDef[]) {
      out.push(`| \`${c.name}\` | \`${duckdbType(c.type)}\` | \`${glueType(c.type)}\` | ${c.nullable ? '**nullable.** ' : ''}${c.doc} |`);
    }
    out.push('');
  }
  out.push(...VALUES_OVER_TIME, ...ROLLUPS);
  return out.join('\n');
}

// The rule every query follows (lib/model/temporality.ts classes, lib/query/window.ts weights,
// lib/query/views.ts the view), and why it is built this way.
const VALUES_OVER_TIME = [
  '## Values over time',
  '',
  'A fleet is processes sampled again and again, and Go keeps three kinds of value. What `flat`, `cum`,',
  '`value` and `total` mean for a row depends on the profile\'s `kind` and the row\'s `sample_type`:',
  '',
  '| class | kind / sample type | stored values | a window `[from, to)` shows |',
  '|---|---|---|---|',
  '| interval | `cpu` | the profile\'s own interval | the sum of the profiles in the window |',
  '| counter | `allocs`, `block`, `mutex`; `alloc_objects`, `alloc_space` of `heap` | `temporality = \'cumulative\'`: since process start (Go\'s `WriteTo(w, 0)`); `\'delta\'`: since the previous upload of the process | the increase within the window, per process, summed over processes |',
  '| gauge | `inuse_objects`, `inuse_space` (heap, allocs), `goroutine`, `threadcreate` | point in time | per instance the mean of its snapshots in the window, summed over instances (`--aggregate max\\|last\\|sum` otherwise) |',
  '',
  '**Counters.** A *series* is the snapshots of one (`service`, `instance`, `version`, `process`), split',
  'wherever a counter total (`alloc_objects`, `alloc_space`, `contentions`, `delay` in `sample_types`)',
  'goes down: a restart. For each series a window takes weight +1 on its last snapshot in the window',
  'and -1 on its last snapshot before it (looked for within `--lookback`, default 1 h); a series with',
  'no earlier snapshot counts since process start. flat, cum and merged stacks are linear in sample',
  'values, so the weighted sum is exactly `go tool pprof -top -base <last before> <last in window>`',
  '(pprof\'s `-base` is a merge with the base scaled by -1). Deltas (the agent) are summed as they are:',
  'both paths give the same numbers. A window across a restart is the old series\' increase up to its',
  'end plus the new one\'s since its start.',
  '',
  '**Gauges.** Each instance\'s mean is rounded to an integer (halves away from zero) per function',
  '(top, diff) or per stack (flame graphs, export) before instances are summed; one snapshot per',
  'instance is exact.',
  '',
  '**Why weights.** Every consumer (top, diff, flame graphs, export, the digest, the HTTP API) reads the',
  'same rows and multiplies them by one per-profile weight from one module, so they cannot disagree,',
  'and nothing is rewritten at ingest: a snapshot that arrives late or twice (redelivery replaces',
  'rows by source) changes the answer as it should. The look-back bounds what a query reads: the',
  '`profiles` rows of the look-back, and the data rows of one earlier snapshot per series. At fleet',
  'scale (issue #11) compaction will materialize each snapshot\'s increase over its predecessor (the',
  '`increase_terms` view below, evaluated once), so hourly and daily rollups of counters stay additive.',
  '',
  '### View `increase_terms`',
  '',
  '`increase_terms(snapshot_id, snapshot_time, kind, profile_id, weight)`: for every cpu and counter',
  'profile, the profiles whose weighted values make up what that snapshot *adds*: a cumulative snapshot',
  '(+1) minus the previous snapshot of its series (-1; none for the first), a delta or CPU profile (+1).',
  'Summed over the snapshots of a window, intermediate snapshots cancel. `fleetprof sql` and `serve`',
  'define it; ad-hoc SQL then gets the numbers of `top` (with an unbounded look-back):',
  '',
  '```sql',
  'SELECT f.function, SUM(f.flat * t.weight) AS flat, SUM(f.cum * t.weight) AS cum',
  'FROM increase_terms t JOIN functions f ON f.profile_id = t.profile_id',
  "WHERE t.kind = 'allocs' AND f.sample_type = 'alloc_space'",
  "  AND t.snapshot_time >= TIMESTAMP '2026-11-21 10:00:00' AND t.snapshot_time < TIMESTAMP '2026-11-21 11:00:00'",
  'GROUP BY 1 HAVING SUM(f.flat * t.weight) <> 0 OR SUM(f.cum * t.weight) <> 0 ORDER BY 2 DESC',
  '```',
  '',
  'The same query runs on Athena once the view is created there from `lib/query/views.ts`',
  '(`UNNEST(sample_types) AS st` becomes `CROSS JOIN UNNEST(sample_types) AS u(st)`, `list_contains` becomes',
  '`contains`). Gauges as `top` shows them (per-instance means), in SQL:',
  '',
  '```sql',
  'SELECT function, SUM(mean) AS flat FROM (',
  '  SELECT instance, function, SUM(flat) / (SELECT COUNT(*) FROM profiles p WHERE p.kind = \'goroutine\' AND p.instance = f.instance',
  "      AND p.time >= TIMESTAMP '2026-11-21 10:00:00' AND p.time < TIMESTAMP '2026-11-21 11:00:00') AS mean",
  "  FROM functions f WHERE kind = 'goroutine' AND time >= TIMESTAMP '2026-11-21 10:00:00' AND time < TIMESTAMP '2026-11-21 11:00:00'",
  '  GROUP BY ALL) GROUP BY 1 ORDER BY 2 DESC',
  '```',
  '',
];

// The rollup tables (lib/model/tables/rollup-*.ts), how they are built (lib/store/rollup-build.ts)
// and how queries use them (lib/query/plan.ts).
const ROLLUPS = [
  '## Rollups',
  '',
  '`profiles_1h`, `functions_1h`, `stacks_1h` and the day forms `functions_1d`, `stacks_1d` are sums over the raw',
  'tables per UTC hour (day), built when an hour is compacted (and a day consolidated). Every value is a plain',
  'sum, so the rows of any set of whole hours add up to what the rules above give for them:',
  '',
  '| value_class | what a rollup row sums | a window of whole hours is |',
  '|---|---|---|',
  '| interval | the profiles\' values | the sum of the rows |',
  '| counter | per-snapshot increases: each cumulative snapshot minus the previous snapshot of its series (same segment, no older than the start of the previous hour); deltas as they are | the sum of the rows |',
  '| gauge | per instance (`instance` set), the sum of its snapshots\' values | per instance, the sum of the rows divided by the sum of `profiles_1h.snapshots` (rounded half away from zero), summed over instances |',
  '',
  '`instance` is `\'\'` on interval and counter rows (they are summed over instances). A counter series that',
  'was silent for more than an hour is counted from process start again by the hour after its silence;',
  '`fleetprof` notices that from `profiles_1h` (`first_time`, `last_time`) and answers such windows from the raw',
  'rows, as it does for windows with instance or label filters and for `--aggregate max|last`. Queries read the',
  'day form for whole days, the hour form for whole hours, and raw rows for partial hours and hours not rolled',
  'up yet; the answers equal the raw rows\' (test/rollup-plan.test.ts).',
  '',
  'CPU time of one service over whole hours, straight from the rollups:',
  '',
  '```sql',
  "SELECT function, SUM(flat) AS flat, SUM(cum) AS cum FROM functions_1h",
  "WHERE service = 'api' AND kind = 'cpu' AND sample_type = 'cpu'",
  "  AND hour >= TIMESTAMP '2026-11-20 08:00:00' AND hour < TIMESTAMP '2026-11-20 12:00:00'",
  'GROUP BY function ORDER BY flat DESC LIMIT 20;',
  '```',
  '',
];
