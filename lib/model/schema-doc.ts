import { glueType, duckdbType, TABLES, TABLE_NAMES, type ColumnDef } from './schema';

/** docs/schema.md, generated from the one schema definition (`npm run docs` rewrites it). */
export function schemaMarkdown(): string {
  const out: string[] = [
    '# Table schemas',
    '',
    '<!-- Generated from lib/model/tables/ (gathered in lib/model/schema.ts) by `npm run docs`; a test fails when this file is stale. -->',
    '',
    'Every table is Parquet (zstd) in a Hive layout: `<table>/dt=YYYY-MM-DD/service=<name>/<profile_id>.parquet`.',
    'The partition keys `dt` and `service` come from the path (they are not stored in the files), so DuckDB',
    '(`hive_partitioning = true`), Athena and Glue (partition projection) prune on them. A file is named by the',
    'id of its source, so ingesting the same source again replaces the file instead of adding rows.',
    'Inside a file rows are sorted by the listed sort key, so row-group statistics prune too.',
    'A gctrace log or a runtime/metrics file can span several UTC days: its rows are split into one file per `dt`,',
    'named `<profile_id>-<dt>.parquet`, so re-ingesting it still replaces every file.',
    '',
    'Integer values are exact in the base unit of the sample type (nanoseconds, bytes, count).',
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
  return out.join('\n');
}
