// `fleetprof serve`: the query API over node:http on loopback, from a local data directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
const RUN = path.join(__dirname, 'fixtures/go/svc-a-v1-i1');
let data: string;
let child: ChildProcess;
let base: string;

beforeAll(async () => {
  data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-serve-'));
  const r = spawnSync(process.execPath, [CLI, 'ingest', '--data', data, '--service', 'svc-a', '--instance', 'i1', '--version', 'v1', path.join(RUN, 'cpu.pb.gz')], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  child = spawn(process.execPath, [CLI, 'serve', '--data', data, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  base = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await done;
  }
  rmSync(data, { recursive: true, force: true });
});

test('GET /top answers what fleetprof top --json prints', async () => {
  const res = await fetch(`${base}/top?type=cpu&service=svc-a&limit=5`);
  expect(res.status).toBe(200);
  const cli = spawnSync(process.execPath, [CLI, 'top', '--data', data, '--type', 'cpu', '--service', 'svc-a', '--limit', '5', '--json'], { encoding: 'utf8' });
  expect(await res.json()).toEqual(JSON.parse(cli.stdout));
});

test('POST /sql, GET /export and errors', async () => {
  const sql = await fetch(`${base}/sql`, { method: 'POST', body: JSON.stringify({ sql: 'SELECT count(*) AS n FROM profiles' }) });
  expect(await sql.json()).toEqual({ columns: ['n'], rows: [[1]] });
  const exp = await fetch(`${base}/export?type=cpu`);
  expect(exp.status).toBe(200);
  expect(Buffer.from(await exp.arrayBuffer()).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  const bad = await fetch(`${base}/sql`, { method: 'POST', body: JSON.stringify({ sql: "SELECT * FROM read_text('/etc/passwd')" }) });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toMatch(/read_text/);
  expect((await fetch(`${base}/export?type=heap`)).status).toBe(404);
});

test('GET /diff answers what fleetprof diff --json prints', async () => {
  const args = ['--type', 'cpu', '--base-version', 'v1', '--version', 'v1'];
  const res = await fetch(`${base}/diff?type=cpu&baseVersion=v1&version=v1`);
  expect(res.status).toBe(200);
  expect((await fetch(`${base}/diff?type=cpu&bogus=1`)).status).toBe(400);
  // spawnSync blocks this process longer than the server keeps an idle connection: fetch first.
  const cli = spawnSync(process.execPath, [CLI, 'diff', '--data', data, ...args, '--json'], { encoding: 'utf8' });
  expect(cli.status).toBe(0);
  expect(await res.json()).toEqual(JSON.parse(cli.stdout));
});

test("the API takes the CLI's flag names (kebab-case); the camelCase of 0.1 still works", async () => {
  const kebab = await fetch(`${base}/diff?type=cpu&sample-type=samples&base-version=v1&version=v1&alpha=0.05&min-effect=0.01`);
  expect(kebab.status).toBe(200);
  const kebabJson = await kebab.json();
  const camel = await fetch(`${base}/diff?type=cpu&sampleType=samples&baseVersion=v1&version=v1&alpha=0.05&minEffect=0.01`);
  expect(await camel.json()).toEqual(kebabJson);
  const twice = await fetch(`${base}/top?type=cpu&sample-type=cpu&sampleType=cpu`);
  expect(twice.status).toBe(400);
  expect(((await twice.json()) as { error: string }).error).toMatch(/given twice/);
  const badType = (await (await fetch(`${base}/top?type=cpu&limit=x`)).json()) as { error: string };
  expect(badType.error).toMatch(/^limit: /);
  const none = await fetch(`${base}/nothing`);
  expect(none.status).toBe(404);
  expect(((await none.json()) as { error: string }).error).toMatch(/GET \/top, GET \/gc, GET \/export, GET \/diff, GET \/flamegraph, POST \/sql, GET \/services, GET \/labels, GET \/timeline, GET \/digests; the web UI is at \/\)$/);
  expect((await fetch(`${base}/top`, { method: 'POST' })).status).toBe(405);
  // The same flags on the command line give the same answer (spawnSync last: it blocks the client).
  const args = ['--type', 'cpu', '--sample-type', 'samples', '--base-version', 'v1', '--version', 'v1', '--alpha', '0.05', '--min-effect', '0.01'];
  const cli = spawnSync(process.execPath, [CLI, 'diff', '--data', data, ...args, '--json'], { encoding: 'utf8' });
  expect(cli.status).toBe(0);
  expect(kebabJson).toEqual(JSON.parse(cli.stdout));
});

test('GET /flamegraph is a self-contained page whose root equals the top total', async () => {
  const res = await fetch(`${base}/flamegraph?type=cpu&service=svc-a`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/html/);
  const html = await res.text();
  const { flameDataFromHtml } = await import('../lib/render/flamegraph');
  const top = (await (await fetch(`${base}/top?type=cpu&service=svc-a`)).json()) as { total: number };
  expect(flameDataFromHtml(html).total).toBe(top.total);
  expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
});

test('GET / is the web UI (strict CSP); text bodies are gzipped for clients that accept it', async () => {
  const page = await fetch(`${base}/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
  expect(await page.text()).toMatch(/<script src="\/ui\/app.js"><\/script>/);
  // fetch sends Accept-Encoding: gzip and decodes the body itself.
  const js = await fetch(`${base}/ui/app.js`);
  expect([js.status, js.headers.get('content-encoding'), js.headers.get('content-type')]).toEqual([200, 'gzip', 'text/javascript; charset=utf-8']);
  expect((await js.text()).length).toBeGreaterThan(20_000);
  const small = await fetch(`${base}/top?type=cpu&limit=1`);
  expect(small.headers.get('content-encoding')).toBeNull();
});
