import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { createServer } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromNodeRequest, writeNodeResponse } from '../../lib/api/adapters';
import { checkHttpRequest, isLoopback } from '../../lib/api/http-guard';
import { Limiter } from '../../lib/api/limiter';
import { handleApiRequest } from '../../lib/api/router';
import { listTableFiles } from '../../lib/query/open';
import { EngineCache } from '../../lib/query/engine-cache';
import { QueryEngine } from '../../lib/query/engine';
import { WarmTop } from '../../lib/query/warm-top';
import type { PartitionFilter } from '../../lib/store/layout';
import { isolatedSql, SqlProcessPool } from '../../lib/query/sql-process';
import { LocalStore } from '../../lib/store/local';
import { requireDataDir } from './engine';
import { bucketOption, dataOption, positiveInt } from './options';
import type { Store } from '../../lib/store/store';
import { action, NoDataError } from './run';

// The query Lambda's API and the web UI (GET /, docs/ui.md) over node:http, from a local data
// directory or, with --bucket, from the bucket's tables with the caller's own AWS credentials (the
// standard chain; downloads cached by ETag as in the query Lambda). Loopback by default; any
// other bind requires a token. Requests are admitted by Host/Origin/token (lib/api/http-guard.ts),
// then run at most `concurrency` at a time with a bounded queue (503 + Retry-After beyond it);
// user SQL runs in killable child processes (lib/query/sql-process.ts).

export const TOKEN_ENV = 'FLEETPROF_TOKEN';

export interface ServeOptions {
  data?: string;
  bucket?: string;
  port: number;
  host?: string;
  token?: string;
  concurrency?: number;
  queue?: number;
  sqlTimeoutMs?: number;
  sqlMaxRows?: number;
  sqlMaxBytes?: number;
  sqlMemoryMb?: number;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the web UI (GET /) and the query API (GET /top, /gc, /export, /diff, /flamegraph, ...; POST /sql) on 127.0.0.1 from a data directory or a bucket (docs/ui.md, docs/security.md)')
    .addOption(dataOption('data directory (or --bucket)', false))
    .addOption(bucketOption("read the tables (and archived digests) of this fleetprof bucket with your own AWS credentials instead of --data", false).conflicts('data'))
    .option('--port <n>', 'port (0 = any free port)', positiveInt, 8787)
    .option('--host <address>', 'address to bind; anything but loopback requires a token', '127.0.0.1')
    .option('--token <token>', 'require Authorization: Bearer <token> (default: $FLEETPROF_TOKEN; generated and printed for non-loopback binds)')
    .option('--concurrency <n>', 'requests run at once (default: CPUs, at least 2)', positiveInt)
    .option('--queue <n>', 'requests waiting beyond that before 503 + Retry-After', positiveInt, 64)
    .option('--sql-timeout-ms <n>', 'SQL time limit (the query process is killed)', positiveInt, 20000)
    .option('--sql-max-rows <n>', 'SQL row limit', positiveInt, 10000)
    .option('--sql-max-bytes <n>', 'SQL result limit in bytes of JSON', positiveInt, 16 * 1024 * 1024)
    .option('--sql-memory-mb <n>', 'memory ceiling per query process, MiB', positiveInt, 1024)
    .action(action('serve', runServe));
}

/** Where serve reads: the tables' store, the directory DuckDB may read, the digest archive. */
async function openSource(o: ServeOptions): Promise<{ store: Store; dir: string; digests: Store; label: string; dataDir?: string }> {
  if (o.bucket !== undefined) {
    const [{ makeS3Client }, { tablesStore }, { S3Store }] = await Promise.all([import('../../lib/aws/clients'), import('../../lib/aws/tables-store'), import('../../lib/aws/s3-store')]);
    const s3 = makeS3Client();
    const store = tablesStore(s3, o.bucket);
    return { store, dir: store.cacheDir, digests: new S3Store({ client: s3, bucket: o.bucket, prefix: '' }), label: `s3://${o.bucket}/${store.prefix}` };
  }
  if (o.data === undefined) throw new NoDataError('serve needs --data <dir> or --bucket <name> (or FLEETPROF_DATA / FLEETPROF_BUCKET)');
  requireDataDir(o.data);
  const dir = path.resolve(o.data);
  const store = new LocalStore(dir);
  return { store, dir, digests: store, label: dir, dataDir: o.data };
}

export async function runServe(o: ServeOptions): Promise<number> {
  const { store, dir, digests, label, dataDir } = await openSource(o);
  const host = o.host ?? '127.0.0.1';
  let token = o.token ?? process.env[TOKEN_ENV] ?? undefined;
  if (token === '') token = undefined;
  const generated = token === undefined && !isLoopback(host);
  if (generated) token = randomBytes(24).toString('base64url');
  const concurrency = o.concurrency ?? Math.max(2, os.availableParallelism());
  const limiter = new Limiter(concurrency, o.queue ?? 64);
  // User SQL runs in at most max(2, CPUs) query processes (each up to --sql-memory-mb), however
  // large --concurrency is: the pool starts them all at launch, and `--concurrency 100000` started
  // that many processes; a /sql request past them waits for one.
  const sqlProcesses = Math.min(concurrency, Math.max(2, os.availableParallelism()));
  const pool = new SqlProcessPool({ size: sqlProcesses, memoryMb: o.sqlMemoryMb ?? 1024, tempDirectory: path.join(os.tmpdir(), `fleetprof-serve-${process.pid}`) });
  const sqlLimits = { timeoutMs: o.sqlTimeoutMs ?? 20_000, maxRows: o.sqlMaxRows ?? 10_000, maxBytes: o.sqlMaxBytes };
  // Engines are reused between requests over the same files (lib/query/engine-cache.ts).
  const engines = new EngineCache((files) => QueryEngine.open(files, [dir], { memoryLimit: `${o.sqlMemoryMb ?? 1024}MB` }));
  // `top` of CPU over fresh hours from per-file summaries: the last hour's files change every few
  // seconds, so an engine keyed by its files is never reused there (lib/query/warm-top.ts).
  const warmTop = new WarmTop(store, dir, { settings: { memoryLimit: `${o.sqlMemoryMb ?? 1024}MB` } });
  const deps = {
    openEngine: async (filter: PartitionFilter) => engines.lease(await listTableFiles(store, filter)),
    warmTop,
    runSql: isolatedSql(pool, store, [dir], sqlLimits),
    sqlLimits,
    dataDir,
    digests,
    onError: (e: unknown) => process.stderr.write(`fleetprof serve: ${(e as Error).stack ?? e}\n`),
  };
  let port = o.port;
  const server = createServer((req, res) => {
    void (async () => {
      const refused = checkHttpRequest(req.headers, { bindAddress: host, port, token }, new URL(req.url ?? '/', 'http://localhost').pathname);
      if (refused) {
        req.resume();
        return writeNodeResponse(res, { status: refused.status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ error: refused.error }) });
      }
      const request = await fromNodeRequest(req);
      const r = await limiter.run(() => handleApiRequest(request, deps));
      if (!r) {
        return writeNodeResponse(res, {
          status: 503,
          headers: { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' },
          body: JSON.stringify({ error: `busy: ${limiter.concurrency} requests running and ${limiter.queue} waiting; retry later` }),
        });
      }
      writeNodeResponse(res, r.value, req.headers['accept-encoding']);
    })().catch((e: Error) => {
      process.stderr.write(`fleetprof serve: ${e.message}\n`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"internal error"}');
    });
  });
  // Node closes an idle keep-alive connection after 5 s by default, and a client that picks that
  // connection for its next request in the same instant gets "other side closed" (fetch does not
  // retry). 30 s, below headersTimeout (60 s), makes that race rare on a busy machine.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => resolve());
  });
  pool.warm();
  // The first /sql request's engine opened ahead, over the tables as they are now (a request over
  // other files, after new data, opens its own): lib/query/sql-child.ts.
  void listTableFiles(store, {}).then((files) => pool.expect(files, [dir]), () => undefined);
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : o.port;
  const shown = host.includes(':') ? `[${host}]` : host;
  process.stderr.write(`fleetprof serve: http://${shown}:${port}/ (web UI at /; API GET /top, /gc, /export, /diff, /flamegraph, /services, /labels, /timeline, /digests; POST /sql) from ${label}; ${concurrency} at a time\n`);
  if (token !== undefined) {
    process.stderr.write(`fleetprof serve: token required (Authorization: Bearer <token>)${generated ? `; generated: ${token}` : ''}\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  pool.close();
  engines.close();
  warmTop.close();
  return 0;
}
