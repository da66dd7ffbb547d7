import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root (the directory of package-lock.json), from source (lib/infra) or from dist/lib/infra. */
export function repoRoot(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package-lock.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`fleetprof: no package-lock.json above ${from}`);
    dir = up;
  }
}
