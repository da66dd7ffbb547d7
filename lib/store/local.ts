import { createHash, randomUUID } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Store, StoredObject, Versioned } from './store';

/** A lock older than this was left by a crashed writer (a swap takes milliseconds). */
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 20_000;

/** A directory as a store: keys are relative paths; rename() makes publication atomic. */
export class LocalStore implements Store {
  readonly scratchDir: string;
  constructor(readonly root: string) {
    this.root = path.resolve(root);
    this.scratchDir = path.join(this.root, '.tmp');
  }

  async putFile(key: string, localPath: string): Promise<void> {
    const dest = this.pathOf(key);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.rename(localPath, dest);
  }

  async list(prefix: string, opts: { keysOnly?: boolean } = {}): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        const key = rel === '' ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) {
          if (e.name !== '.tmp') await walk(full, key);
        } else if (e.isFile()) {
          if (!key.startsWith(prefix)) continue;
          // keysOnly: a warm reader lists an hour's ~1,700 files per table every few seconds and
          // uses their keys only (a stat each was ~40% of that listing's CPU).
          if (opts.keysOnly) {
            out.push({ key, size: 0, etag: '' });
            continue;
          }
          // A file deleted between readdir and stat (a concurrent compactor's deferred delete) is
          // simply not listed, as an S3 listing taken a moment later would not list it.
          // Synchronous: a promise and a thread-pool round trip per file cost ~10x the CPU (0.3 of
          // a CPU-s for a fresh hour's ~3,300 files, docs/performance.md "The fresh hour").
          const st = statSync(full, { throwIfNoEntry: false });
          if (!st) continue;
          out.push({ key, size: st.size, etag: `${st.size}-${st.mtimeMs}` });
        }
      }
    };
    const start = prefix.split('/').slice(0, -1).join('/');
    await walk(path.join(this.root, start), start);
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async localPath(obj: StoredObject): Promise<string> {
    return this.pathOf(obj.key);
  }

  async read(key: string): Promise<Uint8Array | null> {
    try {
      return await fs.readFile(this.pathOf(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async readVersioned(key: string): Promise<Versioned | null> {
    const bytes = await this.read(key);
    return bytes ? { bytes, etag: contentTag(bytes) } : null;
  }

  async putIfMatch(key: string, bytes: Uint8Array, ifEtag: string | null): Promise<boolean> {
    const dest = this.pathOf(key);
    const locks = path.join(this.scratchDir, 'locks');
    await fs.mkdir(locks, { recursive: true });
    const lock = path.join(locks, createHash('sha256').update(key).digest('hex').slice(0, 32));
    await acquire(lock);
    try {
      const cur = await this.readVersioned(key);
      if ((cur?.etag ?? null) !== ifEtag) return false;
      await fs.mkdir(path.dirname(dest), { recursive: true });
      const tmp = path.join(this.scratchDir, `${randomUUID()}.cas`);
      await fs.writeFile(tmp, bytes);
      await fs.rename(tmp, dest);
      return true;
    } finally {
      await fs.rm(lock, { force: true });
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  uri(key: string): string {
    return pathToFileURL(this.pathOf(key)).href;
  }

  pathOf(key: string): string {
    const p = path.resolve(this.root, key);
    if (!p.startsWith(this.root + path.sep)) throw new Error(`key escapes the store: ${key}`);
    return p;
  }
}

function contentTag(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

/** An exclusive-create lock file; one left by a crashed writer is broken once stale. */
async function acquire(lock: string): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      await (await fs.open(lock, 'wx')).close();
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const st = await fs.stat(lock).catch(() => null);
    if (st && Date.now() - st.mtimeMs > STALE_LOCK_MS) await fs.rm(lock, { force: true });
    else if (Date.now() - t0 > LOCK_WAIT_MS) throw new Error(`lock ${lock} held for over ${LOCK_WAIT_MS} ms`);
    else await new Promise((r) => setTimeout(r, 5));
  }
}
