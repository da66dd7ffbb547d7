import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Store, StoredObject, Versioned } from '../store/store';

// A bucket prefix as a store. PutObject is atomic (readers see the whole object or none). DuckDB
// reads local files only (no httpfs on Lambda), so localPath downloads into a cache that keeps the
// Hive path (dt=/service= come from it) and is keyed by ETag: a warm Lambda downloads each object
// version once.

export interface S3StoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix of the tables inside the bucket (default `tables/`). */
  prefix?: string;
  /** Download cache (default /tmp/fleetprof-cache). */
  cacheDir?: string;
  /** Staging directory for files before upload (default <tmpdir>/fleetprof-scratch). */
  scratchDir?: string;
}

export class S3Store implements Store {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly cacheDir: string;
  readonly scratchDir: string;

  constructor(o: S3StoreOptions) {
    this.client = o.client;
    this.bucket = o.bucket;
    this.prefix = o.prefix ?? 'tables/';
    if (this.prefix !== '' && !this.prefix.endsWith('/')) this.prefix += '/';
    this.cacheDir = path.resolve(o.cacheDir ?? path.join(os.tmpdir(), 'fleetprof-cache'));
    this.scratchDir = path.resolve(o.scratchDir ?? path.join(os.tmpdir(), 'fleetprof-scratch'));
  }

  async putFile(key: string, localPath: string): Promise<void> {
    // Read whole on purpose: a Buffer body is replayable, so the SDK's retries (503 SlowDown at a
    // fleet's request rate) resend it; a stream body is consumed by the first attempt and a retry
    // hangs or fails (aws/aws-sdk-js-v3#5479, #6770). Staged files are one batch or one <= 4M-row
    // unit (tens of MB), well inside every Lambda's memory; a multi-GB file would need multipart.
    const body = await fs.readFile(localPath);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key), Body: body }));
    // Like LocalStore's rename: the staged file is consumed.
    await fs.rm(localPath, { force: true });
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.fullKey(prefix), ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) {
        if (!o.Key) continue;
        out.push({ key: o.Key.slice(this.prefix.length), size: o.Size ?? 0, etag: stripEtag(o.ETag ?? '') });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /** Path of the cached copy: <cache>/<bucket>/<key dir>/<name>.<etag hash><ext>, Hive dirs kept. */
  cachePathOf(obj: StoredObject): string {
    const rel = this.safeKey(obj.key);
    const dir = path.posix.dirname(rel);
    const base = path.posix.basename(rel);
    const ext = path.posix.extname(base);
    const tag = createHash('sha256').update(obj.etag).digest('hex').slice(0, 16);
    return path.join(this.cacheDir, this.bucket, dir, `${base.slice(0, base.length - ext.length)}.${tag}${ext}`);
  }

  plannedPath(obj: StoredObject): string {
    return this.cachePathOf(obj);
  }

  async localPath(obj: StoredObject): Promise<string> {
    const dest = this.cachePathOf(obj);
    try {
      // A hit is a use: its time orders trimCache's evictions (least recently used first).
      const now = new Date();
      await fs.utimes(dest, now, now);
      return dest; // same ETag, same bytes
    } catch {
      /* not cached */
    }
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(obj.key), IfMatch: quoteEtag(obj.etag) }));
    const bytes = await r.Body!.transformToByteArray();
    await fs.mkdir(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.${randomUUID()}.part`;
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, dest);
    await this.dropStaleVersions(dest);
    return dest;
  }

  /**
   * Bounds the download cache: this bucket's cached copies, least recently used first (a copy's
   * mtime is its download or its last hit), are deleted until at most `maxBytes` are left; partial
   * downloads (`.part`) go too. A delete clears only the deleting process's copies: a compaction
   * worker keeps the copies of inputs the planner (or a finalizer elsewhere) retires and deletes
   * later, and a warm worker's /tmp would fill with them. Call it where nothing of this process is
   * reading the cache: the compaction and merge Lambdas at the start of an invocation
   * (tables-store.ts trimTablesCache), whose invocations run one at a time per environment.
   */
  async trimCache(maxBytes: number): Promise<{ files: number; bytes: number; left: number }> {
    const files: { p: string; size: number; mtimeMs: number }[] = [];
    const out = { files: 0, bytes: 0, left: 0 };
    const walk = async (dir: string): Promise<void> => {
      for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) {
          const st = await fs.stat(p).catch(() => null);
          if (!st) continue;
          if (e.name.endsWith('.part')) {
            await fs.rm(p, { force: true });
            out.files++;
            out.bytes += st.size;
          } else files.push({ p, size: st.size, mtimeMs: st.mtimeMs });
        }
      }
    };
    await walk(path.join(this.cacheDir, this.bucket));
    let total = files.reduce((a, f) => a + f.size, 0);
    for (const f of files.sort((a, b) => a.mtimeMs - b.mtimeMs)) {
      if (total <= maxBytes) break;
      await fs.rm(f.p, { force: true });
      total -= f.size;
      out.files++;
      out.bytes += f.size;
    }
    out.left = total;
    return out;
  }

  async forget(obj: StoredObject): Promise<void> {
    await fs.rm(this.cachePathOf(obj), { force: true });
  }

  async read(key: string): Promise<Uint8Array | null> {
    // List first: a role allowed to list only under tables/ (s3:prefix condition) gets 403, not
    // 404, for a GetObject of a missing key, since S3 checks ListBucket without the prefix.
    const full = this.fullKey(key);
    const listed = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: full, MaxKeys: 1 }));
    if (!listed.Contents?.some((o) => o.Key === full)) return null;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
      return await r.Body!.transformToByteArray();
    } catch (e) {
      if (isNoSuchKey(e)) return null;
      throw e;
    }
  }

  async readVersioned(key: string): Promise<Versioned | null> {
    const full = this.fullKey(key);
    const listed = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: full, MaxKeys: 1 }));
    if (!listed.Contents?.some((o) => o.Key === full)) return null;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: full }));
      return { bytes: await r.Body!.transformToByteArray(), etag: stripEtag(r.ETag ?? '') };
    } catch (e) {
      if (isNoSuchKey(e)) return null;
      throw e;
    }
  }

  async putIfMatch(key: string, bytes: Uint8Array, ifEtag: string | null): Promise<boolean> {
    const cond = ifEtag === null ? { IfNoneMatch: '*' } : { IfMatch: quoteEtag(ifEtag) };
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key), Body: bytes, ...cond }));
      return true;
    } catch (e) {
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      // 412: the version changed; 409: a concurrent conditional write won (S3 ConditionalRequestConflict).
      const status = err.$metadata?.httpStatusCode;
      if (status === 412 || status === 409 || err.name === 'PreconditionFailed') return false;
      if (ifEtag !== null && isNoSuchKey(e)) return false;
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
    // Its cached copies go with it: nothing reads a deleted object, and a warm compaction Lambda
    // would otherwise keep every file it replaced in /tmp until the disk is full.
    await this.dropVersions(this.cachePathOf({ key, size: 0, etag: '' }), true);
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${this.fullKey(key)}`;
  }

  fullKey(key: string): string {
    return this.prefix + this.safeKey(key);
  }

  private safeKey(key: string): string {
    if (key.split('/').some((s) => s === '..' || s === '.') || key.startsWith('/')) throw new Error(`key escapes the store: ${key}`);
    return key;
  }

  /** Older cached versions of the same object (other ETags) are dead weight in /tmp. */
  private async dropStaleVersions(dest: string): Promise<void> {
    await this.dropVersions(dest, false);
  }

  /** The cached copies of `dest`'s object under any ETag, `dest` itself only when `all`. */
  private async dropVersions(dest: string, all: boolean): Promise<void> {
    const dir = path.dirname(dest);
    const base = path.basename(dest);
    const stem = base.replace(/\.[0-9a-f]{16}(\.[^.]*)?$/, '');
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      if ((all || name !== base) && name.startsWith(stem + '.') && /\.[0-9a-f]{16}(\.[^.]*)?$/.test(name) && name.replace(/\.[0-9a-f]{16}(\.[^.]*)?$/, '') === stem) {
        await fs.rm(path.join(dir, name), { force: true });
      }
    }
  }
}

export function stripEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function quoteEtag(etag: string): string {
  return `"${stripEtag(etag)}"`;
}

export function isNoSuchKey(e: unknown): boolean {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === 'NoSuchKey' || err?.Code === 'NoSuchKey' || (err?.name === 'NotFound' && err.$metadata?.httpStatusCode === 404);
}
