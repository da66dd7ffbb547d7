// The storage adapter: the core writes finished files and lists what exists; it never knows
// whether that is a local directory (the embedded default) or an S3 bucket.

export interface StoredObject {
  readonly key: string;
  readonly size: number;
  /** Changes whenever the content does (S3 ETag, or size+mtime locally). */
  readonly etag: string;
}

export interface Store {
  /** Publishes a finished local file under `key`, atomically: readers see all of it or nothing. */
  putFile(key: string, localPath: string): Promise<void>;
  list(prefix: string): Promise<StoredObject[]>;
  /** A local path DuckDB can read for `key` (the file itself locally; a cached copy for S3). */
  localPath(obj: StoredObject): Promise<string>;
  delete(key: string): Promise<void>;
  /** The bytes of a small object (manifests), or null when there is none. */
  read(key: string): Promise<Uint8Array | null>;
  /** A directory on the same filesystem as the store's files, for staging writes. */
  readonly scratchDir: string;
}
