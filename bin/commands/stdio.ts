import { promises as fs } from 'node:fs';

// `-` is stdin for inputs and stdout for outputs (docs/cli.md "Conventions").

export const STDIO = '-';

/** Writes to a file, or to stdout for `-` (resolving once the bytes are flushed). */
export async function writeOutput(file: string, data: string | Uint8Array): Promise<void> {
  if (file !== STDIO) return fs.writeFile(file, data);
  await new Promise<void>((resolve, reject) => process.stdout.write(data, (e) => (e ? reject(e) : resolve())));
}

/** All of stdin. */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
