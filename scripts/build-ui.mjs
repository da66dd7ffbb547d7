// Builds the browser bundle into dist/web (npm run build runs it after tsc): the web UI that
// `fleetprof serve` serves at / (web/app.ts + web/app.css + web/index.html) and the flame graph
// script `fleetprof flamegraph` inlines into its self-contained page (web/standalone.ts). Every
// dependency (uPlot) is bundled: the pages load nothing from anywhere else.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/web');
mkdirSync(out, { recursive: true });
const common = { bundle: true, minify: true, format: 'iife', target: ['chrome110', 'firefox110', 'safari16'], legalComments: 'eof', logLevel: 'warning' };
// The flame page's script first: it needs nothing from node_modules but esbuild.
await build({ ...common, entryPoints: [join(root, 'web/standalone.ts')], outfile: join(out, 'flame.js') });
if (!existsSync(join(root, 'node_modules/uplot/package.json'))) {
  console.error('build-ui: uplot is not installed (it is in package-lock.json): run npm ci');
  process.exit(1);
}
await build({ ...common, entryPoints: [join(root, 'web/app.ts')], outfile: join(out, 'app.js') });
// uPlot's stylesheet first, ours after it.
const css = readFileSync(join(root, 'node_modules/uplot/dist/uPlot.min.css'), 'utf8') + '\n' + readFileSync(join(root, 'web/app.css'), 'utf8');
writeFileSync(join(out, 'app.css'), css);
copyFileSync(join(root, 'web/index.html'), join(out, 'index.html'));
