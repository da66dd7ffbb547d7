// What Athena reads of a table: the files the day's `athena/<table>/dt=D/symlink.txt` names (never a
// listing), checked for rows counted twice. The compaction suites assert it after every delivery.
import { openDuckDb } from '../../lib/store/parquet';
import type { Store } from '../../lib/store/store';

/** Per table, the rows of the files the symlinks name, and the (profile, hour) keys found in more than one of those files, summed. */
export async function athenaView(store: Store, tables: readonly string[]): Promise<{ rows: Record<string, number>; dupes: number }> {
  let dupes = 0;
  const rows: Record<string, number> = {};
  const db = await openDuckDb();
  const conn = await db.connect();
  try {
    for (const t of tables) {
      const files: string[] = [];
      // The table's objects by the address symlink.txt gives them (s3:// in the bucket, file:// in a directory).
      const byUri = new Map((await store.list(`${t}/`)).map((o) => [store.uri(o.key), o]));
      for (const l of (await store.list(`athena/${t}/`)).filter((o) => o.key.endsWith('symlink.txt'))) {
        for (const uri of Buffer.from((await store.read(l.key))!).toString('utf8').split('\n').filter(Boolean)) {
          const o = byUri.get(uri);
          if (!o) throw new Error(`symlink.txt names ${uri}, which does not exist`);
          files.push(await store.localPath(o));
        }
      }
      if (files.length === 0) continue;
      const list = files.map((f) => `'${f}'`).join(', ');
      const r = await conn.runAndReadAll(
        `SELECT (SELECT count(*) FROM read_parquet([${list}], union_by_name = true)), (SELECT count(*) FROM (SELECT profile_id, date_trunc('hour', time), count(DISTINCT filename) c FROM read_parquet([${list}], filename = true, union_by_name = true) GROUP BY ALL HAVING c > 1))`,
      );
      rows[t] = Number(r.getRows()[0][0]);
      dupes += Number(r.getRows()[0][1]);
    }
    return { rows, dupes };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
