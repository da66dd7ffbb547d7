// The CLI conventions (docs/cli.md "Conventions" and "Exit codes"): the program version, one
// --type flag, `-` for stdin/stdout, environment defaults, NO_COLOR, empty answers exit 3, twins.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decodeProfile } from '../lib/decode';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const RUN = path.join(__dirname, 'fixtures/go/svc-a-v1-i1');
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  out: Buffer;
}

function cli(args: string[], opts: { env?: Record<string, string | undefined>; input?: Buffer } = {}): Run {
  const env: Record<string, string | undefined> = { ...process.env, FLEETPROF_DATA: undefined, FLEETPROF_BUCKET: undefined, ...opts.env };
  const r = spawnSync(process.execPath, [CLI, ...args], { env: env as NodeJS.ProcessEnv, input: opts.input, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), out: r.stdout };
}

let tmp: string;
let data: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-conv-'));
  data = path.join(tmp, 'data');
  const r = cli(['ingest', '--data', data, '--service', 'svc-a', '--instance', 'i1', '--version', 'v1', path.join(RUN, 'cpu.pb.gz'), path.join(RUN, 'heap.pb.gz')]);
  expect(r.code).toBe(0);
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('--version', () => {
  test('fleetprof --version and -V print the program version', () => {
    for (const flag of ['--version', '-V']) {
      const r = cli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(PKG.version);
    }
  });

  test('after a command, --version is still the service version filter', () => {
    const none = cli(['top', '--data', data, '--type', 'cpu', '--version', 'v9', '--json']);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no cpu samples in .* match --version v9/);
    const v1 = cli(['top', '--data', data, '--type', 'cpu', '--version', 'v1', '--json']);
    expect(v1.code).toBe(0);
    expect(JSON.parse(v1.stdout).total).toBeGreaterThan(0);
  });
});

describe('exit codes: empty answers are not successes', () => {
  test('a data directory that does not exist: exit 3, said on stderr', () => {
    const missing = path.join(tmp, 'nope');
    for (const args of [
      ['top', '--type', 'cpu'],
      ['gc'],
      ['sql', 'SELECT 1'],
      ['export', '--type', 'cpu', '--out', path.join(tmp, 'x.pb.gz')],
      ['diff', '--type', 'cpu'],
      ['digest'],
      ['serve', '--port', '0'],
    ]) {
      const r = cli([...args, '--data', missing]);
      expect({ args, code: r.code }).toEqual({ args, code: 3 });
      expect(r.stderr).toMatch(/data directory .*nope does not exist/);
    }
  });

  test('--service or --sample-type that matches nothing: exit 3; the JSON is still printed', () => {
    const svc = cli(['top', '--data', data, '--type', 'cpu', '--service', 'nobody', '--json']);
    expect(svc.code).toBe(3);
    expect(JSON.parse(svc.stdout)).toMatchObject({ total: 0, functions: [] });
    expect(svc.stderr).toMatch(/no cpu samples in .* match --service nobody/);
    const st = cli(['top', '--data', data, '--type', 'heap', '--sample-type', 'no_such_type']);
    expect(st.code).toBe(3);
    expect(st.stderr).toMatch(/match --sample-type no_such_type/);
    const ex = cli(['export', '--data', data, '--type', 'mutex', '--out', path.join(tmp, 'm.pb.gz')]);
    expect(ex.code).toBe(3);
    expect(ex.stderr).toMatch(/no mutex samples/);
    const gc = cli(['gc', '--data', data]);
    expect(gc.code).toBe(3);
    expect(gc.stderr).toMatch(/no GC cycles in/);
  });

  test('diff over a window without data: exit 3 naming the empty side', () => {
    const r = cli(['diff', '--data', data, '--type', 'cpu', '--base-from', '2020-01-01T00:00:00Z', '--base-to', '2020-01-02T00:00:00Z']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no baseline cpu profiles in .* match --base-from 2020-01-01T00:00:00.000Z --base-to 2020-01-02/);
  });

  test('digest over a window without data: exit 3', () => {
    const r = cli(['digest', '--data', data, '--to', '2020-01-01T00:00:00Z']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no profiles, GC cycles or runtime\/metrics in .* match --from 2019-12-31T23:00:00.000Z --to 2020-01-01T00:00:00.000Z/);
  });

  test('a bad flag is exit 1; a good query exit 0', () => {
    expect(cli(['top', '--data', data, '--type', 'nonsense']).code).toBe(1);
    expect(cli(['top', '--data', data, '--type', 'cpu']).code).toBe(0);
  });
});

describe('- is stdin and stdout', () => {
  test('export --out - writes the profile to stdout, the same profile as a file', () => {
    const file = path.join(tmp, 'cpu.pb.gz');
    expect(cli(['export', '--data', data, '--type', 'cpu', '--out', file]).code).toBe(0);
    const r = cli(['export', '--data', data, '--type', 'cpu', '--out', '-']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/wrote stdout/);
    // (Two exports need not be byte-identical: compare what they hold.)
    const summary = (bytes: Buffer) => {
      const p = decodeProfile(bytes);
      const totals = p.sampleTypes.map((_, t) => {
        let sum = 0;
        for (let i = 0; i < p.samples.count; i++) sum += Number(p.samples.values.data[i * p.sampleTypes.length + t]);
        return sum;
      });
      return { types: p.sampleTypes.map((t) => t.type), samples: p.samples.count, totals };
    };
    expect(gunzipSync(r.out).length).toBeGreaterThan(0);
    expect(summary(r.out)).toEqual(summary(readFileSync(file)));
    expect(summary(r.out).types).toEqual(['samples', 'cpu']);
  });

  test('ingest - reads one input from stdin, with --type', () => {
    const d = path.join(tmp, 'stdin-data');
    const r = cli(['ingest', '--data', d, '--service', 's', '--instance', 'i', '--type', 'mutex', '-'], { input: readFileSync(path.join(RUN, 'mutex.pb.gz')) });
    expect(r.stderr).toMatch(/ingested 1 of 1 inputs \(0 failed/);
    expect(r.code).toBe(0);
    const top = JSON.parse(cli(['top', '--data', d, '--type', 'mutex', '--json']).stdout);
    expect(top.total).toBeGreaterThan(0);
  });
});

describe('one flag name for the profile kind', () => {
  test('ingest --kind is a deprecated alias of --type (hidden from help)', () => {
    const d = path.join(tmp, 'kind-data');
    const r = cli(['ingest', '--data', d, '--service', 's', '--instance', 'i', '--kind', 'block', path.join(RUN, 'block.pb.gz')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/--kind is deprecated, use --type/);
    expect(JSON.parse(cli(['top', '--data', d, '--type', 'block', '--json']).stdout).total).toBeGreaterThan(0);
    const help = cli(['ingest', '--help']).stdout;
    expect(help).toMatch(/--type <kind>/);
    expect(help).not.toMatch(/--kind/);
    expect(cli(['ingest', '--data', d, '--service', 's', '--instance', 'i', '--kind', 'block', '--type', 'mutex', path.join(RUN, 'block.pb.gz')]).code).toBe(1);
  });
});

describe('environment defaults', () => {
  test('FLEETPROF_DATA is the default --data; a flag wins over it', () => {
    const r = cli(['top', '--type', 'cpu', '--json'], { env: { FLEETPROF_DATA: data } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).total).toBeGreaterThan(0);
    const flag = cli(['top', '--type', 'cpu', '--data', path.join(tmp, 'nope')], { env: { FLEETPROF_DATA: data } });
    expect(flag.code).toBe(3);
    expect(cli(['top', '--type', 'cpu']).stderr).toMatch(/required option '--data <dir>' not specified/);
  });

  test('FLEETPROF_BUCKET is the default --bucket of upload', () => {
    // No S3 endpoint is reachable: the upload fails, but with the bucket from the environment.
    const r = cli(['upload', '--service', 's', '--instance', 'i', '--max-attempts', '1', path.join(RUN, 'cpu.pb.gz')], {
      env: { FLEETPROF_BUCKET: 'from-env', AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/to s3:\/\/from-env\/raw\/s\/i\//);
  });
});

test('NO_COLOR: no escape sequences in help, errors or tables', () => {
  for (const args of [['--help'], ['top', '--help'], ['top', '--data', data, '--type', 'cpu'], ['top', '--type', 'x']]) {
    const r = cli(args, { env: { NO_COLOR: '1', FORCE_COLOR: undefined } });
    expect(r.stdout + r.stderr).not.toContain('\x1b[');
  }
});

describe('twins: heap.pb.gz and heap.debug1.txt of one capture count once', () => {
  test('ingest of a directory holding both skips the text twin and says so', () => {
    const dir = path.join(tmp, 'twins');
    mkdirSync(dir);
    for (const f of ['heap.pb.gz', 'heap.debug1.txt', 'cpu.pb.gz']) copyFileSync(path.join(RUN, f), path.join(dir, f));
    const d = path.join(tmp, 'twin-data');
    const r = cli(['ingest', '--data', d, '--service', 's', '--instance', 'i', dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/heap\.debug1\.txt: skipped, the text twin of heap\.pb\.gz/);
    expect(r.stderr).toMatch(/ingested 2 of 2 inputs \(0 failed, \d+ rows, 1 text twin\(s\) skipped\)/);
    const once = JSON.parse(cli(['top', '--data', d, '--type', 'heap', '--json']).stdout).total;
    const alone = path.join(tmp, 'alone-data');
    expect(cli(['ingest', '--data', alone, '--service', 's', '--instance', 'i', path.join(RUN, 'heap.pb.gz')]).code).toBe(0);
    expect(once).toBe(JSON.parse(cli(['top', '--data', alone, '--type', 'heap', '--json']).stdout).total);
    // --keep-twins ingests both (the old behaviour).
    const both = path.join(tmp, 'both-data');
    expect(cli(['ingest', '--data', both, '--service', 's', '--instance', 'i', '--keep-twins', '--start', '2026-11-21T20:54:20Z', dir]).stderr).toMatch(/ingested 3 of 3 inputs/);
  });
});
