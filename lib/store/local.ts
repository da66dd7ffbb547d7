import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Store, StoredObject } from './store';

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

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (e.name !== '.tmp') await walk(full);
        } else if (e.isFile()) {
          const key = path.relative(this.root, full).split(path.sep).join('/');
          if (!key.startsWith(prefix)) continue;
          const st = await fs.stat(full);
          out.push({ key, size: st.size, etag: `${st.size}-${st.mtimeMs}` });
        }
      }
    };
    await walk(path.join(this.root, prefix.split('/').slice(0, -1).join('/')));
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

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  pathOf(key: string): string {
    const p = path.resolve(this.root, key);
    if (!p.startsWith(this.root + path.sep)) throw new Error(`key escapes the store: ${key}`);
    return p;
  }
}
