import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { concatParquet, copyId, copyIdSql, loadDictionaries, shiftDictionaries, shiftFile, verifyShift, type ShiftRole } from '../bench/fleet-parquet';
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
      // The JS and SQL derivations of a copy's id agree, and the time digits move by the shift.
      const id = String(dicts.rowGroups[0].profile_id[0]);
      const sqlId = (await conn.runAndReadAll(`SELECT ${copyIdSql(`'${id}'`, `'@-30'`, -30)}`)).getRows()[0][0];
      expect(copyId(id, '@-30', -30)).toBe(sqlId);
      expect(parseInt(copyId(id, '@-30', -30).slice(0, 12), 16)).toBe(parseInt(id.slice(0, 12), 16) - 30 * 3_600_000);
      const spec = { shiftHours: -30, batchId: 'b0mx9999999999999999ab' };
      const bytes = shiftFile(await fs.readFile(base), dicts, spec);
      expect(bytes).not.toBeNull();
      const out = path.join(dir, 'out.parquet');
      await fs.writeFile(out, bytes!);
      await verifyShift(conn, base, out, roles, spec);
      // Every column, not only the changed ones.
      const diff = await conn.runAndReadAll(`
        SELECT count(*) FROM (SELECT * FROM read_parquet('${out}')) n POSITIONAL JOIN (SELECT * FROM read_parquet('${base}')) b
        WHERE n.time <> b.time - INTERVAL 30 HOUR OR n.profile_id <> ${copyIdSql('b.profile_id', `'@-30'`, -30)} OR n._batch <> '${spec.batchId}'
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

  test('instance copies joined into one file equal the SQL CROSS JOIN form, and the joined file shifts by hours', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-parquet-'));
    const db = await openDuckDb({ threads: 1 });
    const conn = await db.connect();
    try {
      const src = path.join(dir, 'src.parquet');
      // 4 instances, 300 profiles, 2 row groups; a list column rides along untouched.
      await conn.run(`COPY (
          SELECT 'inst-' || (i % 4)::VARCHAR AS instance, md5('p' || (i % 300)::VARCHAR) AS profile_id,
                 TIMESTAMP '2026-12-01 23:00:00' + INTERVAL ((i % 60)) MINUTE AS time, ['f' || (i % 7)::VARCHAR] AS frames,
                 i AS value, 'b000000000000000000000' AS _batch
          FROM range(150000) t(i)) TO '${src}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)`);
      const copyRoles: Record<string, ShiftRole> = { instance: 'copy', profile_id: 'copy-hash' };
      const dicts = await loadDictionaries(conn, src, copyRoles);
      const srcBytes = await fs.readFile(src);
      const copies = 3;
      const parts = Array.from({ length: copies }, (_, k) => shiftFile(srcBytes, dicts, { shiftHours: 0, batchId: '', copy: k })!);
      const joined = path.join(dir, 'joined.parquet');
      await fs.writeFile(joined, concatParquet(parts));
      // Row by row: copy k is rows [k n, (k+1) n) of the joined file and equals the SQL form.
      const n = 150000;
      const bad = await conn.runAndReadAll(`
        SELECT count(*) AS rows, count(*) FILTER (WHERE j.instance <> s.instance || '~' || (j.r // ${n})::VARCHAR
                  OR j.profile_id <> ${copyIdSql('s.profile_id', `'~' || (j.r // ${n})::VARCHAR || '@0'`, 0)}
                  OR j.time <> s.time OR j.frames <> s.frames OR j.value <> s.value OR j._batch <> s._batch) AS bad
        FROM (SELECT *, file_row_number AS r FROM read_parquet('${joined}', file_row_number = true)) j
        JOIN (SELECT *, file_row_number AS r FROM read_parquet('${src}', file_row_number = true)) s ON j.r % ${n} = s.r`);
      expect(bad.getRows()[0].map(Number)).toEqual([copies * n, 0]);
      const meta = await conn.runAndReadAll(`SELECT count(DISTINCT row_group_id), count(DISTINCT instance), count(DISTINCT profile_id) FROM parquet_metadata('${joined}'), read_parquet('${joined}')`);
      expect(meta.getRows()[0].map(Number)).toEqual([2 * copies, 4 * copies, 300 * copies]);
      // Statistics of the swapped chunks are the copy's: a filter on a copy's instance name prunes to its row groups.
      const one = await conn.runAndReadAll(`SELECT count(*) FROM read_parquet('${joined}') WHERE instance = 'inst-1~2'`);
      expect(Number(one.getRows()[0][0])).toBe(n / 4);
      // The joined file's dictionaries (computed, not scanned) drive an hour shift that verifies.
      const all = await loadDictionaries(conn, src, { ...roles, ...copyRoles });
      const hourRoles = roles;
      const rowGroups = Array.from({ length: copies }, (_, k) => {
        const pid = shiftDictionaries({ roles: { profile_id: 'copy-hash' }, rowGroups: all.rowGroups.map((rg) => ({ profile_id: rg.profile_id })) }, { shiftHours: 0, batchId: '', copy: k });
        return all.rowGroups.map((rg, i) => ({ time: rg.time, profile_id: pid[i].profile_id, _batch: rg._batch }));
      }).flat();
      expect(rowGroups).toEqual((await loadDictionaries(conn, joined, hourRoles)).rowGroups);
      const spec = { shiftHours: -5, batchId: 'b0mx9999999999999999ab' };
      const shifted = path.join(dir, 'shifted.parquet');
      await fs.writeFile(shifted, shiftFile(await fs.readFile(joined), { roles: hourRoles, rowGroups }, spec)!);
      await verifyShift(conn, joined, shifted, hourRoles, spec);
    } finally {
      conn.closeSync();
      db.closeSync();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
