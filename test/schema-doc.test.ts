import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { schemaMarkdown } from '../lib/model/schema-doc';
import { duckdbType, TABLES } from '../lib/model/schema';
import { openDuckDb, ParquetWriter, rowCount } from '../lib/store/parquet';
import { profileRows } from '../lib/normalize/profile-rows';
import { decodeProfile } from '../lib/decode';
import { parseSourceMeta } from '../lib/model/source';

test('docs/schema.md is generated from the schema (run `npm run docs`)', () => {
  expect(readFileSync(path.join(__dirname, '../docs/schema.md'), 'utf8')).toBe(schemaMarkdown());
});

test('the files the core writes have exactly the schema columns and types, rows in every table', async () => {
  const p = decodeProfile(readFileSync(path.join(__dirname, 'fixtures/go/svc-a-v1-i1/heap.pb.gz')));
  const meta = parseSourceMeta({ service: 's', instance: 'i', source: 'x', sourceId: 'x' });
  const rows = profileRows(p, 'heap', meta, 'id');
  for (const t of ['profiles', 'functions'] as const) {
    for (const r of rows[t]) expect(Object.keys(r).sort()).toEqual(TABLES[t].columns.map((c) => c.name).sort());
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-schema-'));
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  const conn = await instance.connect();
  try {
    for (const t of ['profiles', 'functions', 'stacks'] as const) {
      const out = path.join(dir, `${t}.parquet`);
      await writer.write(TABLES[t], rows[t], out);
      const cols = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${out}')`)).getRowObjectsJS();
      // DuckDB quotes only reserved words in struct field names; compare without quotes.
      const unquote = (x: unknown) => String(x).replace(/"/g, '');
      expect(cols.map((c) => [c.column_name, unquote(c.column_type)])).toEqual(TABLES[t].columns.map((c) => [c.name, unquote(duckdbType(c.type))]));
      const n = (await conn.runAndReadAll(`SELECT count(*) AS n FROM read_parquet('${out}')`)).getRowObjectsJS()[0].n;
      expect(Number(n)).toBe(rowCount(rows[t]));
      expect(Number(n)).toBeGreaterThan(0);
    }
  } finally {
    conn.closeSync();
    writer.close();
    instance.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
});
