// Preloaded (--require) into a child process by bench/hostile.ts and bench/ingest.ts: as the
// process exits, its peak RSS (VmHWM from /proc/self/status, in kB; it includes DuckDB's native
// memory) goes to the file named by FLEETPROF_HWM_FILE, and its CPU time (user + system of all
// its threads, microseconds) to FLEETPROF_CPU_FILE.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.FLEETPROF_HWM_FILE;
const cpu = process.env.FLEETPROF_CPU_FILE;
if (out || cpu) {
  process.on('exit', () => {
    if (out) {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
      writeFileSync(out, m ? m[1] : 'NaN');
    }
    if (cpu) {
      const u = process.cpuUsage();
      writeFileSync(cpu, String(u.user + u.system));
    }
  });
}
