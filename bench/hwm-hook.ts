// Preloaded (--require) into a child process by bench/hostile.ts: as the process exits, its peak
// RSS (VmHWM from /proc/self/status, in kB; it includes DuckDB's native memory) goes to the file
// named by FLEETPROF_HWM_FILE.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.FLEETPROF_HWM_FILE;
if (out) {
  process.on('exit', () => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    writeFileSync(out, m ? m[1] : 'NaN');
  });
}
