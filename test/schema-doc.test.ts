import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { schemaMarkdown } from '../lib/model/schema-doc';
import { TABLES } from '../lib/model/schema';
import { profileRows } from '../lib/normalize/profile-rows';
import { decodeProfile } from '../lib/decode';
import { parseSourceMeta } from '../lib/model/source';

test('docs/schema.md is generated from the schema (run `npm run docs`)', () => {
  expect(readFileSync(path.join(__dirname, '../docs/schema.md'), 'utf8')).toBe(schemaMarkdown());
});

test('the rows the core produces have exactly the schema columns', () => {
  const p = decodeProfile(readFileSync(path.join(__dirname, 'fixtures/go/svc-a-v1-i1/heap.pb.gz')));
  const meta = parseSourceMeta({ service: 's', instance: 'i', source: 'x', sourceId: 'x' });
  const rows = profileRows(p, 'heap', meta, 'id');
  for (const t of ['profiles', 'functions', 'stacks'] as const) {
    expect(rows[t].length).toBeGreaterThan(0);
    for (const r of rows[t]) expect(Object.keys(r).sort()).toEqual(TABLES[t].columns.map((c) => c.name).sort());
  }
});
