import { Presets, SingleBar } from 'cli-progress';

// The progress bar of ingest and upload: only on a TTY; messages printed while it runs go above
// it; its value is the number of finished inputs, so it cannot pass the total.

export interface Progress {
  /** `done` inputs finished; `file` the one being worked on. */
  update(done: number, file?: string): void;
  /** A line on stderr, above the bar. */
  note(line: string): void;
  stop(): void;
}

export function progress(label: string, total: number): Progress {
  if (!process.stderr.isTTY) {
    return { update() {}, note: (line) => void process.stderr.write(line + '\n'), stop() {} };
  }
  const bar = new SingleBar({ format: `${label} [{bar}] {value}/{total} {file}`, hideCursor: true, stream: process.stderr }, Presets.shades_classic);
  let value = 0;
  let file = '';
  bar.start(total, 0, { file });
  return {
    update(done, f) {
      value = Math.min(done, total);
      if (f !== undefined) file = f;
      bar.update(value, { file });
    },
    note(line) {
      bar.stop();
      process.stderr.write(line + '\n');
      bar.start(total, value, { file });
    },
    stop: () => bar.stop(),
  };
}
