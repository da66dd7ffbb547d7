// A local Trino 476 (the engine Athena engine version 3 is built on) for `npm run test:athena`:
// trino-server from Maven Central (cached), its Hive connector with a file metastore and the native
// S3 filesystem pointed at moto. Athena-like on purpose: timestamps read at millisecond precision
// (the Hive connector's default, as Athena), partition projection from the table parameters
// (Athena's `projection.*` keys, which Trino's Hive connector implements), symlink tables.
//
// Why a server and not a library: Trino has no embedded mode; its REST protocol (POST
// /v1/statement, follow nextUri) is small enough to speak with fetch, so no client package.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../../lib/aws/local-stack';

export const TRINO_VERSION = '476';

/** Where trino-server is unpacked: $FLEETPROF_TRINO_HOME, else ~/.cache/fleetprof/trino-server-476. */
export function trinoHome(): string {
  return process.env.FLEETPROF_TRINO_HOME ?? path.join(os.homedir(), '.cache', 'fleetprof', `trino-server-${TRINO_VERSION}`);
}

/** Trino 476 needs Java 24+: $TRINO_JAVA_HOME, else the machine's Temurin 25. */
export function javaHome(): string {
  return process.env.TRINO_JAVA_HOME ?? '/usr/lib/jvm/temurin-25-jdk-amd64';
}

/**
 * Downloads trino-server (~800 MB, once) with Maven and unpacks it (~400 MB kept), keeping only the Hive plugin
 * (the tarball hard-links jars across plugins, so it is unpacked whole and the rest removed).
 */
export function ensureTrino(): string {
  const home = trinoHome();
  if (existsSync(path.join(home, 'bin', 'launcher')) && existsSync(path.join(home, 'plugin', 'hive'))) return home;
  const parent = path.dirname(home);
  mkdirSync(parent, { recursive: true });
  const tarball = path.join(parent, `trino-server-${TRINO_VERSION}.tar.gz`);
  if (!existsSync(tarball)) {
    const r = spawnSync('mvn', ['-q', 'dependency:copy', `-Dartifact=io.trino:trino-server:${TRINO_VERSION}:tar.gz`, `-DoutputDirectory=${parent}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.status !== 0) throw new Error(`mvn dependency:copy trino-server ${TRINO_VERSION} failed: ${r.stdout}${r.stderr}`);
  }
  const unpack = path.join(parent, `unpack-${process.pid}`);
  rmSync(unpack, { recursive: true, force: true });
  mkdirSync(unpack, { recursive: true });
  const t = spawnSync('tar', ['xzf', tarball, '-C', unpack], { encoding: 'utf8' });
  if (t.status !== 0) throw new Error(`tar xzf ${tarball}: ${t.stderr}`);
  const plugins = path.join(unpack, `trino-server-${TRINO_VERSION}`, 'plugin');
  for (const p of readdirSync(plugins)) if (p !== 'hive') rmSync(path.join(plugins, p), { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
  spawnSync('mv', [path.join(unpack, `trino-server-${TRINO_VERSION}`), home]);
  rmSync(unpack, { recursive: true, force: true });
  rmSync(tarball, { force: true });
  return home;
}

export interface Trino {
  readonly url: string;
  /** Root of the file metastore: `<dir>/<schema>/<table>/.trinoSchema`. */
  readonly metastoreDir: string;
  query(sql: string): Promise<{ columns: { name: string; type: string }[]; rows: unknown[][] }>;
  stop(): Promise<void>;
}

export interface TrinoOptions {
  readonly s3Endpoint: string;
  readonly region: string;
  readonly workDir: string;
  /** Default 600 s ($FLEETPROF_TRINO_START_MS): on the shared 2-core machine under load the JVM took over 180 s. */
  readonly startTimeoutMs?: number;
}

/** Starts a single-node Trino with catalog `hive` (file metastore under workDir, S3 = moto). */
export async function startTrino(o: TrinoOptions): Promise<Trino> {
  const home = ensureTrino();
  const port = await freePort();
  const etc = path.join(o.workDir, 'etc');
  const metastoreDir = path.join(o.workDir, 'metastore');
  mkdirSync(path.join(etc, 'catalog'), { recursive: true });
  mkdirSync(metastoreDir, { recursive: true });
  const props = (o: Record<string, string | number | boolean>) =>
    Object.entries(o)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n';
  writeFileSync(path.join(etc, 'node.properties'), props({ 'node.environment': 'test', 'node.id': 'fleetprof-athena', 'node.data-dir': path.join(o.workDir, 'data') }));
  writeFileSync(path.join(etc, 'jvm.config'), ['-server', '-Xmx1G', '-XX:+UseG1GC', '-XX:+ExitOnOutOfMemoryError', '-Djdk.attach.allowAttachSelf=true', ''].join('\n'));
  writeFileSync(
    path.join(etc, 'config.properties'),
    props({
      coordinator: true,
      'node-scheduler.include-coordinator': true,
      'http-server.http.port': port,
      'discovery.uri': `http://127.0.0.1:${port}`,
      'query.max-memory': '512MB',
      'query.max-memory-per-node': '512MB',
    }),
  );
  writeFileSync(
    path.join(etc, 'catalog', 'hive.properties'),
    props({
      'connector.name': 'hive',
      'hive.metastore': 'file',
      'hive.metastore.catalog.dir': 'local:///',
      'fs.native-local.enabled': true,
      'local.location': metastoreDir,
      'fs.native-s3.enabled': true,
      's3.endpoint': o.s3Endpoint,
      's3.region': o.region,
      's3.path-style-access': true,
      's3.aws-access-key': 'testing',
      's3.aws-secret-key': 'testing',
      // Athena's partition projection (table parameters projection.*).
      'hive.partition-projection-enabled': true,
      // Athena reads Parquet timestamps at millisecond precision (Trino's default, said out loud).
      'hive.timestamp-precision': 'MILLISECONDS',
    }),
  );
  const env = { ...process.env, JAVA_HOME: javaHome(), PATH: `${path.join(javaHome(), 'bin')}:${process.env.PATH ?? ''}` };
  const child: ChildProcess = spawn(path.join(home, 'bin', 'launcher'), ['run', `--etc-dir=${etc}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  const timeout = o.startTimeoutMs ?? (Number(process.env.FLEETPROF_TRINO_START_MS) || 600_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`trino exited (${child.exitCode}): ${log.slice(-4000)}`);
    try {
      const info = (await (await fetch(`${url}/v1/info`)).json()) as { starting?: boolean };
      if (info.starting === false) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() - t0 > timeout) {
      child.kill('SIGTERM');
      throw new Error(`trino did not start within ${timeout} ms: ${log.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }

  const query = async (sql: string) => {
    const headers = { 'X-Trino-User': 'fleetprof', 'X-Trino-Catalog': 'hive', 'X-Trino-Schema': 'fleetprof', 'X-Trino-Time-Zone': 'UTC' };
    let r = (await (await fetch(`${url}/v1/statement`, { method: 'POST', body: sql, headers })).json()) as TrinoPage;
    const rows: unknown[][] = [];
    let columns: { name: string; type: string }[] = [];
    for (;;) {
      if (r.error) throw new TrinoError(sql, r.error.message);
      if (r.columns) columns = r.columns;
      if (r.data) rows.push(...r.data);
      if (!r.nextUri) break;
      r = (await (await fetch(r.nextUri, { headers })).json()) as TrinoPage;
    }
    return { columns, rows };
  };

  return {
    url,
    metastoreDir,
    query,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface TrinoPage {
  columns?: { name: string; type: string }[];
  data?: unknown[][];
  nextUri?: string;
  error?: { message: string };
}

export class TrinoError extends Error {
  constructor(
    readonly sql: string,
    readonly reason: string,
  ) {
    super(`${reason}\n  in: ${sql}`);
    this.name = 'TrinoError';
  }
}
