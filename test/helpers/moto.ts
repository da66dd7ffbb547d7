// Starts `moto_server` on a free loopback port for a test file, and stops it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export function motoAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' }).status === 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Moto {
  endpoint: string;
  stop: () => Promise<void>;
}

export async function startMoto(timeoutMs = 30_000): Promise<Moto> {
  const port = await freePort();
  // moto logs every request to stderr: into a file, not a pipe. A pipe is drained by this process's
  // event loop, which a test blocks while it runs the CLI with spawnSync; once the pipe is full
  // (~64 KB of request lines) moto blocks writing its log, the CLI waits for moto, and both hang.
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'moto-log-'));
  const logFile = path.join(logDir, 'stderr.log');
  const fd = openSync(logFile, 'w');
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  child.once('exit', () => rmSync(logDir, { recursive: true, force: true }));
  const endpoint = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode}): ${tail()}`);
    try {
      const r = await fetch(`${endpoint}/moto-api/`);
      if (r.status < 500) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() - t0 > timeoutMs) {
      child.kill('SIGTERM');
      throw new Error(`moto_server did not start within ${timeoutMs} ms: ${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * The environment the Lambda handlers read, pointed at moto: endpoint, dummy credentials, the
 * bucket and a download cache. Tests spread their own extra variables over it.
 */
export function lambdaEnv(moto: Moto, o: { region: string; bucket: string; cacheDir: string }): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: o.region,
    FLEETPROF_BUCKET: o.bucket,
    FLEETPROF_CACHE_DIR: o.cacheDir,
  };
}
