import { createServer } from 'node:http';
import * as path from 'node:path';
import { fromNodeRequest, writeNodeResponse } from '../../lib/api/adapters';
import { handleApiRequest } from '../../lib/api/router';
import { openEngine } from '../../lib/query/open';
import { LocalStore } from '../../lib/store/local';

// The query Lambda's API over node:http, on loopback, from a local data directory.

export async function runServe(o: { data: string; port: number; sqlTimeoutMs?: number; sqlMaxRows?: number }): Promise<number> {
  const dir = path.resolve(o.data);
  const store = new LocalStore(dir);
  const server = createServer((req, res) => {
    void (async () => {
      const r = await handleApiRequest(await fromNodeRequest(req), {
        openEngine: (filter) => openEngine(store, filter, [dir]),
        sqlLimits: { timeoutMs: o.sqlTimeoutMs ?? 20_000, maxRows: o.sqlMaxRows ?? 10_000 },
        dataDir: o.data,
        onError: (e) => process.stderr.write(`fleetprof serve: ${(e as Error).stack ?? e}\n`),
      });
      writeNodeResponse(res, r);
    })().catch((e: Error) => {
      process.stderr.write(`fleetprof serve: ${e.message}\n`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"internal error"}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  process.stderr.write(`fleetprof serve: http://127.0.0.1:${port}/ (GET /top, /gc, /export; POST /sql) from ${dir}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
