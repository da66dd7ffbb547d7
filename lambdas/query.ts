import * as os from 'node:os';
import * as path from 'node:path';
import { fromLambdaEvent, toLambdaResult } from '../lib/aws/function-url';
import { handleApiRequest } from '../lib/api/router';
import { makeS3Client } from '../lib/aws/clients';
import type { HttpEventV2, HttpResultV2, LambdaContext } from '../lib/aws/events';
import { lambdaObservability } from '../lib/aws/observability';
import { ENV } from '../lib/aws/resources';
import { envInt, lambdaDuckDbSettings } from '../lib/aws/runtime';
import { openEngine } from '../lib/query/open';
import { WarmTop } from '../lib/query/warm-top';
import { isolatedSql, SqlProcessPool } from '../lib/query/sql-process';
import { tablesBucket, tablesStore } from '../lib/aws/tables-store';

// Function URL (payload 2.0) -> lib/api/router.ts. Only the partitions a query needs are listed
// and downloaded; downloads stay in /tmp keyed by ETag across warm invocations.

const s3 = makeS3Client();
const obs = lambdaObservability('query');

// User SQL runs in one warm child process, killed at the time or memory limit. In the esbuild
// bundle the child is this same file (sql-child.ts starts itself when FLEETPROF_SQL_CHILD=1).
let pool: SqlProcessPool | undefined;
function sqlPool(): SqlProcessPool {
  const mb = Number(process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE) || 1024;
  pool ??= new SqlProcessPool({
    size: 1,
    memoryMb: Math.max(256, Math.floor(mb * 0.5)),
    maxTempBytes: 512 * 1024 * 1024,
    tempDirectory: path.join(os.tmpdir(), 'duckdb_sql_tmp'),
    childEntry: __filename.endsWith('.js') ? __filename : undefined,
  });
  return pool;
}

// `top` of CPU over fresh hours from per-file summaries kept while the environment is warm (the
// files it summarized stay in the download cache, keyed by ETag): lib/query/warm-top.ts.
// One per bucket's store (tablesStore keeps one per bucket); a Lambda serves one request at a time.
const warm = new Map<object, WarmTop>();
function warmTop(st: ReturnType<typeof tablesStore>, settings: ReturnType<typeof lambdaDuckDbSettings>): WarmTop {
  let w = warm.get(st);
  if (!w) warm.set(st, (w = new WarmTop(st, st.cacheDir, { settings })));
  return w;
}

export async function handler(event: HttpEventV2, context?: LambdaContext): Promise<HttpResultV2> {
  obs.start(context);
  const t0 = Date.now();
  const st = tablesStore(s3, tablesBucket());
  const settings = lambdaDuckDbSettings();
  const req = fromLambdaEvent(event);
  const sqlLimits = { timeoutMs: envInt(process.env, ENV.sqlTimeoutMs, 20_000), maxRows: envInt(process.env, ENV.sqlMaxRows, 10_000), maxBytes: 4 * 1024 * 1024 };
  const res = await handleApiRequest(req, {
    openEngine: (filter) => openEngine(st, filter, [st.cacheDir], settings),
    warmTop: warmTop(st, settings),
    sqlLimits,
    runSql: isolatedSql(sqlPool(), st, [st.cacheDir], sqlLimits),
    onError: (e) => obs.log({ level: 'ERROR', msg: 'query failed', error: (e as Error).name, reason: (e as Error).message, stack: (e as Error).stack }),
  });
  const ms = Date.now() - t0;
  obs.log({ level: 'INFO', msg: 'request', method: req.method, path: req.path, status: res.status, ms });
  obs.timeRequest(ms);
  obs.flush();
  return toLambdaResult(res);
}
