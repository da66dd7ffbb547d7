import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDictionaries, shiftFile, verifyShift, type ShiftRole } from '../bench/fleet-parquet';
import { openDuckDb } from '../lib/store/parquet';

// The simulator's copy-with-shift (bench/fleet-parquet.ts) must give, row by row, what DuckDB's own
// SQL shift gives, across several row groups, with filters on time pruning correctly (statistics
// rewritten) and with list columns untouched.
describe('fleet copy-with-shift', () => {
  const roles: Record<string, ShiftRole> = { time: 'time', profile_id: 'hash', _batch: 'batch' };

  test('a shifted copy equals the SQL shift, statistics included; non-dictionary chunks fall back', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-parquet-'));
    const db = await openDuckDb({ threads: 1 });
    const conn = await db.connect();
    try {
      const base = path.join(dir, 'base.parquet');
      // 250,000 rows in 3 row groups; 400 profiles, 60 distinct times, list and map columns.
      await conn.run(`COPY (
          SELECT md5('p' || (i % 400)::VARCHAR) AS profile_id, 'svc-' || (i % 3)::VARCHAR AS service,
                 TIMESTAMP '2026-12-01 23:00:00' + INTERVAL ((i % 60)) MINUTE AS time,
                 ['f' || (i % 7)::VARCHAR, 'g'] AS frames, MAP {'k': (i % 5)::VARCHAR} AS labels, i AS value,
                 'b000000000000000000000' AS _batch
          FROM range(250000) t(i)) TO '${base}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)`);
      const dicts = await loadDictionaries(conn, base, roles);
      expect(dicts.rowGroups.length).toBe(3);
      const spec = { shiftHours: -30, batchId: 'b0mx9999999999999999ab' };
      const bytes = shiftFile(await fs.readFile(base), dicts, spec);
      expect(bytes).not.toBeNull();
      const out = path.join(dir, 'out.parquet');
      await fs.writeFile(out, bytes!);
      await verifyShift(conn, base, out, roles, spec);
      // Every column, not only the changed ones.
      const diff = await conn.runAndReadAll(`
        SELECT count(*) FROM (SELECT * FROM read_parquet('${out}')) n POSITIONAL JOIN (SELECT * FROM read_parquet('${base}')) b
        WHERE n.time <> b.time - INTERVAL 30 HOUR OR n.profile_id <> md5(b.profile_id || '@-30') OR n._batch <> '${spec.batchId}'
           OR n.frames <> b.frames OR n.labels <> b.labels OR n.value <> b.value OR n.service <> b.service`);
      expect(Number(diff.getRows()[0][0])).toBe(0);
      // Row-group statistics are used for pruning: a filter on the shifted times must see them.
      const c = await conn.runAndReadAll(`SELECT count(*), min(time)::VARCHAR FROM read_parquet('${out}') WHERE time >= TIMESTAMP '2026-11-30 17:30:00'`);
      const e = await conn.runAndReadAll(`SELECT count(*) FROM read_parquet('${base}') WHERE time - INTERVAL 30 HOUR >= TIMESTAMP '2026-11-30 17:30:00'`);
      expect(c.getRows()[0]).toEqual([e.getRows()[0][0], '2026-11-30 17:30:00']);
      expect(Number(e.getRows()[0][0])).toBeGreaterThan(100000);
      // A file whose time column is not dictionary-encoded (every value distinct) is refused.
      const plain = path.join(dir, 'plain.parquet');
      await conn.run(`COPY (SELECT md5(i::VARCHAR) AS profile_id, TIMESTAMP '2026-12-01 23:00:00' + INTERVAL (i) MICROSECOND AS time, 'b000000000000000000000' AS _batch
                      FROM range(200000) t(i)) TO '${plain}' (FORMAT parquet, COMPRESSION zstd)`);
      expect(shiftFile(await fs.readFile(plain), await loadDictionaries(conn, plain, roles), spec)).toBeNull();
    } finally {
      conn.closeSync();
      db.closeSync();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
