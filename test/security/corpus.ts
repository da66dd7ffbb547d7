// The SQL attack corpus (test/security/sql-attacks.json) and a data directory to aim it at: the
// ingested Go fixture, plus files beside the tables (x.csv, x.json) and outside the data directory
// (secret.csv, x.parquet) holding a canary that must never come back, also set in the environment.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ingestBytes } from '../../lib/ingest';
import { parseSourceMeta } from '../../lib/model/source';
import { LocalStore } from '../../lib/store/local';
import { openDuckDb, ParquetWriter } from '../../lib/store/parquet';

export const CANARY = 'fleetprof-canary-9f3c1d';

export interface Attack {
  class: string;
  name: string;
  sql: string;
  reason?: string;
}

export interface Target {
  data: string;
  outside: string;
  tableFile: string;
  cleanup: () => void;
}

export function loadAttacks(): Attack[] {
  return (JSON.parse(readFileSync(path.join(__dirname, 'sql-attacks.json'), 'utf8')) as { attacks: Attack[] }).attacks;
}

/** The attack's SQL aimed at a data directory (`data` may differ from t.data: a Lambda's cache). */
export function aim(a: Attack, t: Target, data = t.data, tableFile = t.tableFile): string {
  return a.sql
    .replaceAll('{data}', data)
    .replaceAll('{outside_name}', path.basename(t.outside))
    .replaceAll('{outside}', t.outside)
    .replaceAll('{table_file}', tableFile);
}

/** Plants the canary files beside the tables of `dir` (a data directory or a Lambda's cache). */
export function plantBeside(dir: string): void {
  writeFileSync(path.join(dir, 'x.csv'), `secret\n${CANARY}\n`);
  writeFileSync(path.join(dir, 'x.json'), JSON.stringify({ secret: CANARY }) + '\n');
}

export async function makeTarget(): Promise<Target> {
  process.env.FLEETPROF_SANDBOX_CANARY = CANARY;
  const data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-sbx-'));
  const outside = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-outside-'));
  writeFileSync(path.join(outside, 'secret.csv'), `secret\n${CANARY}\n`);
  const store = new LocalStore(data);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  const bytes = readFileSync(path.join(__dirname, '../fixtures/go/svc-a-v1-i1/cpu.pb.gz'));
  await ingestBytes(bytes, parseSourceMeta({ service: 'svc-a', instance: 'i1', version: 'v1', source: 'cpu', sourceId: 'cpu' }), { store, writer });
  writer.close();
  instance.closeSync();
  const c = await (await openDuckDb()).connect();
  await c.run(`COPY (SELECT '${CANARY}' AS s) TO '${path.join(outside, 'x.parquet')}' (FORMAT parquet)`);
  c.closeSync();
  plantBeside(data);
  return {
    data,
    outside,
    tableFile: firstParquet(path.join(data, 'fresh', 'profiles')),
    cleanup: () => {
      rmSync(data, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
      delete process.env.FLEETPROF_SANDBOX_CANARY;
    },
  };
}

export function firstParquet(dir: string): string {
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) {
      const f = firstParquet(p);
      if (f) return f;
    } else if (e.endsWith('.parquet')) return p;
  }
  return '';
}

/** What must never appear in an answer: the canary, /etc/passwd, and (unless the attack itself
 * names it) the data directory's path, which settings and view definitions would reveal. */
export function leaks(answer: string, sql: string, data: string): string | undefined {
  if (answer.includes(CANARY)) return 'the canary';
  if (/root:x:0:0/.test(answer)) return '/etc/passwd';
  if (!sql.includes(data) && answer.includes(data)) return 'the data directory path';
  return undefined;
}
