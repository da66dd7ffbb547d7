// Throughput of the streaming gctrace parser on a synthetic 10M-line service log: gc lines of all
// three formats, every prefix style we support (timestamp, syslog, CRI, Docker JSON), app output
// with non-ASCII text, scvg/scav/pacer lines, panics followed by restarts. The log is generated a
// batch at a time and fed as 64 KiB byte chunks (like a file or S3 stream, so lines and UTF-8
// sequences are split), never held whole. Only time inside push()/end() is counted.
//
//   npm run build && node dist/bench/gctrace.js [lines]

import { createGctraceParser } from '../lib/decode/formats/gctrace';
import { mulberry32 as rng } from '../lib/stats/random';

export interface GctraceBenchResult {
  mbPerSec: number;
  lines: number;
  peakRssMb: number;
  bytes: number;
  parseSeconds: number;
  cycles: number;
  segments: number;
  malformed: number;
}

const CHUNK_BYTES = 64 * 1024;
const BATCH_LINES = 2_000;

type Prefix = 'none' | 'timestamp' | 'syslog' | 'cri' | 'docker';
const PREFIXES: Prefix[] = ['none', 'timestamp', 'syslog', 'cri', 'docker'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Runtime fmtNSAsMS: integer ms from 10 ms, else two significant digits. */
function fmtMs(ns: number): string {
  if (ns >= 10e6) return String(Math.floor(ns / 1e6));
  const us = Math.floor(ns / 1000);
  if (us === 0) return '0';
  if (us >= 1000) return (us / 1000).toFixed(1);
  if (us >= 100) return (us / 1000).toFixed(2);
  return (us / 1000).toFixed(3);
}

export class LogGenerator {
  private readonly rand = rng(42);
  private nowUs = Date.UTC(2024, 0, 1) * 1000;
  private processStartUs = this.nowUs;
  private gc = 0;
  private format: 0 | 1 | 2 = 2;
  private prefix: Prefix = 'none';
  private heapMb = 4;
  private produced = 0;
  private pending: string[] = [];

  constructor(private readonly total: number) {}

  /** Next batch as text, or null when all lines were produced; also returns the line count. */
  batch(): { text: string; lines: number } | null {
    if (this.produced >= this.total) return null;
    const n = Math.min(BATCH_LINES, this.total - this.produced);
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      if ((this.produced + i) % 100_000 === 0) this.prefix = PREFIXES[((this.produced + i) / 100_000) % PREFIXES.length];
      if (this.pending.length === 0) this.pending = this.next();
      out.push(this.wrap(this.pending.shift()!));
    }
    this.produced += n;
    return { text: out.join('\n') + '\n', lines: n };
  }

  private next(): string[] {
    this.nowUs += Math.floor(this.rand() * 50_000);
    const r = this.rand();
    if (r < 0.06) return [this.gcLine()];
    if (r < 0.065) return [this.scavengerLine()];
    if (r < 0.07) return [this.pacerLine()];
    if (r < 0.99995) return [this.appLine()];
    return this.panicAndRestart();
  }

  private gcLine(): string {
    this.gc++;
    const at = ((this.nowUs - this.processStartUs) / 1e6).toFixed(3);
    const ms = () => fmtMs(Math.floor(this.rand() * (this.rand() < 0.2 ? 40e6 : 2e6)));
    const h0 = this.heapMb;
    const h1 = h0 + Math.floor(this.rand() * 8);
    const h2 = Math.floor(h1 * 0.6);
    this.heapMb = Math.min(4000, Math.max(4, Math.floor(h2 * (1.4 + this.rand() * 0.4))));
    const pct = Math.floor(this.rand() * 30);
    const forced = this.rand() < 0.02 ? ' (forced)' : '';
    const heap = `${h0}->${h1}->${h2} MB, ${h0 * 2} MB goal, `;
    const head = `gc ${this.gc} @${at}s ${pct}%: `;
    if (this.format === 0) {
      return `${head}${ms()}+${ms()}+0+${ms()}+${ms()} ms clock, ${ms()}+${ms()}+0+${ms()}/${ms()}/${ms()}+${ms()} ms cpu, ${heap}8 P${forced}`;
    }
    const phases = `${ms()}+${ms()}+${ms()} ms clock, ${ms()}+${ms()}/${ms()}/${ms()}+${ms()} ms cpu, `;
    const extra = this.format === 2 ? `${Math.floor(this.rand() * 3)} MB stacks, 0 MB globals, ` : '';
    return `${head}${phases}${heap}${extra}8 P${forced}`;
  }

  private scavengerLine(): string {
    const r = this.rand();
    if (r < 0.3) return `scvg${this.gc % 7}: inuse: ${this.heapMb}, idle: 3, sys: ${this.heapMb + 5}, released: 2, consumed: ${this.heapMb + 3} (MB)`;
    if (r < 0.6) return `scav ${Math.floor(this.rand() * 4096)} KiB work (bg), 0 KiB work (eager), ${this.heapMb * 1024} KiB now, 97% util`;
    return `scvg: ${Math.floor(this.rand() * 4)} MB released`;
  }

  private pacerLine(): string {
    return this.rand() < 0.5
      ? `pacer: assist ratio=+2.781108e+001 (scan ${this.heapMb} MB in 379->389 MB) workers=2++0.000000e+000`
      : `pacer: sweep done at heap size ${this.heapMb}MB; allocated 0MB during sweep; swept 5312 pages at +1.054201e-004 pages/byte`;
  }

  private appLine(): string {
    const id = Math.floor(this.rand() * 1e6);
    const r = this.rand();
    if (r < 0.5) return `level=info msg="handled request" method=GET path=/api/v1/orders/${id} status=200 dur=${(this.rand() * 30).toFixed(2)}ms`;
    if (r < 0.8) return `level=debug msg="cache miss" key=session:${id} user="José Müller" region=eu-west-1 ∆=${id % 97}`;
    if (r < 0.95) return `level=warn msg="slow query" query="SELECT * FROM orders WHERE id = ${id}" took=${id % 1000}ms`;
    return `level=info msg="gc stats" note="the word gc in app text" backlog=${id % 13}`;
  }

  private panicAndRestart(): string[] {
    const lines = [
      'panic: runtime error: index out of range [5] with length 3',
      '',
      'goroutine 17 [running]:',
      'main.(*server).handle(0xc000120000, {0x7f1c2a, 0x5})',
      '\t/app/server.go:88 +0x1d4',
      'created by main.main in goroutine 1',
      '\t/app/main.go:41 +0x2b5',
      'exit status 2',
      'starting service version=1.42.0',
    ];
    this.gc = 0;
    this.heapMb = 4;
    this.nowUs += 2_000_000;
    this.processStartUs = this.nowUs;
    this.format = ((this.format + 1) % 3) as 0 | 1 | 2;
    return lines;
  }

  private wrap(line: string): string {
    const d = new Date(Math.floor(this.nowUs / 1000));
    const frac = String(this.nowUs % 1_000_000).padStart(6, '0');
    const iso = `${d.toISOString().slice(0, 19)}.${frac}`;
    switch (this.prefix) {
      case 'none':
        return line;
      case 'timestamp':
        return `${iso}Z ${line}`;
      case 'syslog':
        return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${iso.slice(11, 23)} app[1234]: ${line}`;
      case 'cri':
        return `${iso}000Z stderr F ${line}`;
      case 'docker':
        return `{"log":${JSON.stringify(line + '\n')},"stream":"stderr","time":"${iso}000Z"}`;
    }
  }
}

export async function benchGctrace(totalLines = 10_000_000): Promise<GctraceBenchResult> {
  const gen = new LogGenerator(totalLines);
  // Rows are streamed out per finished segment and only counted: memory stays bounded by the
  // longest process lifetime in the log, whatever the log's length.
  let cycles = 0;
  const parser = createGctraceParser({ startUs: Date.UTC(2024, 0, 1) * 1000, onSegment: (rows) => (cycles += rows.length) });
  let bytes = 0;
  let lines = 0;
  let parseNs = 0n;
  let peakRss = process.memoryUsage.rss();
  for (let b = gen.batch(); b !== null; b = gen.batch()) {
    const buf = Buffer.from(b.text, 'utf8');
    bytes += buf.length;
    lines += b.lines;
    const t0 = process.hrtime.bigint();
    for (let off = 0; off < buf.length; off += CHUNK_BYTES) parser.push(buf.subarray(off, off + CHUNK_BYTES));
    parseNs += process.hrtime.bigint() - t0;
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    // Let a caller's timers (progress output) run between batches, as a real stream would.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const t0 = process.hrtime.bigint();
  const result = parser.end();
  parseNs += process.hrtime.bigint() - t0;
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  if (result.linesRead !== lines || result.malformed !== 0) {
    throw new Error(`bench: parser saw ${result.linesRead} lines (${result.malformed} malformed), generated ${lines}`);
  }
  const parseSeconds = Number(parseNs) / 1e9;
  return {
    mbPerSec: Math.round(bytes / 1e6 / parseSeconds),
    lines,
    peakRssMb: Math.round(peakRss / 1048576),
    bytes,
    parseSeconds: Math.round(parseSeconds * 1000) / 1000,
    cycles,
    segments: result.segments,
    malformed: result.malformed,
  };
}

if (require.main === module) {
  const arg = process.argv[2];
  benchGctrace(arg ? Number(arg) : undefined).then(
    (r) => console.log(JSON.stringify(r)),
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
