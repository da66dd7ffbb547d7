// The storage adapter: the core writes finished files and lists what exists; it never knows
// whether that is a local directory (the embedded default) or an S3 bucket.

export interface StoredObject {
  readonly key: string;
  readonly size: number;
  /** Changes whenever the content does (S3 ETag, or size+mtime locally). */
  readonly etag: string;
}

export interface Versioned {
  readonly bytes: Uint8Array;
  readonly etag: string;
}

export interface Store {
  /** Publishes a finished local file under `key`, atomically: readers see all of it or nothing. */
  putFile(key: string, localPath: string): Promise<void>;
  /**
   * The objects under `prefix`, by key. `keysOnly`: the caller uses the keys (and localPath) only,
   * so a local store skips its stat per file (size 0, etag ''); S3's listing carries both anyway.
   */
  list(prefix: string, opts?: { keysOnly?: boolean }): Promise<StoredObject[]>;
  /** A local path DuckDB can read for `key` (the file itself locally; a cached copy for S3). */
  localPath(obj: StoredObject): Promise<string>;
  /**
   * Where localPath will put `obj`, without fetching it (S3: the cache path). Stores that copy
   * files (S3) have it, so a reader can list a window and download only the files it reads.
   */
  plannedPath?(obj: StoredObject): string;
  /** Drops the local copy localPath made of `obj` (S3: the download cache), if any; the object stays. */
  forget?(obj: StoredObject): Promise<void>;
  delete(key: string): Promise<void>;
  /** The bytes of a small object (manifests), or null when there is none. */
  read(key: string): Promise<Uint8Array | null>;
  /** A small object with its version tag (for putIfMatch), or null when there is none. */
  readVersioned(key: string): Promise<Versioned | null>;
  /**
   * Compare-and-swap of a small object: writes `bytes` only if the object's version is still
   * `ifEtag` (null: only if there is none yet). false when another writer got there first. S3:
   * a conditional PutObject (If-Match / If-None-Match: *); locally a lock file around the swap.
   */
  putIfMatch(key: string, bytes: Uint8Array, ifEtag: string | null): Promise<boolean>;
  /** The object's address for other engines (Athena's symlink manifests): s3://bucket/key, or file:///path. */
  uri(key: string): string;
  /** A directory on the same filesystem as the store's files, for staging writes. */
  readonly scratchDir: string;
}
