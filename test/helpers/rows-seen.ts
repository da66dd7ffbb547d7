import { openEngine } from '../../lib/query/open';
import type { Store } from '../../lib/store/store';

/** What DuckDB sees of each table through the readers' views (manifests, dedupe): its row count and an order-free hash of its rows. */
export async function rowsSeen(store: Store, dirs: string[], tables: readonly string[]): Promise<Record<string, string>> {
  const engine = await openEngine(store, {}, dirs);
  try {
    const out: Record<string, string> = {};
    for (const t of tables) {
      const [r] = await engine.rows(`SELECT count(*)::VARCHAR AS n, sum(hash(x))::VARCHAR AS h FROM ${t} x`);
      out[t] = `${String(r.n)}:${String(r.h)}`;
    }
    return out;
  } finally {
    engine.close();
  }
}
