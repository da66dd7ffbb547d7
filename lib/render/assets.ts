import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

// The browser bundle (web/, built by scripts/build-ui.mjs into dist/web): the web UI `fleetprof
// serve` serves at `/`, and the flame graph script `fleetprof flamegraph` inlines into its one
// self-contained page. Looked up beside the code that runs: dist/lib/render -> dist/web (the
// package), lib/render -> dist/web (tests from source), the Lambda bundle's own directory -> web/
// (lib/infra/functions.ts copies it there).

export const WEB_FILES = ['index.html', 'app.js', 'app.css', 'flame.js'] as const;
export type WebFile = (typeof WEB_FILES)[number];

let dir: string | undefined;
const cache = new Map<WebFile, Buffer>();

export function webDir(): string {
  if (dir !== undefined) return dir;
  const candidates = [path.join(__dirname, '../../web'), path.join(__dirname, '../../dist/web'), path.join(__dirname, 'web')];
  const found = () => candidates.find((c) => existsSync(path.join(c, 'flame.js')));
  let d = found();
  // Running from source in a checkout (jest after a bare tsc): build the bundle once, esbuild is there.
  const script = path.join(__dirname, '../../scripts/build-ui.mjs');
  if (d === undefined && existsSync(script)) {
    execFileSync(process.execPath, [script], { stdio: 'inherit' });
    d = found();
  }
  if (d !== undefined) return (dir = d);
  throw new Error(`the web UI bundle is missing (looked in ${candidates.join(', ')}): run npm run build`);
}

/** A file of the bundle (read once, then kept: a few hundred KB). */
export function webFile(name: WebFile): Buffer {
  let b = cache.get(name);
  if (!b) {
    b = readFileSync(path.join(webDir(), name));
    cache.set(name, b);
  }
  return b;
}
