// A store that counts what each call would cost as S3 requests, made the way S3Store makes them
// (lib/aws/s3-store.ts): the fleet simulator (bench/fleet.ts) and the compaction fan-out bench
// (bench/compact-fanout.ts) count GETs and PUTs through it.
import { statSync } from 'node:fs';
import type { LocalStore } from '../lib/store/local';
import type { Store, StoredObject, Versioned } from '../lib/store/store';

/** A store that counts what each call would cost as S3 requests (S3Store's own request pattern). */
export class CountingStore implements Store {
  readonly counts = { LIST: 0, GET: 0, PUT: 0, DELETE: 0, bytesGot: 0, bytesPut: 0 };
  constructor(private readonly inner: LocalStore) {}
  get scratchDir(): string {
    return this.inner.scratchDir;
  }
  async putFile(key: string, localPath: string): Promise<void> {
    this.counts.PUT++;
    this.counts.bytesPut += statSync(localPath).size;
    return this.inner.putFile(key, localPath);
  }
  async list(prefix: string): Promise<StoredObject[]> {
    const r = await this.inner.list(prefix);
    this.counts.LIST += Math.max(1, Math.ceil(r.length / 1000)); // ListObjectsV2 pages of 1,000
    return r;
  }
  async localPath(obj: StoredObject): Promise<string> {
    this.counts.GET++;
    this.counts.bytesGot += obj.size;
    return this.inner.localPath(obj);
  }
  async delete(key: string): Promise<void> {
    this.counts.DELETE++;
    return this.inner.delete(key);
  }
  async readVersioned(key: string): Promise<Versioned | null> {
    this.counts.LIST++;
    const r = await this.inner.readVersioned(key);
    if (r) this.counts.GET++;
    return r;
  }
  async putIfMatch(key: string, bytes: Uint8Array, ifEtag: string | null): Promise<boolean> {
    this.counts.PUT++;
    this.counts.bytesPut += bytes.length;
    return this.inner.putIfMatch(key, bytes, ifEtag);
  }
  uri(key: string): string {
    return this.inner.uri(key);
  }
  async read(key: string): Promise<Uint8Array | null> {
    // S3Store.read: a LIST (so a prefix-scoped role sees 404, not 403), then a GET when present.
    this.counts.LIST++;
    const r = await this.inner.read(key);
    if (r) this.counts.GET++;
    return r;
  }
}

